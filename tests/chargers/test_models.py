from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.chargers import credentials
from apps.chargers.models import ChargingSession
from apps.chargers.services import charger_create, charger_set_password
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("bad_id", ["has:colon", "has space", "a/b", "x" * 49, ""])
def test_charger_charge_point_id_rules(bad_id):
    charger = factories.ChargerFactory.build(charge_point_id=bad_id, zone=factories.ZoneFactory())
    with pytest.raises(ValidationError, match="charge_point_id"):
        charger.full_clean()


def test_charger_charge_point_id_is_unique():
    factories.ChargerFactory(charge_point_id="ELM-01")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ChargerFactory(charge_point_id="ELM-01")


def test_charger_max_power_must_be_positive_in_the_database():
    charger = factories.ChargerFactory()
    charger.max_power_w = 0
    with pytest.raises(IntegrityError), transaction.atomic():
        charger.save()


def test_connector_unique_per_charger_and_positive():
    connector = factories.ConnectorFactory(connector_id=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ConnectorFactory(charger=connector.charger, connector_id=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ConnectorFactory(charger=connector.charger, connector_id=0)
    factories.ConnectorFactory(charger=connector.charger, connector_id=2)


def test_session_energy_is_meter_stop_minus_start():
    session = factories.ChargingSessionFactory(meter_start_wh=12_345)
    assert ChargingSession.objects.get(pk=session.pk).energy_wh is None
    session.meter_stop_wh = 19_845
    session.stopped_at = session.started_at + dt.timedelta(hours=1)
    session.state = ChargingSession.State.COMPLETED
    session.save()
    assert ChargingSession.objects.get(pk=session.pk).energy_wh == 7_500


def test_session_one_active_per_connector():
    session = factories.ChargingSessionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ChargingSessionFactory(connector=session.connector)


def test_session_transaction_id_unique_per_charger():
    session = factories.ChargingSessionFactory(ocpp_transaction_id="42")
    other_connector = factories.ConnectorFactory(charger=session.charger, connector_id=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ChargingSessionFactory(connector=other_connector, ocpp_transaction_id="42")
    factories.ChargingSessionFactory(ocpp_transaction_id="42")  # another charger: fine


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"meter_stop_wh": 999, "state": "completed", "stopped_at": "later"}, "meter goes back"),
        ({"meter_stop_wh": 2_000, "state": "completed", "stopped_at": "earlier"}, "time goes back"),
        ({"meter_stop_wh": 2_000, "state": "completed", "stopped_at": None}, "completed, no stop"),
        ({"meter_stop_wh": 2_000, "state": "active", "stopped_at": "later"}, "active but stopped"),
    ],
)
def test_session_constraints_refuse_inconsistent_stops(changes, reason):
    session = factories.ChargingSessionFactory(meter_start_wh=1_000)
    offsets = {"later": dt.timedelta(hours=1), "earlier": -dt.timedelta(hours=1)}
    stopped = changes.pop("stopped_at")
    session.stopped_at = session.started_at + offsets[stopped] if stopped else None
    for field, value in changes.items():
        setattr(session, field, value)
    with pytest.raises(IntegrityError), transaction.atomic():
        session.save()


def test_meter_sample_keeps_decimal_precision():
    sample = factories.MeterSampleFactory(value="230.125", unit="V", measurand="Voltage")
    sample.refresh_from_db()
    assert str(sample.value.normalize()) == "230.125"


def test_charger_create_hashes_the_password():
    zone = factories.ZoneFactory()
    charger = charger_create(
        charge_point_id="ELM-02", zone=zone, max_power_w=11_000, password="s3cret-s3cret-s3cret"
    )
    assert charger.has_password
    assert "s3cret" not in charger.password_hash
    assert credentials.check_password("s3cret-s3cret-s3cret", charger.password_hash)
    assert not credentials.check_password("wrong-password-123", charger.password_hash)


def test_charger_set_password_replaces_the_old_one_at_once():
    charger = factories.ChargerFactory()
    charger_set_password(charger=charger, password="first-password-0001")
    charger_set_password(charger=charger, password="second-password-002")
    charger.refresh_from_db()
    assert not credentials.check_password("first-password-0001", charger.password_hash)
    assert credentials.check_password("second-password-002", charger.password_hash)
    charger_set_password(charger=charger, password=None)
    charger.refresh_from_db()
    assert not charger.has_password


def test_charger_online_follows_channel_name():
    charger = factories.ChargerFactory()
    assert not charger.online
    charger.channel_name = "specific.abc!def"
    charger.connected_at = timezone.now()
    assert charger.online
