"""What the benchmarks share: a public zone of their own organization, and its
chargers with connector 1, made with bulk inserts (the rows only need to exist;
10,000 service calls would take minutes for rows a benchmark does not need
audited). Call after django.setup()."""

from __future__ import annotations

from typing import Any


def bench_zone(*, slug: str, label: str) -> Any:
    """The public zone "<label> zone" of organization `slug` (made if missing)."""
    from apps.access.models import AccessPolicy
    from apps.sites.models import Organization, Property, Zone

    org, _ = Organization.objects.get_or_create(slug=slug, defaults={"name": label})
    prop, _ = Property.objects.get_or_create(
        organization=org,
        name=f"{label} depot",
        defaults={"city": "Loopback", "country": "US", "time_zone": "UTC", "grid_limit_w": 10**9},
    )
    zone, _ = Zone.objects.get_or_create(
        property=prop, name=f"{label} zone", defaults={"kind": Zone.Kind.PUBLIC}
    )
    AccessPolicy.objects.get_or_create(zone=zone, admits=AccessPolicy.Admits.PUBLIC)
    return zone


def bench_chargers(zone: Any, ids: list[str]) -> dict[int, str]:
    """Chargers `ids` in `zone`, each with connector 1 (existing ones kept).
    Returns their primary keys and ids."""
    from apps.chargers.models import Charger, Connector

    Charger.objects.bulk_create(
        [Charger(charge_point_id=cp, zone=zone, max_power_w=7_400, phases=1) for cp in ids],
        ignore_conflicts=True,
        batch_size=1000,
    )
    chargers = dict(
        Charger.objects.filter(charge_point_id__in=ids).values_list("pk", "charge_point_id")
    )
    Connector.objects.bulk_create(
        [Connector(charger_id=pk, connector_id=1) for pk in chargers],
        ignore_conflicts=True,
        batch_size=1000,
    )
    return chargers
