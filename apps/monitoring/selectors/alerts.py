"""Reads for alerts: what is wrong right now (one detector per rule kind), and the
alert lists the admin, the dashboard and the API show.

Each detector answers for every organization with the rule enabled in a few
queries, whatever the number of chargers: it returns the problems whose
condition holds now, keyed by (charger id, connector pk or None), each with the
time the condition began. The evaluation service opens an alert once a problem
has lasted the rule's threshold and resolves it when its key is gone."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery

from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    CommandLog,
    Connector,
    MeterSample,
    SessionEvent,
    StatusChange,
)
from apps.chargers.services.connections import SEEN_WRITE_INTERVAL_S
from apps.monitoring.models import Alert, AlertRule
from apps.sites.exceptions import NotFound

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

Kind = AlertRule.Kind
ORG = "zone__property__organization_id"
CHARGER_ORG = f"charger__{ORG}"
# Answers by which a charger refuses a command (besides OCPP errors).
REFUSED_STATUSES = ("Rejected", "NotSupported", "UnlockFailed")
# A Charging status reported a little before the transaction's start still counts:
# stations stamp StartTransaction and StatusNotification from different clocks.
START_SLACK = timedelta(minutes=1)

ProblemKey = tuple[int, int | None]


@dataclass(frozen=True)
class Problem:
    """A condition that holds now on one charger or connector."""

    organization_id: int
    charger_id: int
    connector_id: int | None  # the Connector's pk
    since: datetime
    title: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> ProblemKey:
        return (self.charger_id, self.connector_id)


Problems = dict[ProblemKey, Problem]
Rules = Mapping[int, AlertRule]  # organization id → its enabled rule


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def _error_codes(row: dict[str, Any]) -> str:
    """A fault's error code and vendor code, as the alert's text names them."""
    codes: str = row["error_code"] or "no error code"
    if row["vendor_error_code"]:
        codes += f", vendor code {row['vendor_error_code']}"
    return codes


def _connector_label(cpid: str, number: int) -> str:
    return f"{cpid} connector {number}"


def _accepted(prefix: str, rules: Rules) -> dict[str, Any]:
    return {
        f"{prefix}{ORG}__in": list(rules),
        f"{prefix}registration": Charger.Registration.ACCEPTED,
    }


def _collect(problems: list[Problem]) -> Problems:
    return {p.key: p for p in problems}


# --- detectors ------------------------------------------------------------------------


def problems_connector_faulted(*, rules: Rules, now: datetime) -> Problems:
    """Faulted connectors, and chargers faulted as a whole (connector 0)."""
    rows = (
        Connector.objects.filter(status=Connector.Status.FAULTED, **_accepted("charger__", rules))
        .values(
            "pk",
            "connector_id",
            "error_code",
            "vendor_error_code",
            "status_at",
            "charger_id",
            "charger__charge_point_id",
            CHARGER_ORG,
        )
        .order_by("pk")
    )
    found = []
    for row in rows:
        codes = _error_codes(row)
        label = _connector_label(row["charger__charge_point_id"], row["connector_id"])
        found.append(
            Problem(
                organization_id=row[CHARGER_ORG],
                charger_id=row["charger_id"],
                connector_id=row["pk"],
                since=row["status_at"] or now,
                title=f"{label} is faulted ({codes})",
                details={
                    "error_code": row["error_code"],
                    "vendor_error_code": row["vendor_error_code"],
                },
            )
        )
    return _collect(found + _chargers_faulted(rules=rules, now=now))


# A connector-0 fault is looked for among reports of the last day (an index range
# per charger), plus the chargers whose charger-wide fault alert is still open.
WHOLE_CHARGER_LOOKBACK = timedelta(days=1)


def _chargers_faulted(*, rules: Rules, now: datetime) -> list[Problem]:
    """Faults of the whole charger (OCPP connector 0): its latest connector-0 status
    report says Faulted. Three queries: the candidates (a fault reported lately,
    or an alert still open), their latest connector-0 report, and those reports."""
    still_open = Alert.objects.filter(
        kind=Kind.CONNECTOR_FAULTED, status=Alert.Status.OPEN, connector__isnull=True
    ).values("charger_id")
    reported = StatusChange.objects.filter(
        charger_id=OuterRef("pk"),
        connector__isnull=True,
        status=Connector.Status.FAULTED,
        reported_at__gte=now - WHOLE_CHARGER_LOOKBACK,
    )
    candidates = list(
        Charger.objects.filter(**_accepted("", rules))
        .filter(Q(pk__in=still_open) | Exists(reported))
        .values_list("pk", flat=True)
        .order_by("pk")
    )
    if not candidates:
        return []
    latest = (
        StatusChange.objects.filter(charger_id=OuterRef("pk"), connector__isnull=True)
        .order_by("-reported_at", "-pk")
        .values("pk")[:1]
    )
    latest_ids = (
        Charger.objects.filter(pk__in=candidates)
        .annotate(latest=Subquery(latest))
        .values_list("latest", flat=True)
    )
    rows = (
        StatusChange.objects.filter(pk__in=[pk for pk in latest_ids if pk is not None])
        .filter(status=Connector.Status.FAULTED)
        .values(
            "charger_id",
            "charger__charge_point_id",
            "error_code",
            "vendor_error_code",
            "reported_at",
            CHARGER_ORG,
        )
        .order_by("charger_id")
    )
    found = []
    for row in rows:
        codes = _error_codes(row)
        found.append(
            Problem(
                organization_id=row[CHARGER_ORG],
                charger_id=row["charger_id"],
                connector_id=None,
                since=row["reported_at"],
                title=f"{row['charger__charge_point_id']} is faulted ({codes})",
                details={
                    "error_code": row["error_code"],
                    "vendor_error_code": row["vendor_error_code"],
                },
            )
        )
    return found


def problems_charger_offline(*, rules: Rules, now: datetime) -> Problems:
    """Offline: the socket dropped, or the charger is connected but silent (missed
    heartbeats) for longer than the threshold. A charger never heard from is not
    offline, it was never installed."""
    shortest = min(rule.threshold_minutes for rule in rules.values())
    rows = (
        Charger.objects.filter(**_accepted("", rules), last_seen_at__isnull=False)
        .filter(Q(channel_name="") | Q(last_seen_at__lt=now - _minutes(shortest)))
        .values("pk", "charge_point_id", "channel_name", "last_seen_at", "disconnected_at", ORG)
        .order_by("pk")
    )
    found = []
    for row in rows:
        rule = rules[row[ORG]]
        last_seen: datetime = row["last_seen_at"]
        if row["channel_name"]:
            if last_seen > now - _minutes(rule.threshold_minutes):
                continue
            since, why = last_seen, "no heartbeat or message"
        else:
            since, why = _offline_since(row["disconnected_at"], last_seen), "connection dropped"
        found.append(
            Problem(
                organization_id=row[ORG],
                charger_id=row["pk"],
                connector_id=None,
                since=since,
                title=f"{row['charge_point_id']} is offline ({why})",
                details={"reason": why, "last_seen_at": last_seen.isoformat()},
            )
        )
    return _collect(found)


def _offline_since(disconnected_at: datetime | None, last_seen: datetime) -> datetime:
    """When a charger without a socket went quiet. A closed socket is recorded when
    it closes; a dead one only when the presence sweep gives up on it, minutes after
    the charger's last word. last_seen_at lags the truth by at most the consumer's
    write throttle, so the last word plus that throttle bounds the real time."""
    if disconnected_at is None or disconnected_at < last_seen:
        return last_seen
    return min(disconnected_at, last_seen + timedelta(seconds=SEEN_WRITE_INTERVAL_S))


def _active_sessions(rules: Rules) -> QuerySet[ChargingSession]:
    return ChargingSession.objects.filter(
        state=ChargingSession.State.ACTIVE, **_accepted("charger__", rules)
    )


def _session_problem(row: dict[str, Any], title: str, since: datetime) -> Problem:
    return Problem(
        organization_id=row[CHARGER_ORG],
        charger_id=row["charger_id"],
        connector_id=row["connector_id"],
        since=since,
        title=title,
        details={
            "session_id": row["pk"],
            "ocpp_transaction_id": row["ocpp_transaction_id"],
            "started_at": row["started_at"].isoformat(),
        },
    )


_SESSION_FIELDS = (
    "pk",
    "ocpp_transaction_id",
    "started_at",
    "charger_id",
    "connector_id",
    "connector__connector_id",
    "charger__charge_point_id",
    CHARGER_ORG,
)


def _session_label(row: dict[str, Any]) -> str:
    number = row["connector__connector_id"]
    cpid = row["charger__charge_point_id"]
    return _connector_label(cpid, number) if number else cpid


def problems_session_not_started(*, rules: Rules, now: datetime) -> Problems:
    """A transaction began (the driver was authorized) but energy never flowed: the
    connector has not been Charging since the session started."""
    charged_status = StatusChange.objects.filter(
        connector_id=OuterRef("connector_id"),
        status=Connector.Status.CHARGING,
        reported_at__gte=OuterRef("started_at") - START_SLACK,
    )
    charged_event = SessionEvent.objects.filter(
        session_id=OuterRef("pk"), charging_state="charging"
    )
    rows = (
        _active_sessions(rules)
        .exclude(connector__status=Connector.Status.CHARGING)
        .filter(~Exists(charged_status), ~Exists(charged_event))
        .values(*_SESSION_FIELDS)
        .order_by("pk")
    )
    return _collect(
        [
            _session_problem(
                row,
                f"{_session_label(row)}: session authorized but never started charging",
                row["started_at"],
            )
            for row in rows
        ]
    )


def problems_preparing_too_long(*, rules: Rules, now: datetime) -> Problems:
    rows = (
        Connector.objects.filter(status=Connector.Status.PREPARING, **_accepted("charger__", rules))
        .values(
            "pk", "connector_id", "status_at", "charger_id", "charger__charge_point_id", CHARGER_ORG
        )
        .order_by("pk")
    )
    return _collect(
        [
            Problem(
                organization_id=row[CHARGER_ORG],
                charger_id=row["charger_id"],
                connector_id=row["pk"],
                since=row["status_at"] or now,
                title=f"{_connector_label(row['charger__charge_point_id'], row['connector_id'])} "
                "has been Preparing too long",
            )
            for row in rows
        ]
    )


def problems_session_never_ends(*, rules: Rules, now: datetime) -> Problems:
    shortest = min(rule.threshold_minutes for rule in rules.values())
    rows = (
        _active_sessions(rules)
        .filter(started_at__lt=now - _minutes(shortest))
        .values(*_SESSION_FIELDS)
        .order_by("pk")
    )
    found = []
    for row in rows:
        if row["started_at"] > now - _minutes(rules[row[CHARGER_ORG]].threshold_minutes):
            continue
        hours = (now - row["started_at"]).total_seconds() / 3600
        found.append(
            _session_problem(
                row, f"{_session_label(row)}: session running for {hours:.0f} h", row["started_at"]
            )
        )
    return _collect(found)


def problems_meter_values_missing(*, rules: Rules, now: datetime) -> Problems:
    """Charging, yet no meter value since the threshold: billing and load management
    are blind. Counted from the later of the last sample and the start of Charging."""
    shortest = min(rule.threshold_minutes for rule in rules.values())
    last_sample = (
        MeterSample.objects.filter(
            charger_id=OuterRef("charger_id"), connector_id=OuterRef("connector_id")
        )
        .order_by("-sampled_at")
        .values("sampled_at")[:1]
    )
    rows = (
        Connector.objects.filter(
            status=Connector.Status.CHARGING,
            status_at__lt=now - _minutes(shortest),
            **_accepted("charger__", rules),
        )
        .annotate(last_sample_at=Subquery(last_sample))
        .values(
            "pk",
            "connector_id",
            "status_at",
            "last_sample_at",
            "charger_id",
            "charger__charge_point_id",
            CHARGER_ORG,
        )
        .order_by("pk")
    )
    found = []
    for row in rows:
        since = max(t for t in (row["status_at"], row["last_sample_at"]) if t is not None)
        if since > now - _minutes(rules[row[CHARGER_ORG]].threshold_minutes):
            continue
        minutes = int((now - since).total_seconds() // 60)
        label = _connector_label(row["charger__charge_point_id"], row["connector_id"])
        found.append(
            Problem(
                organization_id=row[CHARGER_ORG],
                charger_id=row["charger_id"],
                connector_id=row["pk"],
                since=since,
                title=f"{label}: charging without meter values for {minutes} min",
                details={
                    "last_sample_at": row["last_sample_at"].isoformat()
                    if row["last_sample_at"]
                    else None
                },
            )
        )
    return _collect(found)


def _windows(rules: Rules) -> dict[int, list[int]]:
    """Organizations grouped by their rule's window: one query per distinct window."""
    grouped: dict[int, list[int]] = defaultdict(list)
    for org_id, rule in rules.items():
        grouped[rule.threshold_minutes].append(org_id)
    return grouped


def _counting(
    *,
    rules: Rules,
    now: datetime,
    rows_for: Callable[[datetime, list[int]], QuerySet[Any]],
    title: Callable[[str, int, int], str],
) -> Problems:
    found = []
    for window, org_ids in sorted(_windows(rules).items()):
        for row in rows_for(now - _minutes(window), org_ids):
            rule = rules[row[CHARGER_ORG]]
            if row["n"] < rule.threshold_count:
                continue
            found.append(
                Problem(
                    organization_id=row[CHARGER_ORG],
                    charger_id=row["charger_id"],
                    connector_id=None,
                    since=now,
                    title=title(row["charger__charge_point_id"], row["n"], window),
                    details={"count": row["n"], "window_minutes": window},
                )
            )
    return _collect(found)


def problems_commands_rejected(*, rules: Rules, now: datetime) -> Problems:
    def rows_for(start: datetime, org_ids: list[int]) -> QuerySet[Any]:
        return (
            CommandLog.objects.filter(
                created_at__gte=start,
                **{f"{CHARGER_ORG}__in": org_ids},
                charger__registration=Charger.Registration.ACCEPTED,
            )
            .filter(
                Q(outcome=CommandLog.Outcome.ERROR)
                | Q(outcome=CommandLog.Outcome.ANSWERED, status__in=REFUSED_STATUSES)
            )
            .values("charger_id", "charger__charge_point_id", CHARGER_ORG)
            .annotate(n=Count("pk"), last=Max("created_at"))
            .order_by("charger_id")
        )

    return _counting(
        rules=rules,
        now=now,
        rows_for=rows_for,
        title=lambda cpid, n, w: f"{cpid} refused {n} remote commands in {w} min",
    )


def problems_repeated_reboots(*, rules: Rules, now: datetime) -> Problems:
    def rows_for(start: datetime, org_ids: list[int]) -> QuerySet[Any]:
        return (
            ChargerEvent.objects.filter(
                kind=ChargerEvent.Kind.BOOT,
                received_at__gte=start,
                **{f"{CHARGER_ORG}__in": org_ids},
                charger__registration=Charger.Registration.ACCEPTED,
            )
            .values("charger_id", "charger__charge_point_id", CHARGER_ORG)
            .annotate(n=Count("pk"))
            .order_by("charger_id")
        )

    return _counting(
        rules=rules,
        now=now,
        rows_for=rows_for,
        title=lambda cpid, n, w: f"{cpid} rebooted {n} times in {w} min",
    )


DETECTORS: dict[str, Callable[..., Problems]] = {
    Kind.CONNECTOR_FAULTED: problems_connector_faulted,
    Kind.CHARGER_OFFLINE: problems_charger_offline,
    Kind.SESSION_NOT_STARTED: problems_session_not_started,
    Kind.PREPARING_TOO_LONG: problems_preparing_too_long,
    Kind.SESSION_NEVER_ENDS: problems_session_never_ends,
    Kind.METER_VALUES_MISSING: problems_meter_values_missing,
    Kind.COMMANDS_REJECTED: problems_commands_rejected,
    Kind.REPEATED_REBOOTS: problems_repeated_reboots,
}


def problems_detect(*, kind: str, rules: Rules, now: datetime) -> Problems:
    """What is wrong now, for one kind, in the organizations of `rules`."""
    if not rules:
        return {}
    return DETECTORS[kind](rules=rules, now=now)


# --- lists for people -----------------------------------------------------------------


def alert_list(
    *,
    user: AnyUser,
    status: str | None = None,
    charge_point_id: str | None = None,
    kind: str | None = None,
) -> QuerySet[Alert]:
    """The alerts the user may see, newest first."""
    alerts = Alert.objects.visible_to(user).select_related(
        "charger", "connector", "acknowledged_by", "rule"
    )
    if status:
        alerts = alerts.filter(status=status)
    if charge_point_id:
        alerts = alerts.filter(charger__charge_point_id=charge_point_id)
    if kind:
        alerts = alerts.filter(kind=kind)
    return alerts.order_by("-opened_at", "-pk")


def alert_get(*, user: AnyUser, alert_id: int) -> Alert:
    alert = alert_list(user=user).filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"No alert {alert_id}.")
    return alert


def alert_open_counts(*, user: AnyUser) -> dict[int, int]:
    """Open alerts per charger id, for the dashboard's badges."""
    rows = (
        Alert.objects.visible_to(user)
        .filter(status=Alert.Status.OPEN)
        .values("charger_id")
        .annotate(n=Count("pk"))
        .order_by("charger_id")
    )
    return {row["charger_id"]: row["n"] for row in rows}
