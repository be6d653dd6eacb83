"""Health scores: which chargers need a technician first; the scoring is in
apps/monitoring/services/health.py."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Max, Q, QuerySet
from django.db.models.functions import Coalesce

from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    CommandLog,
    Connector,
    MeterSample,
)
from apps.monitoring.selectors.health.history import connector_status_before, status_changes
from apps.monitoring.services import health as scoring
from apps.monitoring.services.uptime import connection_state
from apps.sites.exceptions import NotFound
from apps.sites.models import Property

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


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
        .annotate(before=connector_status_before(start))
        .values_list("pk", "before")
    )
    statuses: dict[int, list[tuple[object, datetime, str]]] = defaultdict(list)
    for charger_id, connector_pk, at, status in status_changes(
        charger_ids=ids, start=start, end=end
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
    reaches_now = end >= now
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
            # "Now" only counts for a window that reaches the present: a past
            # period's report is not marked down for today's state.
            offline_now=reaches_now and not charger.online,
            faulted_now=reaches_now and charger.pk in faulted_now,
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
