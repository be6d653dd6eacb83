"""Uptime read from history written by the real charger services (the ones the OCPP
consumer calls): connects, disconnects, the presence sweep, status notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.chargers.models import Charger
from apps.chargers.services import connections
from apps.chargers.services.sessions import connector_status_update
from apps.monitoring.selectors.health import uptime_for_chargers
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 8, 3, 0, 0, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_uptime_from_what_the_connection_and_status_services_record() -> None:
    charger = factories.ChargerFactory(charge_point_id="REAL-1")
    Charger.objects.filter(pk=charger.pk).update(created_at=T0)
    charger.refresh_from_db()

    connections.charger_connected(charger=charger, channel_name="c1", ocpp_version="1.6", at=h(1))
    connector_status_update(charger=charger, connector_id=1, status="available", at=h(1))
    connections.charger_heartbeat(charger=charger, at=h(2))
    # Silent from 2:00; the sweep notices at 2:13 (grace 12 minutes).
    marked = connections.charger_presence_sweep(now=h(2) + timedelta(minutes=13), grace_s=720)
    assert [c.pk for c in marked] == [charger.pk]
    connections.charger_connected(charger=charger, channel_name="c2", ocpp_version="1.6", at=h(3))
    # The dead socket's close arrives late: it must not take the charger offline.
    assert not connections.charger_disconnected(charger=charger, channel_name="c1", at=h(3.1))
    connector_status_update(
        charger=charger, connector_id=1, status="faulted", error_code="GroundFailure", at=h(3.5)
    )
    assert connections.charger_disconnected(charger=charger, channel_name="c2", at=h(4))
    connections.charger_connected(charger=charger, channel_name="c3", ocpp_version="1.6", at=h(5))
    connector_status_update(charger=charger, connector_id=1, status="available", at=h(5.5))
    # Whole-charger report (connector 0): unavailable 7:00–8:00.
    connector_status_update(charger=charger, connector_id=0, status="unavailable", at=h(7))
    connector_status_update(charger=charger, connector_id=0, status="available", at=h(8))

    charger.refresh_from_db()
    report = uptime_for_chargers(
        chargers=Charger.objects.filter(pk=charger.pk), start=T0, end=h(10), now=h(10)
    )
    (port,) = report.connectors
    # Down: 0:00–1:00 never connected; 2:00–3:00 silent (from last heard); 3:30–5:30
    # faulted (overlapping the 4:00–5:00 disconnect); 7:00–8:00 whole charger.
    # 60 + 60 + 120 + 60 = 300 of 600 minutes.
    assert [(o.start, o.end, o.reasons) for o in port.uptime.outages] == [
        (h(0), h(1), ("offline",)),
        (h(2), h(3), ("offline",)),
        (h(3.5), h(5.5), ("connector", "offline")),
        (h(7), h(8), ("charger",)),
    ]
    assert port.uptime.period_minutes == 600
    assert port.uptime.outage_minutes == 300
    assert port.uptime.plain_percent == 50
