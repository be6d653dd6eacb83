"""Fixtures of the dashboard tests: a site of organization A with chargers in given
states, a viewer, and organization B's charger (which A must never see). The real
OCPP server fixtures are imported for the end-to-end and browser tests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.chargers.models import Charger, ChargingSession, Connector, MeterSample
from apps.chargers.selectors import POWER_IMPORT, STATE_OF_CHARGE
from apps.chargers.services import ENERGY_REGISTER
from apps.sites.models import Membership
from tests import factories
from tests.ocpp_consumer.conftest import _daphne, ocpp_server  # noqa: F401


@pytest.fixture
def viewer_a(org_a):
    user = factories.UserFactory(username="viewer_a")
    factories.MembershipFactory(user=user, organization=org_a, role=Membership.Role.VIEWER)
    return user


@pytest.fixture
def zone_a(org_a):
    return factories.ZoneFactory(
        name="Garage", property=factories.PropertyFactory(organization=org_a, name="Maple Court")
    )


@pytest.fixture
def make_charger(zone_a):
    def make(
        charge_point_id: str,
        *,
        online: bool = True,
        statuses: tuple[str, ...] = (Connector.Status.AVAILABLE,),
        zone: Any = None,
        **kwargs: Any,
    ) -> Charger:
        charger = factories.ChargerFactory(
            charge_point_id=charge_point_id,
            zone=zone or zone_a,
            channel_name=f"test.channel!{charge_point_id}" if online else "",
            **kwargs,
        )
        for number, status in enumerate(statuses, start=1):
            factories.ConnectorFactory(
                charger=charger,
                connector_id=number,
                status=status,
                status_at=timezone.now() - timedelta(minutes=10),
            )
        return charger

    return make


def start_session(
    charger: Charger,
    *,
    connector_id: int = 1,
    power_w: int | None = 7200,
    energy_wh: int | None = 3500,
    soc: int | None = 55,
    meter_start_wh: int = 10_000,
    **kwargs: Any,
) -> ChargingSession:
    """An active session on the connector with one set of latest samples."""
    connector = charger.connectors.get(connector_id=connector_id)
    started = timezone.now() - timedelta(minutes=42)
    session = factories.ChargingSessionFactory(
        connector=connector,
        charger=charger,
        meter_start_wh=meter_start_wh,
        started_at=started,
        **kwargs,
    )
    at = timezone.now() - timedelta(seconds=30)
    values = [
        (ENERGY_REGISTER, energy_wh and meter_start_wh + energy_wh, "Wh"),
        (POWER_IMPORT, power_w, "W"),
        (STATE_OF_CHARGE, soc, "Percent"),
    ]
    for measurand, value, unit in values:
        if value is not None:
            MeterSample.objects.create(
                charger=charger,
                connector_id=connector_id,
                session=session,
                sampled_at=at,
                measurand=measurand,
                value=Decimal(value),
                unit=unit,
            )
    return session


@pytest.fixture(autouse=True)
def _fresh_card_cache():
    """Rendered cards are cached by content; each test starts without them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
