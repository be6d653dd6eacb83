"""The maintenance admin pages through Django's test client: templates and their
keys (validated, drift judged again on save), the drifted filter, campaigns added
from the admin, cancelling, and the diagnostics list's download links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.monitoring.models import (
    ChargerConfiguration,
    ConfigurationDrift,
    ConfigurationTemplate,
    FirmwareCampaign,
    FirmwareUpdate,
)
from apps.monitoring.services import configuration, diagnostics
from tests import factories

pytestmark = pytest.mark.django_db


def _template_post(org, version: str, keys: list[tuple[str, str]], **extra) -> dict:
    data = {
        "organization": org.pk,
        "name": "Fleet depot",
        "vendor": "",
        "model": "",
        "ocpp_version": version,
        "is_enabled": "on",
        "keys-TOTAL_FORMS": str(len(keys)),
        "keys-INITIAL_FORMS": "0",
        "keys-MIN_NUM_FORMS": "0",
        "keys-MAX_NUM_FORMS": "1000",
        **extra,
    }
    for i, (key, value) in enumerate(keys):
        data[f"keys-{i}-key"] = key
        data[f"keys-{i}-value"] = value
    return data


def test_template_keys_are_validated(client, manager_a, org_a):
    client.force_login(manager_a)
    url = reverse("admin:monitoring_configurationtemplate_add")
    response = client.post(url, _template_post(org_a, "2.0.1", [("HeartbeatInterval", "60")]))
    assert response.status_code == 200
    assert "Component.Variable" in response.content.decode()
    response = client.post(url, _template_post(org_a, "1.6", [("AuthorizationKey", "x" * 20)]))
    assert response.status_code == 200
    assert "rotated from the charger page" in response.content.decode()
    assert not ConfigurationTemplate.objects.exists()
    response = client.post(
        url, _template_post(org_a, "2.0.1", [("OCPPCommCtrlr.HeartbeatInterval", "60")])
    )
    assert response.status_code == 302
    template = ConfigurationTemplate.objects.get()
    assert list(template.keys.values_list("key", "value")) == [
        ("OCPPCommCtrlr.HeartbeatInterval", "60")
    ]


def test_saving_a_template_judges_drift_again(client, manager_a, org_a):
    charger = factories.ChargerFactory(zone__property__organization=org_a)
    ChargerConfiguration.objects.create(
        charger=charger,
        source=ChargerConfiguration.Source.GET_CONFIGURATION,
        values={"HeartbeatInterval": "300"},
        requested_at=timezone.now(),
    )
    client.force_login(manager_a)
    response = client.post(
        reverse("admin:monitoring_configurationtemplate_add"),
        _template_post(org_a, "1.6", [("HeartbeatInterval", "120")]),
    )
    assert response.status_code == 302
    drift = ConfigurationDrift.objects.get(charger=charger)
    assert drift.is_drifted
    assert drift.differences == [{"key": "HeartbeatInterval", "expected": "120", "reported": "300"}]


def test_drifted_filter_and_differences_page(client, manager_a, org_a):
    drifted = factories.ChargerFactory(zone__property__organization=org_a, charge_point_id="DRIFT")
    fine = factories.ChargerFactory(zone__property__organization=org_a, charge_point_id="FINE")
    template = ConfigurationTemplate.objects.create(organization=org_a, name="T")
    template.keys.create(key="HeartbeatInterval", value="120")
    for charger, value in ((drifted, "300"), (fine, "120")):
        ChargerConfiguration.objects.create(
            charger=charger,
            source=ChargerConfiguration.Source.GET_CONFIGURATION,
            values={"HeartbeatInterval": value},
            requested_at=timezone.now(),
        )
        configuration.charger_configuration_drift_evaluate(charger=charger, now=timezone.now())
    client.force_login(manager_a)
    changelist = reverse("admin:monitoring_configurationdrift_changelist")
    shown = list(client.get(changelist + "?drifted=yes").context["cl"].result_list)
    assert [d.charger for d in shown] == [drifted]
    shown = list(client.get(changelist + "?drifted=no").context["cl"].result_list)
    assert [d.charger for d in shown] == [fine]
    chargers = reverse("admin:chargers_charger_changelist")
    shown = list(client.get(chargers + "?drifted=yes").context["cl"].result_list)
    assert shown == [drifted]
    shown = list(client.get(chargers + "?drifted=no").context["cl"].result_list)
    assert shown == [fine]
    row = ConfigurationDrift.objects.get(charger=drifted)
    page = client.get(reverse("admin:monitoring_configurationdrift_change", args=[row.pk]))
    html = page.content.decode()
    assert "<td>HeartbeatInterval</td><td>120</td><td>300</td>" in html


def test_campaign_added_in_the_admin_offers_own_chargers_and_waits_for_offline(
    client, manager_a, org_a, org_b
):
    own = factories.ChargerFactory(zone__property__organization=org_a, charge_point_id="OWN")
    theirs = factories.ChargerFactory(zone__property__organization=org_b)
    client.force_login(manager_a)
    url = reverse("admin:monitoring_firmwarecampaign_add")
    form = client.get(url).context["adminform"].form
    assert list(form.fields["chargers"].queryset) == [own]
    data = {
        "organization": org_a.pk,
        "name": "Winter",
        "firmware_url": "https://fw.example.com/w.bin",
        "retrieve_at_0": timezone.now().strftime("%Y-%m-%d"),
        "retrieve_at_1": "08:00:00",
        "max_send_attempts": "5",
        "chargers": [own.pk, theirs.pk],
    }
    response = client.post(url, data)
    assert response.status_code == 200  # B's charger is not a choice
    assert not FirmwareCampaign.objects.exists()
    data["chargers"] = [own.pk]
    response = client.post(url, data)
    assert response.status_code == 302
    campaign = FirmwareCampaign.objects.get()
    assert campaign.created_by == manager_a
    update = FirmwareUpdate.objects.get(campaign=campaign)
    assert update.status == FirmwareUpdate.Status.PENDING and "offline" in update.detail
    page = client.get(reverse("admin:monitoring_firmwarecampaign_change", args=[campaign.pk]))
    assert "0 installed, 0 failed, 0 in progress, 1 waiting to be sent" in page.content.decode()

    response = client.post(
        reverse("admin:monitoring_firmwarecampaign_changelist"),
        {"action": "cancel_campaigns", "_selected_action": [campaign.pk]},
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == FirmwareCampaign.Status.CANCELLED


def test_diagnostics_list_links_uploaded_files(client, manager_a, org_a, settings, tmp_path):
    settings.DIAGNOSTICS_UPLOAD_DIR = tmp_path
    charger = factories.ChargerFactory(zone__property__organization=org_a)
    request, token = diagnostics._request_create(
        charger=charger, requested_by=None, now=timezone.now()
    )
    waiting, _ = diagnostics._request_create(
        charger=charger, requested_by=None, now=timezone.now() + timedelta(seconds=1)
    )
    diagnostics.diagnostics_upload_receive(token=token, file_name="cp.log", chunks=[b"x" * 2048])
    client.force_login(manager_a)
    html = client.get(reverse("admin:monitoring_diagnosticsrequest_changelist")).content.decode()
    link = reverse("monitoring:diagnostics-download", args=[request.pk])
    assert f'<a href="{link}">cp.log</a>' in html
    assert "2.0 KiB" in html
    assert reverse("monitoring:diagnostics-download", args=[waiting.pk]) not in html
    # Not uploaded yet: nothing to download.
    assert (
        client.get(reverse("monitoring:diagnostics-download", args=[waiting.pk])).status_code == 404
    )
