"""Reads for health reporting: status history, uptime per connector and property,
health scores. The math is in apps/monitoring/services/{uptime,health}.py; this
module gathers its inputs from the stored history in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    CommandLog,
    Connector,
    MeterSample,
    StatusChange,
)
from apps.monitoring.models import OutageExclusion, UptimePolicy
from apps.monitoring.models.health import NEVI_EXCLUDED_CAUSES
from apps.monitoring.services import health as scoring
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

# --- status history -------------------------------------------------------------------


def charger_get_visible(*, user: AnyUser, charge_point_id: str) -> Charger:
    charger = (
        Charger.objects.visible_to(user)
        .select_related("zone__property")
        .filter(charge_point_id=charge_point_id)
        .first()
    )
    if charger is None:
        raise NotFound(f"No charger {charge_point_id!r}.")
    return charger


def status_history(
    *,
    user: AnyUser,
    charge_point_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    connector_id: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> QuerySet[StatusChange]:
    """A charger's StatusNotification history, newest first; connector_id 0 is the
    whole charger."""
    charger = charger_get_visible(user=user, charge_point_id=charge_point_id)
    rows = StatusChange.objects.filter(charger=charger).select_related("connector")
    if since is not None:
        rows = rows.filter(reported_at__gte=since)
    if until is not None:
        rows = rows.filter(reported_at__lt=until)
    if connector_id == 0:
        rows = rows.filter(connector__isnull=True)
    elif connector_id is not None:
        rows = rows.filter(connector__connector_id=connector_id)
    return rows.order_by("-reported_at", "-id")[offset : offset + limit]


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
        .annotate(
            status_before=Subquery(
                StatusChange.objects.filter(connector=OuterRef("pk"), reported_at__lt=start)
                .order_by("-reported_at", "-id")
                .values("status")[:1]
            )
        )
        .order_by("charger_id", "connector_id")
    )
    statuses = list(
        StatusChange.objects.filter(charger_id__in=ids, reported_at__gte=start, reported_at__lt=end)
        .order_by("reported_at", "id")
        .values_list("charger_id", "connector_id", "reported_at", "status")
    )
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


# --- health scores ------------------------------------------------------------------


@dataclass(frozen=True)
class ChargerHealth:
    charger_id: int
    charge_point_id: str
    charger_name: str
    property_id: int
    property_name: str
    inputs: scoring.HealthInputs
    score: scoring.HealthScore
    stalled_reasons: tuple[str, ...] = ()

    @property
    def reasons(self) -> list[str]:
        return self.score.reasons


def health_for_chargers(
    *, chargers: QuerySet[Charger], start: datetime, end: datetime, now: datetime
) -> list[ChargerHealth]:
    """Health of `chargers` over [start, end), ranked: who needs a technician first."""
    loaded = list(chargers.select_related("zone__property").order_by("charge_point_id"))
    ids = [c.pk for c in loaded]
    initial = dict(
        Connector.objects.filter(charger_id__in=ids)
        .annotate(
            before=Subquery(
                StatusChange.objects.filter(connector=OuterRef("pk"), reported_at__lt=start)
                .order_by("-reported_at", "-id")
                .values("status")[:1]
            )
        )
        .values_list("pk", "before")
    )
    statuses: dict[int, list[tuple[object, datetime, str]]] = defaultdict(list)
    for charger_id, connector_pk, at, status in (
        StatusChange.objects.filter(charger_id__in=ids, reported_at__gte=start, reported_at__lt=end)
        .order_by("reported_at", "id")
        .values_list("charger_id", "connector_id", "reported_at", "status")
    ):
        statuses[charger_id].append((connector_pk, at, status))
    faulted_now = set(
        Connector.objects.filter(charger_id__in=ids, status=Connector.Status.FAULTED).values_list(
            "charger_id", flat=True
        )
    )
    sessions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in (
        ChargingSession.objects.filter(charger_id__in=ids)
        .filter(
            # Started in the window, or still running from before it.
            Q(started_at__gte=start, started_at__lt=end)
            | Q(state=ChargingSession.State.ACTIVE, started_at__lt=start)
        )
        .order_by("started_at", "pk")
        .values(
            "pk", "charger_id", "connector_id", "started_at", "stopped_at", "state", "energy_wh"
        )
    ):
        sessions[row["charger_id"]].append(dict(row))
    session_ids = [row["pk"] for rows in sessions.values() for row in rows]
    last_sample = dict(
        MeterSample.objects.filter(session_id__in=session_ids)
        .values("session_id")
        .annotate(last=Max("sampled_at"))
        .order_by("session_id")
        .values_list("session_id", "last")
    )
    disconnects: dict[int, int] = defaultdict(int)
    for charger_id, summary, payload in (
        ChargerEvent.objects.filter(charger_id__in=ids, kind=ChargerEvent.Kind.CONNECTION)
        .annotate(at=Coalesce("reported_at", "received_at"))
        .filter(at__gte=start, at__lt=end)
        .order_by("at", "id")
        .values_list("charger_id", "summary", "payload")
    ):
        if connection_state(summary, payload) is False:
            disconnects[charger_id] += 1
    remote: dict[int, list[tuple[datetime, str, str]]] = defaultdict(list)
    for charger_id, created_at, outcome, answer in (
        CommandLog.objects.filter(
            charger_id__in=ids, command="remote-start", created_at__gte=start, created_at__lt=end
        )
        .order_by("created_at", "id")
        .values_list("charger_id", "created_at", "outcome", "status")
    ):
        remote[charger_id].append((created_at, outcome, answer))

    connector_initial: dict[object, str] = {k: v for k, v in initial.items() if v}
    result = []
    for charger in loaded:
        rows = statuses[charger.pk]
        charger_sessions = sessions[charger.pk]
        in_window = [s for s in charger_sessions if s["started_at"] >= start]
        plug_attempts, plug_failures = scoring.start_outcomes(
            status_rows=[r for r in rows if r[0] is not None],
            sessions=[
                (s["connector_id"], s["started_at"], s["stopped_at"]) for s in charger_sessions
            ],
            now=min(now, end),
            initial=connector_initial,
        )
        remote_attempts, remote_failures = scoring.remote_start_outcomes(
            commands=remote[charger.pk],
            session_starts=[s["started_at"] for s in in_window],
            now=min(now, end),
        )
        stalled = [
            reason
            for s in charger_sessions
            if (
                reason := scoring.session_stall_reason(
                    active=s["state"] == ChargingSession.State.ACTIVE,
                    started_at=s["started_at"],
                    energy_wh=s["energy_wh"],
                    last_sample_at=last_sample.get(s["pk"]),
                    now=now,
                )
            )
        ]
        inputs = scoring.HealthInputs(
            faults=scoring.fault_count(rows, initial={None: "", **connector_initial}),
            start_attempts=plug_attempts + remote_attempts,
            start_failures=plug_failures + remote_failures,
            disconnects=disconnects[charger.pk],
            stalled_sessions=len(stalled),
            offline_now=not charger.online,
            faulted_now=charger.pk in faulted_now,
        )
        result.append(
            ChargerHealth(
                charger_id=charger.pk,
                charge_point_id=charger.charge_point_id,
                charger_name=charger.name,
                property_id=charger.zone.property_id,
                property_name=charger.zone.property.name,
                inputs=inputs,
                score=scoring.health_score(inputs),
                stalled_reasons=tuple(stalled),
            )
        )
    result.sort(key=lambda h: scoring.health_rank_key(h.score, h.inputs, h.charge_point_id))
    return result


def health_scores(
    *,
    user: AnyUser,
    start: datetime,
    end: datetime,
    now: datetime,
    property_id: int | None = None,
) -> list[ChargerHealth]:
    """Health of the chargers the user may see (of one property), worst first."""
    chargers = Charger.objects.visible_to(user)
    if property_id is not None:
        if not Property.objects.visible_to(user).filter(pk=property_id).exists():
            raise NotFound(f"No property {property_id}.")
        chargers = chargers.filter(zone__property_id=property_id)
    return health_for_chargers(chargers=chargers, start=start, end=end, now=now)


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
