"""Reads for the live dashboard (the charger page's reads are in charger_page.py).

The dashboard shows every charger a manager may see, grouped property → zone →
charger → connector, with what each connector is doing now. It is read in a fixed
number of queries whatever the number of chargers (the charger list with its
connectors and their live session figures comes from apps.chargers.selectors; the
sessions' people and vehicles and the open alerts are one query each), because the
page polls it every few seconds."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from apps.chargers import selectors as charger_selectors
from apps.chargers.models import (
    Charger,
    ChargingSession,
    Connector,
)
from apps.chargers.selectors import LiveSession
from apps.monitoring.models import Alert
from apps.sites.models import Property

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


def sessions_by_id(ids: Iterable[int]) -> dict[int, ChargingSession]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    sessions = ChargingSession.objects.filter(pk__in=wanted).select_related(
        "person", "vehicle", "id_token"
    )
    return {s.pk: s for s in sessions.order_by("pk")}


def connector_rows(
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
    sessions = sessions_by_id(c.active_session_id for c in connectors)
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
                connectors=connector_rows(charger, sessions, alerts_by_connector),
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
