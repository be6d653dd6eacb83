"""The chargers services the OCPP edge calls, without a socket: connection and
admission, boot, status, sessions (1.6 start/stop, 2.0.1 events) and metering."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.access.services import Decision
from apps.chargers import services
from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    Connector,
    IssuedTransactionId,
    MeterSample,
    StatusChange,
)
from apps.chargers.services import Refusal, Sample
from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-password-16"


@pytest.fixture
def charger():
    charger = factories.ChargerFactory(charge_point_id="CP-S")
    factories.AccessPolicyFactory(zone=charger.zone)
    return charger


@pytest.fixture
def token(charger):
    return factories.IdTokenFactory(organization=charger.zone.property.organization, uid="TAG")


def minutes_ago(n: float):
    return timezone.now().replace(microsecond=0) - timedelta(minutes=n)


# --- admission ------------------------------------------------------------------


def _admit(cp_id="CP-S", key=None, username=None, password=None):
    return services.charger_admit(
        charge_point_id=cp_id, onboarding_key=key, username=username, password=password
    )


def test_charger_admit_known_charger(charger):
    assert _admit().charger == charger


def test_charger_admit_checks_password_and_username(charger):
    services.charger_set_password(charger=charger, password=PASSWORD)
    assert _admit(username="CP-S", password=PASSWORD).charger == charger
    assert (
        _admit(username="CP-S", password="wrong-password-123456").refusal == Refusal.BAD_CREDENTIALS
    )
    assert _admit().refusal == Refusal.BAD_CREDENTIALS
    assert _admit(username="CP-X", password=PASSWORD).refusal == Refusal.BAD_CREDENTIALS
    refusals = ChargerEvent.objects.filter(charger=charger, kind=ChargerEvent.Kind.CONNECTION)
    assert refusals.count() == 3


def test_charger_admit_refuses_unknown_rejected_and_foreign_key(charger):
    assert _admit("NOPE").refusal == Refusal.UNKNOWN_CHARGER
    assert _admit("bad id with spaces").refusal == Refusal.UNKNOWN_CHARGER
    other = factories.PropertyFactory()
    assert _admit(key=other.onboarding_key).refusal == Refusal.WRONG_ONBOARDING_KEY
    assert _admit(key=charger.zone.property.onboarding_key).charger == charger
    Charger.objects.filter(pk=charger.pk).update(registration=Charger.Registration.REJECTED)
    assert _admit().refusal == Refusal.REJECTED


def test_charger_admit_onboards_unknown_charger_as_pending():
    zone = factories.ZoneFactory()
    prop = zone.property
    assert _admit("NEW", key=prop.onboarding_key).refusal == Refusal.UNKNOWN_CHARGER
    prop.accept_unknown_chargers, prop.onboarding_zone = True, zone
    prop.save()
    admission = _admit("NEW", key=prop.onboarding_key)
    assert admission.onboarded
    assert admission.charger.registration == Charger.Registration.PENDING
    assert admission.charger.zone == zone
    # Its second connection finds it registered (still pending).
    again = _admit("NEW", key=prop.onboarding_key)
    assert again.charger == admission.charger and not again.onboarded


# --- connection -----------------------------------------------------------------


def test_charger_connected_returns_the_channel_it_replaces(charger):
    now = timezone.now()
    assert (
        services.charger_connected(charger=charger, channel_name="a", ocpp_version="1.6", at=now)
        == ""
    )
    assert (
        services.charger_connected(charger=charger, channel_name="b", ocpp_version="1.6", at=now)
        == "a"
    )
    # The old socket closing does not take the charger offline.
    assert services.charger_disconnected(charger=charger, channel_name="a", at=now) is False
    charger.refresh_from_db()
    assert charger.online and charger.channel_name == "b"
    assert services.charger_disconnected(charger=charger, channel_name="b", at=now) is True
    charger.refresh_from_db()
    assert not charger.online and charger.disconnected_at == now


def test_charger_boot_answers_registration_and_interval(charger):
    result = services.charger_boot(
        charger=charger, vendor="V", model="M", firmware_version="1.2", ocpp_version="1.6"
    )
    assert (result.registration, result.heartbeat_interval_s) == ("accepted", 300)
    charger.refresh_from_db()
    assert (charger.vendor, charger.firmware_version, charger.ocpp_version) == ("V", "1.2", "1.6")
    Charger.objects.filter(pk=charger.pk).update(registration=Charger.Registration.PENDING)
    pending = services.charger_boot(charger=charger, vendor="V", model="M")
    assert (pending.registration, pending.heartbeat_interval_s) == ("pending", 60)


def test_connector_status_update_keeps_history_and_newest_status(charger):
    services.connector_status_update(
        charger=charger, connector_id=1, status="charging", at=minutes_ago(1)
    )
    services.connector_status_update(
        charger=charger, connector_id=1, status="available", at=minutes_ago(10)
    )
    services.connector_status_update(
        charger=charger, connector_id=0, status="faulted", at=minutes_ago(0)
    )
    assert Connector.objects.get(charger=charger).status == "charging"
    assert StatusChange.objects.filter(charger=charger).count() == 3
    assert StatusChange.objects.get(charger=charger, connector=None).status == "faulted"


# --- 1.6 sessions ---------------------------------------------------------------


def _start(charger, meter=1000, at=None, tag="TAG", connector=1):
    return services.session_start(
        charger=charger,
        connector_id=connector,
        id_tag=tag,
        meter_start_wh=meter,
        started_at=at or minutes_ago(30),
    )


def test_session_start_issues_ids_never_reused(charger, token):
    first = _start(charger).session
    assert first.id_token == token
    second = _start(charger, meter=2000, at=minutes_ago(10), connector=2).session
    assert int(second.ocpp_transaction_id) > int(first.ocpp_transaction_id)
    ChargingSession.objects.filter(pk=second.pk).delete()
    third = _start(charger, meter=3000, at=minutes_ago(5), connector=2).session
    assert int(third.ocpp_transaction_id) > int(second.ocpp_transaction_id)
    assert IssuedTransactionId.objects.count() == 3


def test_session_start_resent_returns_the_same_session(charger, token):
    at = minutes_ago(30)
    first = _start(charger, at=at)
    again = _start(charger, at=at)
    assert again.duplicate and again.session.pk == first.session.pk
    assert ChargingSession.objects.count() == 1


def test_session_start_with_invalid_tag_is_recorded(charger):
    result = _start(charger, tag="UNKNOWN")
    assert result.authorization.decision == Decision.INVALID
    assert result.session.pk and result.session.id_token is None


def test_session_start_refused_for_pending_charger(charger):
    Charger.objects.filter(pk=charger.pk).update(registration=Charger.Registration.PENDING)
    with pytest.raises(services.ChargerNotAccepted):
        _start(charger)
    assert not ChargingSession.objects.exists()


def test_session_start_on_connector_zero_is_refused(charger):
    with pytest.raises(ValueError, match="connector"):
        _start(charger, connector=0)


def test_session_start_closes_a_session_whose_stop_never_came(charger, token):
    old = _start(charger, meter=100, at=minutes_ago(60)).session
    new = _start(charger, meter=900, at=minutes_ago(10)).session
    old.refresh_from_db()
    assert old.state == ChargingSession.State.COMPLETED
    assert old.stop_reason == services.STOP_REASON_NO_STOP_RECEIVED
    assert old.meter_stop_wh is None and old.energy_wh is None  # never invented
    assert new.state == ChargingSession.State.ACTIVE
    # The lost stop arrives after all: it is applied.
    services.session_stop(
        charger=charger,
        transaction_id=old.ocpp_transaction_id,
        meter_stop_wh=800,
        stopped_at=minutes_ago(20),
    )
    old.refresh_from_db()
    assert old.energy_wh == 700


def test_session_stop_is_applied_once(charger, token):
    session = _start(charger, meter=1000).session
    end = [
        Sample(sampled_at=minutes_ago(1), value=Decimal(5000), context="Transaction.End", unit="Wh")
    ]
    kwargs = dict(
        charger=charger, transaction_id=session.ocpp_transaction_id, stopped_at=minutes_ago(1)
    )
    first = services.session_stop(meter_stop_wh=5000, samples=end, **kwargs)
    again = services.session_stop(meter_stop_wh=5000, samples=end, **kwargs)
    other = services.session_stop(meter_stop_wh=9000, **kwargs)
    assert not first.duplicate and again.duplicate and other.duplicate
    session.refresh_from_db()
    assert (session.meter_stop_wh, session.energy_wh) == (5000, 4000)
    assert MeterSample.objects.filter(session=session).count() == 1


def test_session_stop_of_another_chargers_transaction_is_not_applied(charger, token):
    session = _start(charger).session
    intruder = factories.ChargerFactory(zone=charger.zone)
    result = services.session_stop(
        charger=intruder,
        transaction_id=session.ocpp_transaction_id,
        meter_stop_wh=99_999,
        stopped_at=minutes_ago(1),
        id_tag="TAG",
    )
    assert result.session is None and result.authorization.accepted
    session.refresh_from_db()
    assert session.state == ChargingSession.State.ACTIVE


def test_session_stop_with_meter_below_start_leaves_energy_unknown(charger, token):
    session = _start(charger, meter=5000).session
    services.session_stop(
        charger=charger,
        transaction_id=session.ocpp_transaction_id,
        meter_stop_wh=10,
        stopped_at=minutes_ago(1),
        samples=[Sample(sampled_at=minutes_ago(1), value=Decimal(10), context="Transaction.End")],
    )
    session.refresh_from_db()
    assert (
        session.state == "completed" and session.meter_stop_wh is None and session.energy_wh is None
    )
    assert MeterSample.objects.get(session=session).value == Decimal(10)  # the reading is kept


# --- 2.0.1 sessions -------------------------------------------------------------


def _event(charger, kind, seq_no, tx="TX", at=None, **kwargs):
    return services.session_event(
        charger=charger,
        transaction_id=tx,
        kind=kind,
        seq_no=seq_no,
        at=at or minutes_ago(5),
        **kwargs,
    )


def test_session_event_lifecycle_and_duplicates(charger, token):
    begin = [
        Sample(
            sampled_at=minutes_ago(30),
            value=Decimal("10.5"),
            unit="kWh",
            context="Transaction.Begin",
        )
    ]
    end = [
        Sample(
            sampled_at=minutes_ago(1), value=Decimal("12000"), unit="Wh", context="Transaction.End"
        )
    ]
    started = _event(charger, "started", 0, at=minutes_ago(30), connector_id=1, samples=begin)
    assert started.authorization is None and started.session.meter_start_wh == 10_500
    updated = _event(
        charger, "updated", 1, at=minutes_ago(20), id_tag="TAG", charging_state="charging"
    )
    assert updated.authorization.accepted and updated.session.id_token == token
    ended = _event(
        charger, "ended", 2, at=minutes_ago(1), samples=end, stop_reason="ev_disconnected"
    )
    assert ended.session.energy_wh == 1_500
    again = _event(charger, "ended", 2, at=minutes_ago(1), samples=end)
    assert again.duplicate
    session = ChargingSession.objects.get()
    assert session.events.count() == 3 and session.energy_wh == 1_500
    assert MeterSample.objects.filter(session=session).count() == 2


def test_session_event_without_readings_never_invents_energy(charger):
    _event(charger, "started", 0, connector_id=1)
    result = _event(charger, "ended", 1, at=minutes_ago(1))
    session = result.session
    assert session.state == "completed" and session.meter_start_wh is None
    assert session.meter_stop_wh is None and session.energy_wh is None


def test_session_event_connector_from_the_only_one_or_none(charger):
    factories.ConnectorFactory(charger=charger, connector_id=1)
    assert _event(charger, "started", 0, tx="A").session.connector.connector_id == 1
    factories.ConnectorFactory(charger=charger, connector_id=2)
    assert _event(charger, "started", 0, tx="B").session.connector is None
    later = _event(charger, "updated", 1, tx="B", connector_id=2)
    assert later.session.connector.connector_id == 2


def test_session_event_refused_for_pending_charger(charger):
    Charger.objects.filter(pk=charger.pk).update(registration=Charger.Registration.PENDING)
    with pytest.raises(services.ChargerNotAccepted):
        _event(charger, "started", 0, connector_id=1)


# --- metering and events --------------------------------------------------------


def test_meter_samples_record_stores_each_reading_once(charger, token):
    session = _start(charger).session
    samples = [
        Sample(
            sampled_at=minutes_ago(9),
            value=Decimal(1),
            measurand="Current.Import",
            phase="L1",
            unit="A",
        ),
        Sample(
            sampled_at=minutes_ago(9),
            value=Decimal(2),
            measurand="Current.Import",
            phase="L2",
            unit="A",
        ),
        Sample(sampled_at=minutes_ago(9), value=Decimal("1e15"), measurand="Power.Active.Import"),
    ]
    kwargs = dict(charger=charger, connector_id=1, transaction_id=session.ocpp_transaction_id)
    services.meter_samples_record(samples=samples, **kwargs)
    services.meter_samples_record(samples=samples, **kwargs)  # resent
    stored = MeterSample.objects.filter(session=session)
    assert stored.count() == 2  # the out-of-range one dropped, nothing twice
    other = factories.ChargerFactory(zone=charger.zone)
    services.meter_samples_record(
        charger=other,
        connector_id=1,
        transaction_id=session.ocpp_transaction_id,
        samples=samples[:1],
    )
    assert MeterSample.objects.get(charger=other).session is None


def test_charger_data_transfer_kept_and_vendor_unknown(charger):
    status = services.charger_data_transfer(charger=charger, vendor_id="acme", data={"x": 1})
    assert status == services.DataTransferStatus.UNKNOWN_VENDOR
    assert ChargerEvent.objects.get(kind="data_transfer").payload["data"] == {"x": 1}


def test_session_stop_is_one_transaction(charger, token, monkeypatch):
    """A failure after the session was updated (here: storing its readings) leaves
    nothing half-written: the charger's retry finds the session as it was."""
    session = _start(charger, meter=1000).session

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services.sessions, "_record_samples", fail)
    with pytest.raises(RuntimeError):
        services.session_stop(
            charger=charger,
            transaction_id=session.ocpp_transaction_id,
            meter_stop_wh=2000,
            stopped_at=minutes_ago(1),
        )
    session.refresh_from_db()
    assert session.state == ChargingSession.State.ACTIVE and session.meter_stop_wh is None
