"""One charger's vitals for its page, and each property at a glance for the
report index: uptime and health read together."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Count

from apps.chargers.models import Charger
from apps.monitoring.selectors.health.scores import ChargerHealth, health_for_chargers
from apps.monitoring.selectors.health.uptime import (
    DEFAULT_POLICY,
    policies_for,
    uptime_for_chargers,
)
from apps.monitoring.services.uptime import Uptime
from apps.sites.models import Property

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


# --- one charger at a glance ----------------------------------------------------------

VITALS_UPTIME_DAYS = 30
VITALS_HEALTH_DAYS = 7


@dataclass(frozen=True)
class ChargerVitals:
    """A charger's uptime over the last month and its health over the last week,
    as the charger page shows them (the same figures as the reports and ranking)."""

    uptime_days: int
    health_days: int
    uptime: Uptime
    target_percent: float
    health: ChargerHealth | None
    # When the uptime's period began: the window's start, or the charger's
    # registration if that is later (a new charger is measured from then).
    measured_since: datetime
    window_start: datetime

    @property
    def measured_part(self) -> bool:
        return self.measured_since > self.window_start

    @property
    def meets_target(self) -> bool:
        return self.uptime.nevi_percent > self.target_percent


def charger_vitals(*, charger: Charger, now: datetime) -> ChargerVitals:
    """Uptime (NEVI and plain, all ports together) and health of one charger the
    caller already may see, in a fixed number of queries."""
    only = Charger.objects.filter(pk=charger.pk)
    window_start = now - timedelta(days=VITALS_UPTIME_DAYS)
    uptime = uptime_for_chargers(chargers=only, start=window_start, end=now, now=now)
    health = health_for_chargers(
        chargers=only, start=now - timedelta(days=VITALS_HEALTH_DAYS), end=now, now=now
    )
    policy = uptime.policies.get(charger.zone.property_id, DEFAULT_POLICY)
    return ChargerVitals(
        uptime_days=VITALS_UPTIME_DAYS,
        health_days=VITALS_HEALTH_DAYS,
        uptime=uptime.total,
        target_percent=policy.target_percent,
        health=health[0] if health else None,
        measured_since=min((row.start for row in uptime.connectors), default=window_start),
        window_start=window_start,
    )


# --- the report index: each property at a glance -------------------------------------

GLANCE_DAYS = 7
# A charger scoring under this needs a technician (the health page's "need attention").
ATTENTION_BELOW = 70


@dataclass(frozen=True)
class PropertyGlance:
    prop: Property
    chargers: int
    uptime: Uptime | None  # None: no port in service over the window
    target_percent: float
    needs_attention: int

    @property
    def meets_target(self) -> bool:
        return self.uptime is not None and self.uptime.nevi_percent > self.target_percent


def properties_at_a_glance(*, user: AnyUser, now: datetime) -> list[PropertyGlance]:
    """The user's properties by organization and name, each with its ports' NEVI
    uptime and how many chargers need attention over the last GLANCE_DAYS days; a
    fixed number of queries, however many properties."""
    properties = list(
        Property.objects.visible_to(user)
        .select_related("organization")
        .annotate(charger_count=Count("zones__chargers", distinct=True))
        .order_by("organization__name", "name", "pk")
    )
    chargers = Charger.objects.visible_to(user)
    start = now - timedelta(days=GLANCE_DAYS)
    uptime = uptime_for_chargers(chargers=chargers, start=start, end=now, now=now)
    by_property = {pk: parts for pk, _, parts in uptime.by_property()}
    attention: dict[int, int] = defaultdict(int)
    for health in health_for_chargers(chargers=chargers, start=start, end=now, now=now):
        if health.score.score < ATTENTION_BELOW:
            attention[health.property_id] += 1
    policies = policies_for(properties)
    return [
        PropertyGlance(
            prop=prop,
            chargers=prop.charger_count,  # type: ignore[attr-defined]
            uptime=(
                by_property[prop.pk]
                if prop.pk in by_property and by_property[prop.pk].period_minutes
                else None
            ),
            target_percent=policies[prop.pk].target_percent,
            needs_attention=attention[prop.pk],
        )
        for prop in properties
    ]
