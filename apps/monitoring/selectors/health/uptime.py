"""Uptime per connector, charger and property over a period, with the properties'
uptime policies; the math is in apps/monitoring/services/uptime.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from apps.chargers.models import Charger, ChargerEvent, Connector, StatusChange
from apps.monitoring.models import OutageExclusion, UptimePolicy
from apps.monitoring.models.health import NEVI_EXCLUDED_CAUSES
from apps.monitoring.selectors.health.history import (
    charger_get_visible,
    connector_status_before,
    status_changes,
)
from apps.monitoring.services.uptime import (
    DOWN_STATUSES,
    Interval,
    Uptime,
    closed_hours,
    connection_state,
    down_intervals,
    offline_since,
    uptime_compute,
    uptime_sum,
)
from apps.sites.exceptions import NotFound
from apps.sites.models import Property

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


# --- policies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyView:
    excluded_causes: frozenset[str]
    exclude_outside_hours: bool
    opens_at: time | None
    closes_at: time | None
    target_percent: float
    source: str  # "property", "organization" or "NEVI defaults"


DEFAULT_POLICY = PolicyView(
    excluded_causes=frozenset(str(c) for c in NEVI_EXCLUDED_CAUSES),
    exclude_outside_hours=True,
    opens_at=None,
    closes_at=None,
    target_percent=97.0,
    source="NEVI defaults",
)


def _policy_view(policy: UptimePolicy) -> PolicyView:
    return PolicyView(
        excluded_causes=policy.excluded_causes(),
        exclude_outside_hours=policy.exclude_outside_hours,
        opens_at=policy.opens_at,
        closes_at=policy.closes_at,
        target_percent=float(policy.target_percent),
        source="property" if policy.property_id else "organization",
    )


def policies_for(properties: Iterable[Property]) -> dict[int, PolicyView]:
    """Each property's uptime policy: its own, else its organization's default,
    else the NEVI defaults."""
    properties = list(properties)
    rows = UptimePolicy.objects.filter(
        organization_id__in={p.organization_id for p in properties}
    ).order_by("pk")
    by_key = {(p.organization_id, p.property_id): p for p in rows}
    result = {}
    for prop in properties:
        policy = by_key.get((prop.organization_id, prop.pk)) or by_key.get(
            (prop.organization_id, None)
        )
        result[prop.pk] = _policy_view(policy) if policy else DEFAULT_POLICY
    return result


# --- uptime -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectorUptime:
    charger_id: int
    charge_point_id: str
    charger_name: str
    connector_pk: int
    connector_id: int
    property_id: int
    property_name: str
    start: datetime
    end: datetime
    uptime: Uptime
    target_percent: float

    @property
    def meets_target(self) -> bool:
        return self.uptime.nevi_percent > self.target_percent


@dataclass(frozen=True)
class UptimeReport:
    start: datetime
    end: datetime
    connectors: list[ConnectorUptime]
    total: Uptime
    policies: dict[int, PolicyView]
    # With `slices`: all ports' uptime within each slice (hours or days of a report).
    slices: list[Uptime] = field(default_factory=list)

    def by_property(self) -> list[tuple[int, str, Uptime]]:
        """Each property's ports together, by name."""
        groups: dict[tuple[str, int], list[Uptime]] = defaultdict(list)
        for row in self.connectors:
            groups[(row.property_name, row.property_id)].append(row.uptime)
        return [(pk, name, uptime_sum(parts)) for (name, pk), parts in sorted(groups.items())]

    def by_charger(self) -> list[tuple[str, Uptime]]:
        """Each charger's ports together, by charge point id."""
        groups: dict[str, list[Uptime]] = defaultdict(list)
        for row in self.connectors:
            groups[row.charge_point_id].append(row.uptime)
        return [(cp, uptime_sum(parts)) for cp, parts in sorted(groups.items())]


def _chargers_with_history_state(chargers: QuerySet[Charger], start: datetime) -> list[Charger]:
    """The chargers with what they said last before `start`: the whole charger's
    status and whether the last connection event left them online."""
    before = {"charger": OuterRef("pk")}
    last_status = (
        StatusChange.objects.filter(**before, connector__isnull=True, reported_at__lt=start)
        .order_by("-reported_at", "-id")
        .values("status")[:1]
    )
    last_connection = (
        ChargerEvent.objects.filter(**before, kind=ChargerEvent.Kind.CONNECTION)
        .exclude(summary__startswith="Older connection closed")
        .annotate(at=Coalesce("reported_at", "received_at"))
        .filter(at__lt=start)
        .order_by("-at", "-id")
    )
    return list(
        chargers.select_related("zone__property")
        .annotate(
            status_before=Subquery(last_status),
            connection_before=Subquery(last_connection.values("summary")[:1]),
            connection_payload_before=Subquery(last_connection.values("payload")[:1]),
        )
        .order_by("charge_point_id")
    )


def uptime_for_chargers(
    *,
    chargers: QuerySet[Charger],
    start: datetime,
    end: datetime,
    now: datetime,
    slices: Sequence[Interval] = (),
) -> UptimeReport:
    """Uptime (NEVI and plain) of every connector of `chargers` over [start, end),
    from the stored status history, connection events and documented exclusions.
    The period ends at `now` at the latest, and starts no earlier than the
    charger's registration. With `slices` (parts of the period), also the ports'
    uptime within each, from the same reads."""
    end = min(end, now)
    loaded = _chargers_with_history_state(chargers, start)
    ids = [c.pk for c in loaded]
    connectors = list(
        Connector.objects.filter(charger_id__in=ids)
        .annotate(status_before=connector_status_before(start))
        .order_by("charger_id", "connector_id")
    )
    statuses = list(status_changes(charger_ids=ids, start=start, end=end))
    connections = list(
        ChargerEvent.objects.filter(charger_id__in=ids, kind=ChargerEvent.Kind.CONNECTION)
        .annotate(at=Coalesce("reported_at", "received_at"))
        .filter(at__gte=start, at__lt=end)
        .order_by("at", "id")
        .values_list("charger_id", "at", "summary", "payload")
    )
    properties = {c.zone.property_id: c.zone.property for c in loaded}
    exclusions = list(
        OutageExclusion.objects.filter(
            property_id__in=properties, starts_at__lt=end, ends_at__gt=start
        ).order_by("starts_at", "pk")
    )
    policies = policies_for(properties.values())

    status_by_charger: dict[int, list[tuple[int | None, datetime, str]]] = defaultdict(list)
    for charger_id, connector_pk, at, status in statuses:
        status_by_charger[charger_id].append((connector_pk, at, status))
    connections_by_charger: dict[int, list[tuple[datetime, str, Any]]] = defaultdict(list)
    for charger_id, at, summary, payload in connections:
        connections_by_charger[charger_id].append((at, summary, payload))
    connectors_by_charger: dict[int, list[Any]] = defaultdict(list)
    for connector in connectors:
        connectors_by_charger[connector.charger_id].append(connector)

    rows: list[ConnectorUptime] = []
    slice_parts: list[list[Uptime]] = [[] for _ in slices]
    for charger in loaded:
        prop = properties[charger.zone.property_id]
        policy = policies[prop.pk]
        in_service = max(start, charger.created_at) if charger.created_at else start
        if in_service >= end:
            in_service = end
        offline = _offline_intervals(
            charger,
            connections_by_charger[charger.pk],
            start=in_service,
            end=end,
            now=now,
        )
        charger_rows = status_by_charger[charger.pk]
        whole_down = down_intervals(
            [(at, status in DOWN_STATUSES) for key, at, status in charger_rows if key is None],
            down_at_start=getattr(charger, "status_before", None) in DOWN_STATUSES,
            start=in_service,
            end=end,
        )
        closed: list[Interval] = []
        if policy.exclude_outside_hours and policy.opens_at and policy.closes_at:
            closed = closed_hours(
                start=in_service,
                end=end,
                tz=ZoneInfo(prop.time_zone),
                opens_at=policy.opens_at,
                closes_at=policy.closes_at,
            )
        for connector in connectors_by_charger[charger.pk]:
            own_down = down_intervals(
                [
                    (at, status in DOWN_STATUSES)
                    for key, at, status in charger_rows
                    if key == connector.pk
                ],
                down_at_start=getattr(connector, "status_before", None) in DOWN_STATUSES,
                start=in_service,
                end=end,
            )
            excluded = closed + [
                (e.starts_at, e.ends_at)
                for e in exclusions
                if e.property_id == prop.pk
                and e.cause in policy.excluded_causes
                and e.charger_id in (None, charger.pk)
                and e.connector_id in (None, connector.pk)
            ]
            down = {"connector": own_down, "charger": whole_down, "offline": offline}
            uptime = uptime_compute(start=in_service, end=end, down=down, excluded=excluded)
            for parts, (slice_start, slice_end) in zip(slice_parts, slices, strict=True):
                parts.append(
                    uptime_compute(
                        start=max(slice_start, in_service),
                        end=min(slice_end, end),
                        down=down,
                        excluded=excluded,
                    )
                )
            rows.append(
                ConnectorUptime(
                    charger_id=charger.pk,
                    charge_point_id=charger.charge_point_id,
                    charger_name=charger.name,
                    connector_pk=connector.pk,
                    connector_id=connector.connector_id,
                    property_id=prop.pk,
                    property_name=prop.name,
                    start=in_service,
                    end=end,
                    uptime=uptime,
                    target_percent=policy.target_percent,
                )
            )
    return UptimeReport(
        start=start,
        end=end,
        connectors=rows,
        total=uptime_sum(r.uptime for r in rows),
        policies=policies,
        slices=[uptime_sum(parts) for parts in slice_parts],
    )


def _offline_intervals(
    charger: Charger,
    events: Sequence[tuple[datetime, str, Any]],
    *,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[Interval]:
    """When the charger was offline within [start, end), from its connection events.
    Before any event it is offline (it never connected). Up to now, its current
    state counts too: a charger recorded as online whose socket is gone is offline
    since it last disconnected or was last heard from."""
    before: bool | None = (
        connection_state(charger.connection_before, charger.connection_payload_before)  # type: ignore[attr-defined]
        if getattr(charger, "connection_before", None)
        else None
    )
    online = bool(before)
    transitions: list[tuple[datetime, bool]] = []
    last_at = start
    for at, summary, payload in events:
        state = connection_state(summary, payload)
        if state is None:
            continue
        last_at = at
        if state:
            transitions.append((at, False))
        else:
            transitions.append((max(start, offline_since(at, payload)), True))
        online = state
    if end >= now and online and not charger.online:
        gone = charger.disconnected_at or charger.last_seen_at or last_at
        transitions.append((max(gone, last_at), True))
    transitions.sort(key=lambda t: t[0])
    return down_intervals(transitions, down_at_start=not before, start=start, end=end)


def _visible_chargers(
    *, user: AnyUser, property_id: int | None, charge_point_id: str | None
) -> tuple[QuerySet[Charger], Property | None]:
    chargers = Charger.objects.visible_to(user)
    prop = None
    if property_id is not None:
        prop = Property.objects.visible_to(user).filter(pk=property_id).first()
        if prop is None:
            raise NotFound(f"No property {property_id}.")
        chargers = chargers.filter(zone__property_id=property_id)
    if charge_point_id is not None:
        charger = charger_get_visible(user=user, charge_point_id=charge_point_id)
        chargers = chargers.filter(pk=charger.pk)
        prop = prop or charger.zone.property
    return chargers, prop


def uptime_report(
    *,
    user: AnyUser,
    start: datetime,
    end: datetime,
    now: datetime,
    property_id: int | None = None,
    charge_point_id: str | None = None,
) -> UptimeReport:
    """Uptime of the connectors the user may see: of one property, one charger, or
    all. A property or charger the user cannot see is not found."""
    chargers, _ = _visible_chargers(
        user=user, property_id=property_id, charge_point_id=charge_point_id
    )
    return uptime_for_chargers(chargers=chargers, start=start, end=end, now=now)


@dataclass(frozen=True)
class MonthlyUptime:
    """NEVI's reporting shape: the uptime of each of the previous months, and over
    all of them together (the rule's figure with twelve months)."""

    time_zone: str
    months: list[tuple[date, UptimeReport]]
    trailing: list[tuple[ConnectorUptime, Uptime]]  # each port: its row, its sum
    total: Uptime


def _month_start(day: date, back: int) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def uptime_monthly(
    *,
    user: AnyUser,
    months: int,
    now: datetime,
    property_id: int | None = None,
    charge_point_id: str | None = None,
) -> MonthlyUptime:
    """Uptime per calendar month for the `months` complete months before `now`, in
    the property's time zone (UTC across properties), and over all of them."""
    chargers, prop = _visible_chargers(
        user=user, property_id=property_id, charge_point_id=charge_point_id
    )
    tz = ZoneInfo(prop.time_zone) if prop is not None else ZoneInfo("UTC")
    this_month = now.astimezone(tz).date().replace(day=1)
    series = []
    for back in range(months, 0, -1):
        first = _month_start(this_month, back)
        start = datetime.combine(first, time(0), tzinfo=tz)
        end = datetime.combine(_month_start(this_month, back - 1), time(0), tzinfo=tz)
        series.append(
            (first, uptime_for_chargers(chargers=chargers, start=start, end=end, now=now))
        )
    ports: dict[int, tuple[ConnectorUptime, list[Uptime]]] = {}
    for _, report in series:
        for row in report.connectors:
            ports.setdefault(row.connector_pk, (row, []))[1].append(row.uptime)
    trailing = [
        (row, uptime_sum(parts))
        for row, parts in sorted(
            ports.values(), key=lambda p: (p[0].charge_point_id, p[0].connector_id)
        )
    ]
    return MonthlyUptime(
        time_zone=str(tz),
        months=series,
        trailing=trailing,
        total=uptime_sum(u for _, u in trailing),
    )
