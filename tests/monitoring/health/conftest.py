"""A month of history for one property, written out so that its uptime can be
computed by hand (see test_uptime.py for the arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from apps.chargers.models import Charger, ChargerEvent, Connector, StatusChange
from apps.monitoring.models import OutageCause, OutageExclusion, UptimePolicy
from apps.sites.models import Property
from apps.sites.services import api_token_create
from tests import factories

JUNE = datetime(2026, 6, 1, tzinfo=UTC)
JULY = datetime(2026, 7, 1, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def bearer(user) -> dict[str, str]:
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def status(charger: Charger, connector: Connector | None, value: str, when: datetime) -> None:
    StatusChange.objects.create(
        charger=charger,
        connector=connector,
        status=value,
        error_code="GroundFailure" if value == "faulted" else "",
        reported_at=when,
    )


def connection(charger: Charger, summary: str, when: datetime, payload=None) -> None:
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.CONNECTION,
        summary=summary,
        payload=payload or {},
        reported_at=when,
    )


@dataclass
class Month:
    property: Property
    charger: Charger
    c1: Connector
    c2: Connector


def build_june(org) -> Month:
    """June 2026 (30 days = 43,200 minutes) at one property with one charger of two
    connectors. Everything is in UTC."""
    prop = factories.PropertyFactory(organization=org, name="Maple Yards")
    charger = factories.ChargerFactory(zone__property=prop, charge_point_id="MAPLE-1")
    Charger.objects.filter(pk=charger.pk).update(created_at=at(1, 0, month=5))
    charger.refresh_from_db()
    c1 = factories.ConnectorFactory(charger=charger, connector_id=1)
    c2 = factories.ConnectorFactory(charger=charger, connector_id=2)

    # Before June: connected and both connectors available.
    connection(charger, "Connected (OCPP 1.6)", at(31, 23, month=5))
    status(charger, c1, "available", at(31, 23, 1, month=5))
    status(charger, c2, "available", at(31, 23, 1, month=5))

    # (1) Connector 1 faulted 3 June 10:00–12:00: 120 min, no excuse.
    status(charger, c1, "faulted", at(3, 10))
    status(charger, c1, "faulted", at(3, 11))  # repeated: still one outage, one fault
    status(charger, c1, "available", at(3, 12))
    # (2) Connector 1 unavailable 10 June 08:00–12:00: 240 min, of which 08:00–11:00
    #     documented as scheduled maintenance (180 min excluded).
    status(charger, c1, "unavailable", at(10, 8))
    status(charger, c1, "available", at(10, 12))
    OutageExclusion.objects.create(
        property=prop,
        charger=charger,
        connector=c1,
        cause=OutageCause.SCHEDULED_MAINTENANCE,
        starts_at=at(10, 8),
        ends_at=at(10, 11),
        evidence="Work order 4411",
    )
    # (3) Connector 2 faulted 15 June 01:30–02:30, and the charger's socket closed
    #     02:00–03:30 (both connectors). The utility cut the property's power
    #     02:00–03:00 (documented, whole property).
    status(charger, c2, "faulted", at(15, 1, 30))
    connection(charger, "Disconnected", at(15, 2))
    status(charger, c2, "available", at(15, 2, 30))
    connection(charger, "Connected (OCPP 1.6)", at(15, 3, 30))
    OutageExclusion.objects.create(
        property=prop,
        cause=OutageCause.UTILITY_INTERRUPTION,
        starts_at=at(15, 2),
        ends_at=at(15, 3),
        evidence="Utility outage ticket 99-1",
    )
    # (4) The presence sweep found the charger silent at 20 June 10:12; it was last
    #     heard from at 10:00 and reconnected at 10:30: offline 10:00–10:30 (30 min).
    #     An older socket closing afterwards changes nothing.
    connection(
        charger,
        "Marked offline: not heard from since 2026-06-20T10:00:00+00:00",
        at(20, 10, 12),
        payload={"last_seen_at": "2026-06-20T10:00:00+00:00", "grace_s": 720},
    )
    connection(charger, "Connected (OCPP 1.6)", at(20, 10, 30))
    connection(charger, "Older connection closed", at(20, 10, 31))
    # (5) Connector 2 faulted 25 June 00:00–01:00 (60 min), documented as vandalism:
    #     this organization's policy does not exclude vandalism, so it counts.
    status(charger, c2, "faulted", at(25, 0))
    status(charger, c2, "available", at(25, 1))
    OutageExclusion.objects.create(
        property=prop,
        charger=charger,
        connector=c2,
        cause=OutageCause.VANDALISM,
        starts_at=at(25, 0),
        ends_at=at(25, 1),
    )
    UptimePolicy.objects.create(organization=org, exclude_vandalism=False)
    return Month(property=prop, charger=charger, c1=c1, c2=c2)


@pytest.fixture
def june(org_a) -> Month:
    return build_june(org_a)


@pytest.fixture
def manager_b(org_b):
    user = factories.UserFactory(username="manager_b")
    factories.MembershipFactory(user=user, organization=org_b, role="property_manager")
    return user
