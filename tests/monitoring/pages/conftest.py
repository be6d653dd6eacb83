"""Fixtures of the page tests: a property of organization A with one charger whose
last month is written out so its uptime and health can be worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.chargers.models import Charger, ChargerEvent, Connector, StatusChange
from apps.sites.models import Membership, Property
from tests import factories

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
# Connector 1 is faulted for 432 minutes three days ago: 1% of the 30-day window.
FAULT_START = NOW - timedelta(days=3)
FAULT_MINUTES = 432


@dataclass
class Site:
    property: Property
    charger: Charger
    connector: Connector


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def manager_b(org_b):
    user = factories.UserFactory(username="manager_b")
    factories.MembershipFactory(
        user=user, organization=org_b, role=Membership.Role.PROPERTY_MANAGER
    )
    return user


@pytest.fixture
def site(org_a, frozen) -> Site:
    prop = factories.PropertyFactory(organization=org_a, name="Birch Lofts", time_zone="UTC")
    charger = factories.ChargerFactory(
        charge_point_id="BIRCH-1",
        zone=factories.ZoneFactory(property=prop, name="Garage"),
        channel_name="test.channel!BIRCH-1",  # online now
    )
    Charger.objects.filter(pk=charger.pk).update(created_at=NOW - timedelta(days=60))
    charger.refresh_from_db()
    connector = factories.ConnectorFactory(
        charger=charger, connector_id=1, status=Connector.Status.AVAILABLE
    )
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.CONNECTION,
        summary="Connected",
        payload={},
        reported_at=NOW - timedelta(days=45),
    )
    StatusChange.objects.create(
        charger=charger,
        connector=connector,
        status=Connector.Status.AVAILABLE,
        reported_at=NOW - timedelta(days=45),
    )
    StatusChange.objects.create(
        charger=charger,
        connector=connector,
        status=Connector.Status.FAULTED,
        error_code="GroundFailure",
        reported_at=FAULT_START,
    )
    StatusChange.objects.create(
        charger=charger,
        connector=connector,
        status=Connector.Status.AVAILABLE,
        reported_at=FAULT_START + timedelta(minutes=FAULT_MINUTES),
    )
    return Site(property=prop, charger=charger, connector=connector)
