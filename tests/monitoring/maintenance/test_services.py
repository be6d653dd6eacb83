"""Maintenance services without a socket: which template fits a charger, how drift
is judged, how the chargers' notifications (as the OCPP edge stores them) move
firmware updates and uploads along, and who may start what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.chargers.exceptions import CommandInvalid
from apps.chargers.models import ChargerEvent, CommandLog
from apps.monitoring.models import (
    ChargerConfiguration,
    ConfigurationDrift,
    ConfigurationTemplate,
    DiagnosticsRequest,
    FirmwareCampaign,
    FirmwareUpdate,
)
from apps.monitoring.services import configuration, diagnostics, firmware
from apps.sites.exceptions import Forbidden, NotFound
from apps.sites.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db


def _template(org, *, vendor="", model="", version="1.6", **keys: str) -> ConfigurationTemplate:
    template = ConfigurationTemplate.objects.create(
        organization=org,
        name=f"{vendor} {model} {version}",
        vendor=vendor,
        model=model,
        ocpp_version=version,
    )
    for key, value in keys.items():
        template.keys.create(key=key, value=value)
    return template


def _reading(charger, values: dict, *, keys: list[str] | None = None, at=None):
    return ChargerConfiguration.objects.create(
        charger=charger,
        source=ChargerConfiguration.Source.GET_CONFIGURATION,
        values=values,
        requested_keys=keys or [],
        requested_at=at or timezone.now(),
    )


def _user(org, role=Membership.Role.PROPERTY_MANAGER, name="someone"):
    user = factories.UserFactory(username=name)
    factories.MembershipFactory(user=user, organization=org, role=role)
    return user


# --- templates and drift --------------------------------------------------------------


def test_template_for_prefers_the_most_specific_of_the_organization():
    charger = factories.ChargerFactory(vendor="ABB", model="Terra AC")
    org = charger.zone.property.organization
    assert configuration.configuration_template_for(charger=charger) is None
    any_model = _template(org)
    assert configuration.configuration_template_for(charger=charger) == any_model
    vendor = _template(org, vendor="abb")
    assert configuration.configuration_template_for(charger=charger) == vendor
    exact = _template(org, vendor="ABB", model="Terra AC")
    assert configuration.configuration_template_for(charger=charger) == exact
    # Another model, another version, another organization, disabled: never.
    _template(org, vendor="ABB", model="Terra DC", version="1.6")
    _template(factories.OrganizationFactory(), vendor="ABB", model="Terra AC")
    assert configuration.configuration_template_for(charger=charger) == exact
    exact.is_enabled = False
    exact.save()
    assert configuration.configuration_template_for(charger=charger) == vendor
    charger.ocpp_version = "2.0.1"
    assert configuration.configuration_template_for(charger=charger) is None


def test_drift_compares_values_leniently_and_reports_missing_keys():
    charger = factories.ChargerFactory()
    _template(
        charger.zone.property.organization,
        HeartbeatInterval="300",
        LocalAuthListEnabled="true",
        MeterValuesSampledData="Energy.Active.Import.Register, SoC",
        ConnectionTimeOut="60",
    )
    _reading(
        charger,
        {
            "HeartbeatInterval": " 300 ",
            "LocalAuthListEnabled": "True",
            "MeterValuesSampledData": "Energy.Active.Import.Register,SoC",
        },
    )
    drift = configuration.charger_configuration_drift_evaluate(charger=charger, now=timezone.now())
    assert drift is not None and drift.is_drifted
    # A full reading without the key: the charger does not have it.
    assert drift.differences == [{"key": "ConnectionTimeOut", "expected": "60", "reported": None}]


def test_drift_takes_each_key_from_the_latest_reading_that_has_it():
    charger = factories.ChargerFactory()
    _template(charger.zone.property.organization, HeartbeatInterval="120", ConnectionTimeOut="60")
    now = timezone.now()
    _reading(
        charger,
        {"HeartbeatInterval": "300", "ConnectionTimeOut": "60"},
        at=now - timedelta(hours=1),
    )
    _reading(charger, {"HeartbeatInterval": "120"}, keys=["HeartbeatInterval"], at=now)
    drift = configuration.charger_configuration_drift_evaluate(charger=charger, now=now)
    assert drift is not None and not drift.is_drifted and drift.drifted_since is None


def test_drift_since_is_kept_while_drifted_and_row_goes_without_template():
    charger = factories.ChargerFactory()
    template = _template(charger.zone.property.organization, HeartbeatInterval="120")
    _reading(charger, {"HeartbeatInterval": "300"})
    t0 = timezone.now()
    first = configuration.charger_configuration_drift_evaluate(charger=charger, now=t0)
    later = configuration.charger_configuration_drift_evaluate(
        charger=charger, now=t0 + timedelta(hours=2)
    )
    assert first.drifted_since == later.drifted_since == t0
    assert later.checked_at == t0 + timedelta(hours=2)
    template.delete()
    assert configuration.charger_configuration_drift_evaluate(charger=charger, now=t0) is None
    assert not ConfigurationDrift.objects.filter(charger=charger).exists()


def test_configuration_change_refuses_the_password_and_bad_201_keys():
    charger = factories.ChargerFactory()
    with pytest.raises(CommandInvalid, match="rotating"):
        configuration.charger_configuration_change(
            charger=charger, key="AuthorizationKey", value="x" * 20
        )
    charger.ocpp_version = "2.0.1"
    with pytest.raises(CommandInvalid, match="Component.Variable"):
        configuration.charger_configuration_change(
            charger=charger, key="HeartbeatInterval", value="60"
        )
    assert not CommandLog.objects.exists()


def test_configuration_read_checks_the_user_first():
    charger = factories.ChargerFactory()
    org = charger.zone.property.organization
    stranger = _user(factories.OrganizationFactory(), name="stranger")
    viewer = _user(org, Membership.Role.VIEWER, name="viewer")
    with pytest.raises(NotFound):
        configuration.charger_configuration_read(charger=charger, issued_by=stranger)
    with pytest.raises(Forbidden):
        configuration.charger_configuration_read(charger=charger, issued_by=viewer)
    assert not CommandLog.objects.exists()


# Commands go through database_sync_to_async, which closes the thread's connection:
# a real transaction, not the test's wrapping one (PostgreSQL would lose it).
@pytest.mark.django_db(transaction=True)
def test_template_apply_reports_chargers_without_a_template_and_offline_ones():
    charger = factories.ChargerFactory()
    [result] = configuration.configuration_template_apply(chargers=[charger])
    assert "No configuration template fits" in result.error
    _template(charger.zone.property.organization, HeartbeatInterval="120", ConnectionTimeOut="30")
    [result] = configuration.configuration_template_apply(chargers=[charger])
    # Offline: the first key says so, the rest are not sent.
    assert [(c.key, c.status, c.detail) for c in result.changes] == [
        (
            "HeartbeatInterval",
            "Offline",
            f"Charger {charger.charge_point_id} is offline: the command was not sent.",
        ),
        ("ConnectionTimeOut", "Offline", "not sent"),
    ]


def test_base_report_parts_wait_for_the_last_one_and_expire():
    charger = factories.ChargerFactory(ocpp_version="2.0.1")
    now = timezone.now()
    pending = ChargerConfiguration.objects.create(
        charger=charger,
        source=ChargerConfiguration.Source.BASE_REPORT,
        status=ChargerConfiguration.Status.PENDING,
        report_request_id=7,
        requested_at=now,
    )

    def part(seq: int, tbc: bool, name: str, value: str, request_id: int = 7) -> None:
        ChargerEvent.objects.create(
            charger=charger,
            kind=ChargerEvent.Kind.NOTIFY_REPORT,
            payload={
                "requestId": request_id,
                "seqNo": seq,
                "tbc": tbc,
                "generatedAt": now.isoformat(),
                "reportData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": name, "instance": "x" if name == "Inst" else None},
                        "variableAttribute": [
                            {"type": "Target", "value": "ignored"},
                            {"type": "Actual", "value": value, "mutability": "ReadOnly"},
                        ],
                    }
                ],
            },
        )

    part(1, False, "B", "2")
    part(0, True, "A", "1", request_id=8)  # another report's part
    assert configuration.configuration_reports_collect(now=now) == []
    part(0, True, "Inst", "1")
    [done] = configuration.configuration_reports_collect(now=now)
    assert done.pk == pending.pk
    done.refresh_from_db()
    assert done.values == {"OCPPCommCtrlr.B": "2", "OCPPCommCtrlr.Inst[x]": "1"}
    assert done.readonly_keys == ["OCPPCommCtrlr.B", "OCPPCommCtrlr.Inst[x]"]

    stale = ChargerConfiguration.objects.create(
        charger=charger,
        source=ChargerConfiguration.Source.BASE_REPORT,
        status=ChargerConfiguration.Status.PENDING,
        report_request_id=99,
        requested_at=now - timedelta(hours=1),
    )
    configuration.configuration_reports_collect(now=now)
    assert not ChargerConfiguration.objects.filter(pk=stale.pk).exists()


# --- firmware --------------------------------------------------------------------------


def _campaign(chargers, **extra):
    org = chargers[0].zone.property.organization
    return firmware.firmware_campaign_create(
        organization=org,
        name="Spring",
        firmware_url="https://fw.example.com/x.bin",
        retrieve_at=timezone.now(),
        chargers=chargers,
        **extra,
    )


def test_campaign_create_checks_organization_and_role():
    charger = factories.ChargerFactory()
    org = charger.zone.property.organization
    other = factories.ChargerFactory()
    with pytest.raises(NotFound):
        _campaign([charger, other])
    with pytest.raises(Forbidden):
        _campaign([charger], created_by=_user(org, Membership.Role.VIEWER, name="v"))
    with pytest.raises(NotFound):
        _campaign([charger], created_by=_user(other.zone.property.organization, name="o"))
    assert not FirmwareCampaign.objects.exists()
    campaign = _campaign([charger], created_by=_user(org, name="m"))
    assert campaign.updates.get().status == FirmwareUpdate.Status.PENDING


def test_dispatch_leaves_offline_chargers_for_later_without_spending_attempts():
    charger = factories.ChargerFactory()
    campaign = _campaign([charger])
    now = timezone.now()
    assert firmware.firmware_updates_dispatch(now=now) == 0
    update = campaign.updates.get()
    assert update.status == FirmwareUpdate.Status.PENDING
    assert update.send_attempts == 0
    assert update.next_attempt_at == now + firmware.RETRY_AFTER
    # Not due yet: not looked at again.
    update.detail = "untouched"
    update.save()
    firmware.firmware_updates_dispatch(now=now + timedelta(minutes=1))
    update.refresh_from_db()
    assert update.detail == "untouched"


def _firmware_event(charger, status, request_id=None, at=None):
    payload = {"status": status}
    if request_id is not None:
        payload["requestId"] = request_id
    event = ChargerEvent.objects.create(
        charger=charger, kind=ChargerEvent.Kind.FIRMWARE_STATUS, payload=payload
    )
    if at is not None:
        ChargerEvent.objects.filter(pk=event.pk).update(received_at=at)
    return event


def test_progress_follows_notifications_and_stops_at_a_failure():
    a, b = factories.ChargerFactory(), factories.ChargerFactory()
    b.zone = a.zone
    b.save()
    campaign = _campaign([a, b])
    sent = timezone.now() - timedelta(minutes=5)
    log = CommandLog.objects.create(charger=b, command="update-firmware", source="task")
    campaign.updates.update(status=FirmwareUpdate.Status.SENT, sent_at=sent)
    campaign.updates.filter(charger=b).update(command=log)
    # Before the update was sent: not about it.
    _firmware_event(a, "Installed", at=sent - timedelta(minutes=1))
    _firmware_event(a, "Downloading")
    _firmware_event(a, "DownloadFailed")
    _firmware_event(a, "Installed")  # after a failure: a later story
    _firmware_event(b, "Installed", request_id=log.pk + 1000)  # another request
    _firmware_event(b, "Downloaded", request_id=log.pk)
    assert firmware.firmware_progress_sync(now=timezone.now()) == 2
    ua, ub = campaign.updates.get(charger=a), campaign.updates.get(charger=b)
    assert (ua.status, ua.ocpp_status) == ("failed", "DownloadFailed")
    assert "DownloadFailed" in ua.detail
    assert (ub.status, ub.ocpp_status) == ("downloaded", "Downloaded")
    summary = firmware.firmware_campaign_summary(campaign=campaign)
    assert (summary.failed, summary.in_progress, summary.installed) == (1, 1, 0)
    assert str(summary) == "0 installed, 1 failed, 1 in progress, 0 waiting to be sent"


def test_cancel_fails_what_was_not_sent():
    charger = factories.ChargerFactory()
    campaign = _campaign([charger])
    assert firmware.firmware_campaign_cancel(campaign=campaign, now=timezone.now()) == 1
    campaign.refresh_from_db()
    assert campaign.status == FirmwareCampaign.Status.CANCELLED
    assert campaign.updates.get().status == FirmwareUpdate.Status.FAILED


# --- diagnostics -----------------------------------------------------------------------


def test_request_checks_the_user_before_making_a_link():
    charger = factories.ChargerFactory()
    viewer = _user(charger.zone.property.organization, Membership.Role.VIEWER, name="v")
    with pytest.raises(Forbidden):
        diagnostics.diagnostics_request(charger=charger, issued_by=viewer)
    with pytest.raises(NotFound):
        diagnostics.diagnostics_request(
            charger=charger, issued_by=_user(factories.OrganizationFactory(), name="o")
        )
    assert not DiagnosticsRequest.objects.exists()


def test_upload_url_is_absolute_and_token_only_stored_hashed(settings):
    settings.PUBLIC_BASE_URL = "https://cms.example.com/"
    charger = factories.ChargerFactory()
    request, token = diagnostics._request_create(
        charger=charger, requested_by=None, now=timezone.now()
    )
    assert (
        diagnostics.upload_url(token=token)
        == f"https://cms.example.com/maintenance/uploads/{token}/"
    )
    assert token not in request.token_hash and len(request.token_hash) == 64
    _, other = diagnostics._request_create(charger=charger, requested_by=None, now=timezone.now())
    assert other != token


def test_upload_stores_under_a_safe_name_once(settings, tmp_path):
    settings.DIAGNOSTICS_UPLOAD_DIR = tmp_path
    settings.DIAGNOSTICS_UPLOAD_MAX_BYTES = 10
    charger = factories.ChargerFactory()
    request, token = diagnostics._request_create(
        charger=charger, requested_by=None, now=timezone.now()
    )
    with pytest.raises(diagnostics.UploadTooLarge):
        diagnostics.diagnostics_upload_receive(
            token=token, file_name="x.log", chunks=[b"123456", b"789012"]
        )
    assert not any(p.is_file() for p in tmp_path.rglob("*"))
    stored = diagnostics.diagnostics_upload_receive(
        token=token, file_name="..\\..\\evil name?.log", chunks=[b"12345", b"678"]
    )
    assert stored.file_name == "evil_name.log"
    assert (tmp_path / stored.file_path).read_bytes() == b"12345678"
    assert stored.file_size == 8 and stored.token_used_at is not None
    with pytest.raises(diagnostics.UploadRefused):
        diagnostics.diagnostics_upload_receive(token=token, file_name="x", chunks=[b"1"])
    with pytest.raises(diagnostics.UploadRefused):
        diagnostics.diagnostics_upload_receive(token="nope", file_name="x", chunks=[b"1"])


def _upload_event(charger, status, request_id=None):
    payload = {"status": status}
    if request_id is not None:
        payload["requestId"] = request_id
    return ChargerEvent.objects.create(
        charger=charger, kind=ChargerEvent.Kind.DIAGNOSTICS_STATUS, payload=payload
    )


def test_upload_progress_from_notifications():
    charger = factories.ChargerFactory()
    older, _ = diagnostics._request_create(
        charger=charger, requested_by=None, now=timezone.now() - timedelta(minutes=3)
    )
    newer, _ = diagnostics._request_create(charger=charger, requested_by=None, now=timezone.now())
    log = CommandLog.objects.create(charger=charger, command="get-diagnostics", source="task")
    DiagnosticsRequest.objects.filter(pk=older.pk).update(command=log)
    # 2.0.1: by request id; 1.6: the latest request made before the notification.
    _upload_event(charger, "UploadFailure", request_id=log.pk)
    _upload_event(charger, "Uploading")
    assert diagnostics.diagnostics_progress_sync(now=timezone.now()) == 2
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.status, older.ocpp_status) == ("failed", "UploadFailure")
    assert (newer.status, newer.ocpp_status) == ("uploading", "Uploading")
    _upload_event(charger, "Uploaded")
    diagnostics.diagnostics_progress_sync(now=timezone.now())
    newer.refresh_from_db()
    # The charger says done, but only a stored file makes it "uploaded".
    assert newer.status == "uploading" and "no file has arrived" in newer.detail


def test_old_readings_are_pruned_but_each_chargers_latest_kept():
    now = timezone.now()
    old = now - configuration.READINGS_KEPT - timedelta(days=1)
    quiet, busy = factories.ChargerFactory(), factories.ChargerFactory()
    only = _reading(quiet, {"A": "1"}, at=old)
    gone = _reading(busy, {"A": "1"}, at=old)
    recent = _reading(busy, {"A": "2"}, at=now)
    assert configuration.configuration_readings_prune(now=now) == 1
    assert set(ChargerConfiguration.objects.values_list("pk", flat=True)) == {only.pk, recent.pk}
    assert not ChargerConfiguration.objects.filter(pk=gone.pk).exists()


def test_update_without_news_for_a_day_fails():
    charger = factories.ChargerFactory()
    campaign = _campaign([charger])
    now = timezone.now()
    campaign.updates.update(
        status=FirmwareUpdate.Status.SENT, sent_at=now - firmware.SILENCE_LIMIT + timedelta(hours=1)
    )
    assert firmware.firmware_progress_sync(now=now) == 0
    assert firmware.firmware_progress_sync(now=now + timedelta(hours=2)) == 1
    update = campaign.updates.get()
    assert update.status == FirmwareUpdate.Status.FAILED
    assert update.detail == "No progress reported for 24 hours."


def test_late_notification_of_a_finished_request_does_not_land_on_an_older_one(settings, tmp_path):
    settings.DIAGNOSTICS_UPLOAD_DIR = tmp_path
    charger = factories.ChargerFactory()
    silent, _ = diagnostics._request_create(
        charger=charger, requested_by=None, now=timezone.now() - timedelta(minutes=5)
    )
    done, token = diagnostics._request_create(
        charger=charger, requested_by=None, now=timezone.now()
    )
    diagnostics.diagnostics_upload_receive(token=token, file_name="d.log", chunks=[b"ok"])
    _upload_event(charger, "Uploaded")  # 1.6: no request id; it is about `done`
    assert diagnostics.diagnostics_progress_sync(now=timezone.now()) == 0
    silent.refresh_from_db()
    assert (silent.status, silent.detail) == ("requested", "")
    # Running again changes nothing either.
    assert diagnostics.diagnostics_progress_sync(now=timezone.now()) == 0


@pytest.mark.django_db(transaction=True)
def test_request_many_keeps_order_and_reports_each():
    mine = factories.ChargerFactory()
    manager = _user(mine.zone.property.organization, name="many")
    theirs = factories.ChargerFactory()
    asked, refused = diagnostics.diagnostics_request_many(
        chargers=[mine, theirs], issued_by=manager, source=CommandLog.Source.ADMIN
    )
    assert isinstance(asked, DiagnosticsRequest)
    assert asked.status == DiagnosticsRequest.Status.FAILED and "offline" in asked.detail
    assert asked.requested_by == manager
    assert isinstance(refused, NotFound)
    assert DiagnosticsRequest.objects.get().charger == mine


def test_files_past_retention_are_deleted_and_the_request_kept(settings, tmp_path):
    settings.DIAGNOSTICS_UPLOAD_DIR = tmp_path
    settings.DIAGNOSTICS_UPLOAD_RETENTION_DAYS = 30
    charger = factories.ChargerFactory()
    request, token = diagnostics._request_create(
        charger=charger, requested_by=None, now=timezone.now()
    )
    stored = diagnostics.diagnostics_upload_receive(token=token, file_name="o.log", chunks=[b"o"])
    path = tmp_path / stored.file_path
    assert diagnostics.diagnostics_files_prune(now=timezone.now() + timedelta(days=29)) == 0
    assert path.is_file()
    assert diagnostics.diagnostics_housekeeping(now=timezone.now() + timedelta(days=31)) == 1
    request.refresh_from_db()
    assert request.status == DiagnosticsRequest.Status.DELETED
    assert not path.exists()
