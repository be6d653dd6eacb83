"""Reads for the charger page: one charger with its connectors as on the dashboard,
its status timeline, sessions, OCPP messages, commands, reported configuration,
firmware history and the chart of one session's meter samples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.chargers import selectors as charger_selectors
from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    CommandLog,
    MeterSample,
    OcppMessage,
    StatusChange,
)
from apps.chargers.selectors import POWER_IMPORT, STATE_OF_CHARGE
from apps.chargers.services import ENERGY_REGISTER
from apps.monitoring.models import Alert
from apps.monitoring.selectors.dashboard import (
    ChargerRow,
    connector_rows,
    humanize_duration,
    sessions_by_id,
)
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


def charger_for_page(*, user: AnyUser, charge_point_id: str) -> ChargerRow:
    """One charger the user may see, with its connectors as on the dashboard;
    NotFound (from the chargers selector) when it is missing or not visible."""
    charger: Any = charger_selectors.charger_get(user=user, charge_point_id=charge_point_id)
    connectors = list(charger.connectors.all())
    sessions = sessions_by_id(c.active_session_id for c in connectors)
    alerts = list(
        Alert.objects.filter(charger=charger, status=Alert.Status.OPEN)
        .select_related("connector")
        .order_by("-opened_at", "-pk")
    )
    by_connector: dict[int, list[Alert]] = {}
    for alert in alerts:
        if alert.connector_id is not None:
            by_connector.setdefault(alert.connector_id, []).append(alert)
    return ChargerRow(
        charger=charger,
        connectors=connector_rows(charger, sessions, by_connector),
        alerts=[a for a in alerts if a.connector_id is None],
    )


def charger_manageable(*, user: AnyUser, charger: Charger) -> bool:
    """Whether the user's role lets them send commands to this charger."""
    return Charger.objects.editable_by(user, MANAGE_ROLES).filter(pk=charger.pk).exists()


@dataclass(frozen=True)
class TimelineEntry:
    change: StatusChange
    # Until the connector's next reported status; None while it is the latest.
    duration: timedelta | None
    current: bool

    @property
    def duration_text(self) -> str:
        return humanize_duration(self.duration)


def status_timeline(*, charger: Charger, limit: int = 50) -> list[TimelineEntry]:
    """The charger's latest status changes, newest first, each with how long it
    lasted (until the next change of the same connector, or "now" for the current
    one)."""
    changes = list(
        StatusChange.objects.filter(charger=charger)
        .select_related("connector")
        .order_by("-reported_at", "-pk")[: limit + 1]
    )
    # One more than shown: the oldest shown entry's successor is known either way,
    # but whether it is current needs the newer ones, which we have.
    shown = changes[:limit]
    newer_at: dict[int | None, datetime] = {}
    entries = []
    now = timezone.now()
    for change in shown:
        key = change.connector_id
        following = newer_at.get(key)
        current = following is None
        end = following if following is not None else now
        entries.append(
            TimelineEntry(
                change=change,
                duration=max(end - change.reported_at, timedelta(0)),
                current=current,
            )
        )
        newer_at[key] = change.reported_at
    return entries


def charger_sessions(*, charger: Charger) -> QuerySet[ChargingSession]:
    """The charger's sessions, newest first (the table sorts otherwise on request)."""
    return (
        ChargingSession.objects.filter(charger=charger)
        .select_related("connector", "person", "vehicle", "id_token")
        .order_by("-started_at", "-pk")
    )


def charger_messages(*, charger: Charger) -> QuerySet[OcppMessage]:
    """The charger's OCPP message log, newest first."""
    return OcppMessage.objects.filter(charger=charger).order_by("-at", "-pk")


def charger_commands(*, charger: Charger, limit: int = 25) -> list[CommandLog]:
    return list(
        CommandLog.objects.filter(charger=charger)
        .select_related("issued_by")
        .order_by("-created_at", "-pk")[:limit]
    )


@dataclass(frozen=True)
class ConfigurationKey:
    key: str
    value: str | None
    readonly: bool | None


@dataclass(frozen=True)
class Configuration:
    """The charger's configuration as it last reported it (a get-configuration
    answer); `read` is None when it never answered one."""

    read: CommandLog | None
    keys: list[ConfigurationKey]
    unknown_keys: list[str]


def charger_configuration(*, charger: Charger) -> Configuration:
    """The keys of the latest answered get-configuration of this charger."""
    log = (
        CommandLog.objects.filter(
            charger=charger, command="get-configuration", outcome=CommandLog.Outcome.ANSWERED
        )
        .exclude(response__isnull=True)
        .select_related("issued_by")
        .order_by("-answered_at", "-pk")
        .first()
    )
    response = log.response if log is not None and isinstance(log.response, dict) else {}
    keys: list[ConfigurationKey] = []
    report_id = response.get("report_request_id")
    if report_id is not None and not response.get("configuration"):
        keys = _reported_keys(charger=charger, request_id=report_id)
    for entry in response.get("configuration") or []:
        if not isinstance(entry, dict) or "key" not in entry:
            continue
        value = entry.get("value")
        readonly = entry.get("readonly")
        keys.append(
            ConfigurationKey(
                key=str(entry["key"]),
                value=None if value is None else str(value),
                readonly=readonly if isinstance(readonly, bool) else None,
            )
        )
    keys.sort(key=lambda k: k.key.lower())
    unknown = [str(k) for k in response.get("unknown_keys") or []]
    return Configuration(read=log, keys=keys, unknown_keys=unknown)


def _variable_name(part: dict[str, Any]) -> str:
    name = str(part.get("name", ""))
    instance = part.get("instance")
    return f"{name}[{instance}]" if instance else name


def _reported_keys(*, charger: Charger, request_id: object) -> list[ConfigurationKey]:
    """A 2.0.1 charger answers a full configuration read with a base report, sent as
    NotifyReport messages (kept as charger events with the raw payload): the actual
    value of each component's variable, and whether it may be changed."""
    events = ChargerEvent.objects.filter(
        charger=charger, kind=ChargerEvent.Kind.NOTIFY_REPORT, payload__requestId=request_id
    ).order_by("received_at", "pk")
    keys: dict[str, ConfigurationKey] = {}
    for event in events:
        payload = event.payload if isinstance(event.payload, dict) else {}
        for item in payload.get("reportData") or []:
            if not isinstance(item, dict):
                continue
            component = item.get("component") or {}
            variable = item.get("variable") or {}
            key = f"{_variable_name(component)}.{_variable_name(variable)}"
            attributes = [a for a in item.get("variableAttribute") or [] if isinstance(a, dict)]
            actual = next((a for a in attributes if a.get("type", "Actual") == "Actual"), None)
            if actual is None:
                continue
            value = actual.get("value")
            mutability = actual.get("mutability")
            keys[key] = ConfigurationKey(
                key=key,
                value=None if value is None else str(value),
                readonly=None if mutability is None else mutability == "ReadOnly",
            )
    return list(keys.values())


def firmware_events(*, charger: Charger, limit: int = 10) -> list[ChargerEvent]:
    return list(
        ChargerEvent.objects.filter(
            charger=charger, kind=ChargerEvent.Kind.FIRMWARE_STATUS
        ).order_by("-received_at", "-pk")[:limit]
    )


def chart_sessions(
    *, charger: Charger, session_id: int | None = None, limit: int = 10
) -> tuple[list[ChargingSession], ChargingSession | None]:
    """The sessions the chart offers (the latest ones, newest first) and the one to
    draw: `session_id` when it is this charger's, else the session in progress,
    else the latest."""
    sessions = list(
        ChargingSession.objects.filter(charger=charger)
        .select_related("connector")
        .order_by("-started_at", "-pk")[:limit]
    )
    chosen = None
    if session_id is not None:
        chosen = next((s for s in sessions if s.pk == session_id), None) or (
            ChargingSession.objects.filter(charger=charger, pk=session_id)
            .select_related("connector")
            .first()
        )
    if chosen is None:
        active = [s for s in sessions if s.state == ChargingSession.State.ACTIVE]
        chosen = active[0] if active else (sessions[0] if sessions else None)
    return sessions, chosen


# --- a session's curve ----------------------------------------------------------------


@dataclass(frozen=True)
class SessionSeries:
    """A session's power (kW), energy so far (kWh) and state of charge (%) over time,
    as (instant, value) points in time order."""

    power_kw: list[tuple[datetime, float]]
    energy_kwh: list[tuple[datetime, float]]
    soc_percent: list[tuple[datetime, float]]

    @property
    def empty(self) -> bool:
        return not (self.power_kw or self.energy_kwh or self.soc_percent)


_W = {"": Decimal(1), "W": Decimal(1), "kW": Decimal(1000)}
_WH = {"": Decimal(1), "Wh": Decimal(1), "kWh": Decimal(1000)}
_LINES = {"L1": "L1", "L2": "L2", "L3": "L3", "L1-N": "L1", "L2-N": "L2", "L3-N": "L3"}


def session_series(*, session: ChargingSession, max_points: int = 400) -> SessionSeries:
    """The session's curves from its stored meter samples. At one instant the total
    power wins over per-line values (summed otherwise); the outlet reading wins over
    other locations. Long sessions are thinned to at most `max_points` per curve."""
    samples: Sequence[MeterSample] = list(
        MeterSample.objects.filter(session=session)
        .filter(
            Q(measurand=ENERGY_REGISTER, phase="")
            | Q(measurand=POWER_IMPORT)
            | Q(measurand=STATE_OF_CHARGE)
        )
        .only("sampled_at", "measurand", "value", "unit", "phase", "location")
        .order_by("sampled_at", "pk")
    )
    power: dict[datetime, dict[str, Decimal]] = {}
    energy: dict[datetime, Decimal] = {}
    soc: dict[datetime, Decimal] = {}
    for s in samples:
        preferred = s.location in ("", "Outlet")
        if s.measurand == POWER_IMPORT and s.unit in _W:
            line = "" if s.phase == "" else _LINES.get(s.phase)
            if line is None:
                continue
            readings = power.setdefault(s.sampled_at, {})
            if preferred or line not in readings:
                readings[line] = s.value * _W[s.unit]
        elif s.measurand == ENERGY_REGISTER and s.unit in _WH:
            if preferred or s.sampled_at not in energy:
                energy[s.sampled_at] = s.value * _WH[s.unit]
        elif s.measurand == STATE_OF_CHARGE and (preferred or s.sampled_at not in soc):
            soc[s.sampled_at] = s.value

    power_points = []
    for at, lines in sorted(power.items()):
        total = lines[""] if "" in lines else sum(lines.values(), Decimal(0))
        power_points.append((at, float(total / 1000)))
    start = session.meter_start_wh
    if start is None and energy:
        start = int(energy[min(energy)])
    base = start or 0
    # A register below the start reading is a replaced or reset meter: not energy.
    energy_points = [
        (at, float((wh - base) / 1000)) for at, wh in sorted(energy.items()) if wh >= base
    ]
    soc_points = [(at, float(value)) for at, value in sorted(soc.items())]
    return SessionSeries(
        power_kw=_thin(power_points, max_points),
        energy_kwh=_thin(energy_points, max_points),
        soc_percent=_thin(soc_points, max_points),
    )


def _thin(points: list[tuple[datetime, float]], limit: int) -> list[tuple[datetime, float]]:
    """At most `limit` points, evenly picked, always keeping the first and last."""
    if len(points) <= limit or limit < 2:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]
