"""Reads for the live dashboard and the charger page.

The dashboard shows every charger a manager may see, grouped property → zone →
charger → connector, with what each connector is doing now. It is read in a fixed
number of queries whatever the number of chargers (the charger list with its
connectors and their live session figures comes from apps.chargers.selectors; the
sessions' people and vehicles and the open alerts are one query each), because the
page polls it every few seconds."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.chargers import selectors as charger_selectors
from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    CommandLog,
    Connector,
    MeterSample,
    OcppMessage,
    StatusChange,
)
from apps.chargers.selectors import POWER_IMPORT, STATE_OF_CHARGE, LiveSession
from apps.chargers.services import ENERGY_REGISTER
from apps.monitoring.models import Alert
from apps.sites.models import Property
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


# --- what a connector is doing, in the dashboard's words ------------------------------

# The dashboard's states, in the order of the legend. "offline" is the charger's
# connection, not a connector status: a charger without a socket may have last
# said "Charging" an hour ago, and that is not what it is doing now.
STATES: tuple[tuple[str, str], ...] = (
    ("available", "Available"),
    ("preparing", "Preparing"),
    ("charging", "Charging"),
    ("suspended", "Suspended"),
    ("finishing", "Finishing"),
    ("reserved", "Reserved"),
    ("faulted", "Faulted"),
    ("unavailable", "Unavailable"),
    ("offline", "Offline"),
    ("unknown", "Unknown"),
)
STATE_LABELS = dict(STATES)
# The side list of open alerts shows this many, newest first.
ALERTS_LISTED = 30

_STATE_OF_STATUS = {
    Connector.Status.AVAILABLE: "available",
    Connector.Status.PREPARING: "preparing",
    # 2.0.1 "Occupied": a vehicle is plugged in without charging; for a person
    # walking the garage that is the same as preparing.
    Connector.Status.OCCUPIED: "preparing",
    Connector.Status.CHARGING: "charging",
    Connector.Status.SUSPENDED_EV: "suspended",
    Connector.Status.SUSPENDED_EVSE: "suspended",
    Connector.Status.FINISHING: "finishing",
    Connector.Status.RESERVED: "reserved",
    Connector.Status.FAULTED: "faulted",
    Connector.Status.UNAVAILABLE: "unavailable",
    Connector.Status.UNKNOWN: "unknown",
}


def connector_state(*, online: bool, status: str) -> str:
    """The dashboard state of a connector: "offline" whenever its charger has no
    open socket, whatever the connector last reported."""
    if not online:
        return "offline"
    return _STATE_OF_STATUS.get(status, "unknown")  # type: ignore[call-overload]


def session_who(session: ChargingSession) -> str:
    """Who or what is charging: the vehicle and the person, else the token."""
    parts = [str(x) for x in (session.vehicle, session.person) if x is not None]
    if not parts and session.id_token is not None:
        parts.append(session.id_token.label or session.id_token.uid)
    if not parts and session.id_tag:
        parts.append(session.id_tag)
    return " · ".join(parts)


def humanize_duration(delta: timedelta | None) -> str:
    """A duration the way people say it: "2 h 05 min", "4 min 10 s", "12 s"."""
    if delta is None:
        return ""
    seconds = max(int(delta.total_seconds()), 0)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


# --- the dashboard ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectorRow:
    connector: Connector
    state: str
    status_label: str
    session: ChargingSession | None
    live: LiveSession | None
    since: datetime | None
    alerts: list[Alert]

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def who(self) -> str:
        return session_who(self.session) if self.session is not None else ""

    @property
    def duration(self) -> str:
        """How long the connector has been in this session or state, as of now."""
        return humanize_duration(timezone.now() - self.since) if self.since else ""

    @property
    def power_kw(self) -> Decimal | None:
        if self.live is None or self.live.power_w is None:
            return None
        return self.live.power_w / 1000

    @property
    def energy_kwh(self) -> Decimal | None:
        if self.live is None or self.live.energy_wh is None:
            return None
        return Decimal(self.live.energy_wh) / 1000


@dataclass(frozen=True)
class ChargerRow:
    charger: Charger
    connectors: list[ConnectorRow]
    alerts: list[Alert]

    @property
    def online(self) -> bool:
        return self.charger.online

    @property
    def header_signature(self) -> str:
        """Changes with what the charger page's header shows: the connection, the
        last heartbeat, and what a boot reports."""
        c = self.charger
        return _digest(
            (
                c.online,
                c.name,
                c.vendor,
                c.model,
                c.serial_number,
                c.firmware_version,
                c.ocpp_version,
                c.max_power_w,
                c.last_seen_at,
                c.last_boot_at,
                c.connected_at,
                c.disconnected_at,
            )
        )

    @property
    def page_signature(self) -> str:
        """The charger page's live part: its header and its connectors."""
        return _digest((self.header_signature, self.signature))

    @property
    def heartbeat_ago(self) -> str:
        seen = self.charger.last_seen_at
        return humanize_duration(timezone.now() - seen) if seen else ""

    @property
    def connected_for(self) -> str:
        at = self.charger.connected_at
        return humanize_duration(timezone.now() - at) if at else ""

    @property
    def disconnected_ago(self) -> str:
        at = self.charger.disconnected_at
        return humanize_duration(timezone.now() - at) if at else ""

    @property
    def states(self) -> set[str]:
        return {c.state for c in self.connectors} or {"offline" if not self.online else "unknown"}

    @cached_property
    def signature(self) -> str:
        """Changes whenever anything shown for this charger changes (but not with the
        clock): the page swaps in only the chargers whose signature changed, and the
        server renders a card again only when its signature is new."""
        charger = self.charger
        return _digest(
            (
                charger.pk,
                charger.charge_point_id,
                charger.name,
                charger.vendor,
                charger.model,
                self.online,
                [(a.pk, a.title, a.severity) for a in self.alerts],
                [
                    (
                        c.connector.pk,
                        c.connector.connector_id,
                        c.state,
                        c.connector.status,
                        c.connector.error_code,
                        c.connector.vendor_error_code,
                        c.session.pk if c.session else None,
                        c.who,
                        c.live,
                        c.since,
                        [(a.pk, a.title, a.severity) for a in c.alerts],
                    )
                    for c in self.connectors
                ],
            )
        )


@dataclass
class ZoneGroup:
    id: int
    name: str
    chargers: list[ChargerRow] = field(default_factory=list)
    # The chargers' cards as HTML, when the view renders them ahead (cached by
    # signature); empty: the template renders them.
    cards: list[str] = field(default_factory=list)


@dataclass
class PropertyGroup:
    id: int
    name: str
    grid_limit_w: int | None = None
    zones: list[ZoneGroup] = field(default_factory=list)

    @property
    def connectors(self) -> list[ConnectorRow]:
        return [c for zone in self.zones for row in zone.chargers for c in row.connectors]

    @property
    def power_kw(self) -> Decimal:
        """What the property's chargers (those shown) draw now, as they last reported."""
        return sum((c.power_kw for c in self.connectors if c.power_kw is not None), Decimal(0))

    @property
    def grid_limit_kw(self) -> Decimal | None:
        return None if self.grid_limit_w is None else Decimal(self.grid_limit_w) / 1000

    @property
    def charging_count(self) -> int:
        return sum(1 for c in self.connectors if c.state == "charging")


@dataclass(frozen=True)
class Dashboard:
    properties: list[PropertyGroup]
    chargers: list[ChargerRow]
    open_alerts: list[Alert]
    counts: dict[str, int]
    # Every property the user may see, for the filter (including those whose
    # chargers the filters hide).
    property_choices: list[tuple[int, str]]

    @cached_property
    def signature(self) -> str:
        return _digest(
            ([c.signature for c in self.chargers], [a.pk for a in self.open_alerts], self.counts)
        )

    @property
    def listed_alerts(self) -> list[Alert]:
        """The newest open alerts, for the side list (each charger shows its own)."""
        return self.open_alerts[:ALERTS_LISTED]

    @property
    def unlisted_alert_count(self) -> int:
        return max(len(self.open_alerts) - ALERTS_LISTED, 0)

    @property
    def connector_count(self) -> int:
        return sum(self.counts.values())

    @property
    def state_counts(self) -> list[tuple[str, str, int]]:
        """(state, label, how many connectors) in the legend's order."""
        return [(key, label, self.counts[key]) for key, label in STATES]


def _digest(value: Any) -> str:
    return hashlib.blake2b(repr(value).encode(), digest_size=10).hexdigest()


def _open_alerts(user: AnyUser, property_id: int | None) -> list[Alert]:
    alerts = (
        Alert.objects.visible_to(user)
        .filter(status=Alert.Status.OPEN)
        .select_related("charger", "connector")
    )
    if property_id is not None:
        alerts = alerts.filter(charger__zone__property_id=property_id)
    return list(alerts.order_by("-opened_at", "-pk"))


def _sessions_by_id(ids: Iterable[int]) -> dict[int, ChargingSession]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    sessions = ChargingSession.objects.filter(pk__in=wanted).select_related(
        "person", "vehicle", "id_token"
    )
    return {s.pk: s for s in sessions.order_by("pk")}


def _connector_rows(
    charger: Any,
    sessions: dict[int, ChargingSession],
    alerts_by_connector: dict[int, list[Alert]],
) -> list[ConnectorRow]:
    """The connectors of a charger read through apps.chargers.selectors (annotated
    with their active session and its live figures), as the dashboard shows them."""
    rows = []
    for connector in charger.connectors.all():
        session = sessions.get(connector.active_session_id)
        rows.append(
            ConnectorRow(
                connector=connector,
                state=connector_state(online=charger.online, status=connector.status),
                status_label=connector.get_status_display(),
                session=session,
                live=connector.current_session,
                since=session.started_at if session else connector.status_at,
                alerts=alerts_by_connector.get(connector.pk, []),
            )
        )
    return rows


def _matches(row: ChargerRow, query: str) -> bool:
    charger = row.charger
    haystack = [charger.charge_point_id, charger.name, charger.vendor, charger.model]
    haystack += [c.who for c in row.connectors]
    return any(query in text.lower() for text in haystack if text)


def dashboard_get(
    *,
    user: AnyUser,
    property_id: int | None = None,
    state: str | None = None,
    query: str = "",
) -> Dashboard:
    """Every charger the user may see, grouped by property and zone, each connector
    with its state, session, live figures and open alerts. `state` keeps the chargers
    with a connector in that dashboard state; `query` matches the charge point id,
    name, vendor, model or who is charging."""
    chargers: list[Any] = charger_selectors.charger_list(user=user, property_id=property_id)
    connectors = [c for charger in chargers for c in charger.connectors.all()]
    sessions = _sessions_by_id(c.active_session_id for c in connectors)
    alerts = _open_alerts(user, property_id)
    alerts_by_charger: dict[int, list[Alert]] = {}
    alerts_by_connector: dict[int, list[Alert]] = {}
    for alert in alerts:
        if alert.connector_id is not None:
            alerts_by_connector.setdefault(alert.connector_id, []).append(alert)
        else:
            alerts_by_charger.setdefault(alert.charger_id, []).append(alert)

    rows: list[ChargerRow] = []
    for charger in sorted(
        chargers,
        key=lambda c: (c.zone.property.name, c.zone.property_id, c.zone.name, c.zone_id),
    ):
        rows.append(
            ChargerRow(
                charger=charger,
                connectors=_connector_rows(charger, sessions, alerts_by_connector),
                alerts=alerts_by_charger.get(charger.pk, []),
            )
        )

    counts = {key: 0 for key, _ in STATES}
    for row in rows:
        for c in row.connectors:
            counts[c.state] += 1

    if state:
        rows = [r for r in rows if state in r.states]
    if query:
        needle = query.strip().lower()
        rows = [r for r in rows if _matches(r, needle)]

    properties: dict[int, PropertyGroup] = {}
    zones: dict[int, ZoneGroup] = {}
    for row in rows:
        zone = row.charger.zone
        prop = properties.setdefault(
            zone.property_id,
            PropertyGroup(
                id=zone.property_id,
                name=zone.property.name,
                grid_limit_w=zone.property.grid_limit_w,
            ),
        )
        if zone.pk not in zones:
            zones[zone.pk] = ZoneGroup(id=zone.pk, name=zone.name)
            prop.zones.append(zones[zone.pk])
        zones[zone.pk].chargers.append(row)

    choices = list(
        Property.objects.visible_to(user).order_by("name", "pk").values_list("pk", "name")
    )
    return Dashboard(
        properties=list(properties.values()),
        chargers=rows,
        open_alerts=alerts,
        counts=counts,
        property_choices=choices,
    )


# --- the charger page -------------------------------------------------------------------


def charger_for_page(*, user: AnyUser, charge_point_id: str) -> ChargerRow:
    """One charger the user may see, with its connectors as on the dashboard;
    NotFound (from the chargers selector) when it is missing or not visible."""
    charger: Any = charger_selectors.charger_get(user=user, charge_point_id=charge_point_id)
    connectors = list(charger.connectors.all())
    sessions = _sessions_by_id(c.active_session_id for c in connectors)
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
        connectors=_connector_rows(charger, sessions, by_connector),
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
