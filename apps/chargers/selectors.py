"""Reads for chargers, scoped by tenancy and explicitly ordered.

The live figures of a session in progress (energy so far, power, the vehicle's state
of charge) come from its stored meter samples, never from memory or estimates: a
figure the charger did not report is None. They are read for a whole page of
connectors or sessions at once, in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Case, OuterRef, Prefetch, Q, QuerySet, Subquery, When
from django.db.models.fields import DateTimeField

from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    CommandLog,
    Connector,
    MeterSample,
)
from apps.chargers.services import ENERGY_REGISTER
from apps.sites.exceptions import Forbidden, NotFound
from apps.sites.tenancy import MANAGE_ROLES, TenantQuerySet

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

POWER_IMPORT = "Power.Active.Import"
STATE_OF_CHARGE = "SoC"

# Multipliers to Wh and W. A sampled value without a unit is in the measurand's
# default unit (OCPP 1.6 §7.31 / 2.0.1 UnitOfMeasure): Wh for energy, W for power.
_TO_WH = {"": Decimal(1), "Wh": Decimal(1), "kWh": Decimal(1000)}
_TO_W = {"": Decimal(1), "W": Decimal(1), "kW": Decimal(1000)}
# Per-phase power is reported per line, as "L1" or "L1-N" (line to neutral): both
# are that line's share. Line-to-line ("L1-L2") and neutral readings are no line's
# share of the total and are not summed.
_LINE_OF_PHASE = {
    "L1": "L1",
    "L2": "L2",
    "L3": "L3",
    "L1-N": "L1",
    "L2-N": "L2",
    "L3-N": "L3",
}
# Where a charger reports the same quantity at several locations at one instant,
# the outlet (what the vehicle gets; the default location) wins.
_PREFERRED_LOCATIONS = ("", "Outlet")


@dataclass(frozen=True)
class LiveSession:
    """A session in progress as its stored samples show it now. Each figure is None
    when the charger has not reported it."""

    id: int
    energy_wh: int | None
    power_w: Decimal | None
    soc_percent: Decimal | None


@dataclass(frozen=True)
class _LatestTimes:
    """When each measurand was last sampled in a session (None: never)."""

    session_id: int
    meter_start_wh: int | None
    energy_at: datetime | None
    power_at: datetime | None
    soc_at: datetime | None


# --- latest samples -------------------------------------------------------------------


_ENERGY = Q(measurand=ENERGY_REGISTER, phase="", unit__in=list(_TO_WH))
_POWER = Q(measurand=POWER_IMPORT, phase__in=["", *_LINE_OF_PHASE], unit__in=list(_TO_W))
_SOC = Q(measurand=STATE_OF_CHARGE)


def _latest_at(session: OuterRef, which: Q) -> Subquery:
    """When the outer row's session was last sampled for `which`."""
    # Walks the (session, sampled_at) index backwards and stops at the first match.
    return Subquery(
        MeterSample.objects.filter(which, session=session)
        .order_by("-sampled_at")
        .values("sampled_at")[:1],
        output_field=DateTimeField(),
    )


def _pick(samples: Iterable[MeterSample]) -> MeterSample | None:
    """One of several readings of the same quantity at the same instant."""
    ordered = sorted(samples, key=lambda s: (s.location not in _PREFERRED_LOCATIONS, s.pk))
    return ordered[0] if ordered else None


def _energy_wh(meter_start_wh: int | None, register: MeterSample | None) -> int | None:
    """Energy so far: the latest register reading minus the start reading, in whole
    Wh as the session's final energy is. Unknown without either reading, or when the
    register went below the start (a replaced or reset meter)."""
    if register is None or meter_start_wh is None:
        return None
    reading = (register.value * _TO_WH[register.unit]).to_integral_value(rounding=ROUND_HALF_UP)
    energy = int(reading) - meter_start_wh
    return energy if energy >= 0 else None


def _power_w(samples: Sequence[MeterSample]) -> Decimal | None:
    """Power at one instant: the total when the charger gave one, otherwise the sum
    of its per-line values."""
    total = _pick(s for s in samples if s.phase == "")
    if total is not None:
        return total.value * _TO_W[total.unit]
    lines: dict[str, list[MeterSample]] = {}
    for sample in samples:
        line = _LINE_OF_PHASE.get(sample.phase)
        if line is not None:
            lines.setdefault(line, []).append(sample)
    if not lines:
        return None
    picked = [_pick(group) for group in lines.values()]
    return sum((s.value * _TO_W[s.unit] for s in picked if s is not None), Decimal(0))


def _live_sessions(times: Sequence[_LatestTimes]) -> dict[int, LiveSession]:
    """The live figures of these sessions, from one query of their latest samples."""
    instants = {at for t in times for at in (t.energy_at, t.power_at, t.soc_at) if at}
    samples: list[MeterSample] = []
    if instants:
        # Candidates only: rows of another measurand's instant are sorted out below.
        samples = list(
            MeterSample.objects.filter(
                _ENERGY | _POWER | _SOC,
                session_id__in=[t.session_id for t in times],
                sampled_at__in=instants,
            ).order_by("pk")
        )
    by_session: dict[int, list[MeterSample]] = {}
    for sample in samples:
        by_session.setdefault(sample.session_id or 0, []).append(sample)

    live = {}
    for t in times:
        rows = by_session.get(t.session_id, [])
        register = _pick(
            s for s in rows if s.sampled_at == t.energy_at and s.measurand == ENERGY_REGISTER
        )
        power = [s for s in rows if s.sampled_at == t.power_at and s.measurand == POWER_IMPORT]
        soc = _pick(s for s in rows if s.sampled_at == t.soc_at and s.measurand == STATE_OF_CHARGE)
        live[t.session_id] = LiveSession(
            id=t.session_id,
            energy_wh=_energy_wh(t.meter_start_wh, register),
            power_w=_power_w(power) if power else None,
            soc_percent=soc.value if soc else None,
        )
    return live


# --- chargers -------------------------------------------------------------------------


def _connectors() -> QuerySet[Connector]:
    """Connectors with their active session (at most one: a database constraint) and
    the instants of its latest samples, read in the connectors' own query."""
    active = ChargingSession.objects.filter(
        connector=OuterRef("pk"), state=ChargingSession.State.ACTIVE
    )
    session = OuterRef("active_session_id")
    return Connector.objects.annotate(
        active_session_id=Subquery(active.values("pk")[:1]),
        active_meter_start_wh=Subquery(active.values("meter_start_wh")[:1]),
        energy_at=_latest_at(session, _ENERGY),
        power_at=_latest_at(session, _POWER),
        soc_at=_latest_at(session, _SOC),
    ).order_by("connector_id")


def _chargers(user: AnyUser) -> TenantQuerySet:
    return (
        Charger.objects.visible_to(user)
        .select_related("zone__property")
        .prefetch_related(Prefetch("connectors", queryset=_connectors()))
    )


def _with_current_sessions(chargers: list[Charger]) -> list[Charger]:
    """Set `current_session` (a LiveSession or None) on every connector of `chargers`
    (fetched through `_chargers`): one query for all their sessions' samples."""
    # Typed Any: the annotations of _connectors() and the attribute set here for the
    # API schema are not model fields.
    connectors: list[Any] = [c for charger in chargers for c in charger.connectors.all()]
    live = _live_sessions(
        [
            _LatestTimes(
                session_id=c.active_session_id,
                meter_start_wh=c.active_meter_start_wh,
                energy_at=c.energy_at,
                power_at=c.power_at,
                soc_at=c.soc_at,
            )
            for c in connectors
            if c.active_session_id is not None
        ]
    )
    for connector in connectors:
        connector.current_session = live.get(connector.active_session_id)
    return chargers


def charger_list(
    *,
    user: AnyUser,
    zone_id: int | None = None,
    property_id: int | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[Charger]:
    """A page of the chargers the user may see, by charge point id, optionally in one
    zone or property; each connector with its current session."""
    chargers = _chargers(user)
    if zone_id is not None:
        chargers = chargers.filter(zone_id=zone_id)
    if property_id is not None:
        chargers = chargers.filter(zone__property_id=property_id)
    chargers = chargers.order_by("charge_point_id")
    page = chargers[offset : offset + limit] if limit is not None else chargers[offset:]
    return _with_current_sessions(list(page))


def charger_get(*, user: AnyUser, charge_point_id: str) -> Charger:
    """One charger by its OCPP identity, each connector with its current session;
    NotFound when it is missing or not visible."""
    charger = _chargers(user).filter(charge_point_id=charge_point_id).first()
    if charger is None:
        raise NotFound(f"No charger with charge point id {charge_point_id!r}.")
    return _with_current_sessions([charger])[0]


# --- sessions -------------------------------------------------------------------------


def _sessions(user: AnyUser) -> TenantQuerySet:
    active = Q(state=ChargingSession.State.ACTIVE)
    # Only a session in progress needs its latest register reading: a finished one
    # has its energy from the database (stop - start), and the CASE keeps the
    # subquery from running for it.
    return (
        ChargingSession.objects.visible_to(user)
        .select_related("charger", "connector")
        .annotate(
            energy_at=Case(
                When(active, then=_latest_at(OuterRef("pk"), _ENERGY)),
                default=None,
                output_field=DateTimeField(),
            )
        )
    )


def _with_live_energy(sessions: list[ChargingSession]) -> list[ChargingSession]:
    """Set `live_energy_wh` on each session: for one in progress, the energy so far
    from its latest register sample (None without one); None for the others."""
    # Typed Any: `energy_at` (from _sessions()) and `live_energy_wh` are not fields.
    rows: list[Any] = sessions
    live = _live_sessions(
        [
            _LatestTimes(
                session_id=s.pk,
                meter_start_wh=s.meter_start_wh,
                energy_at=s.energy_at,
                power_at=None,
                soc_at=None,
            )
            for s in rows
            if s.state == ChargingSession.State.ACTIVE
        ]
    )
    for session in rows:
        current = live.get(session.pk)
        session.live_energy_wh = current.energy_wh if current else None
    return sessions


def session_list(
    *,
    user: AnyUser,
    charge_point_id: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[ChargingSession]:
    """A page of the sessions the user may see, newest first: optionally of one
    charger, in one state, started at or after `since` and before `until`. A charger
    the user cannot see filters down to nothing, exactly like a missing one."""
    sessions = _sessions(user)
    if charge_point_id is not None:
        sessions = sessions.filter(charger__charge_point_id=charge_point_id)
    if state is not None:
        sessions = sessions.filter(state=state)
    if since is not None:
        sessions = sessions.filter(started_at__gte=since)
    if until is not None:
        sessions = sessions.filter(started_at__lt=until)
    sessions = sessions.order_by("-started_at", "-pk")
    page = sessions[offset : offset + limit] if limit is not None else sessions[offset:]
    return _with_live_energy(list(page))


def session_get(*, user: AnyUser, session_id: int) -> ChargingSession:
    """One session by id; NotFound when it is missing or not visible."""
    session = _sessions(user).filter(pk=session_id).first()
    if session is None:
        raise NotFound(f"No session with id {session_id}.")
    return _with_live_energy([session])[0]


# --- meter samples of a session -------------------------------------------------------


def session_meter_samples(
    *, user: AnyUser, session_id: int, offset: int = 0, limit: int = 100
) -> list[MeterSample]:
    """A visible session's meter samples in the order they were taken, each with the
    charger's signature when it signed it (OCPP signed meter values: the data a
    driver checks with the meter's public key, e.g. under German calibration law).
    NotFound when the session is missing or not visible."""
    if not _sessions(user).filter(pk=session_id).exists():
        raise NotFound(f"No session with id {session_id}.")
    return list(
        MeterSample.objects.filter(session_id=session_id).order_by("sampled_at", "pk")[
            offset : offset + limit
        ]
    )


# --- customer information (OCPP 2.0.1 CustomerInformation) ---------------------------

# How the OCPP edge keeps a NotifyCustomerInformation: an "other" charger event with
# the payload as sent (camelCase: requestId, seqNo, tbc, data, generatedAt).
CUSTOMER_INFORMATION_SUMMARY = "NotifyCustomerInformation"
CUSTOMER_INFORMATION_COMMAND = "customer-information"


@dataclass(frozen=True)
class CustomerInformationPart:
    seq_no: int
    generated_at: str
    tbc: bool
    data: str
    received_at: datetime


@dataclass(frozen=True)
class CustomerInformation:
    """What a charger reported for one customer-information request, with the
    command that asked (None when the charger reported under an id of its own)."""

    charge_point_id: str
    request_id: int
    command: CommandLog | None
    parts: list[CustomerInformationPart]

    @property
    def status(self) -> str | None:
        """The charger's answer to the command (Accepted, Rejected, Invalid); None
        before it answered or without a command."""
        if self.command is None or self.command.outcome != CommandLog.Outcome.ANSWERED:
            return None
        return self.command.status

    @property
    def missing_seq_nos(self) -> list[int]:
        """Parts not received below the highest one received."""
        if not self.parts:
            return []
        seen = {part.seq_no for part in self.parts}
        return [n for n in range(max(seen)) if n not in seen]

    @property
    def complete(self) -> bool:
        """Nothing more to wait for: the last part (tbc false) and every part before
        it arrived, or the charger refused, or only a clear was asked for."""
        params = self.command.params if self.command is not None else {}
        if self.status is not None and self.status != "Accepted":
            return True
        if self.status == "Accepted" and params.get("report") is False:
            return True
        return any(not part.tbc for part in self.parts) and not self.missing_seq_nos

    @property
    def data(self) -> str:
        """The parts' data joined in sequence order."""
        return "".join(part.data for part in self.parts)


def customer_information_get(
    *, user: AnyUser, charge_point_id: str, request_id: int
) -> CustomerInformation:
    """What the charger reported for `request_id` (the customer-information command's
    id): personal data, so readable by those who may command the charger (Forbidden
    otherwise). NotFound when the charger is not visible, or neither such a command
    nor a report with that id exists. A retransmitted part counts once."""
    charger = (
        Charger.objects.visible_to(user)
        .filter(charge_point_id=charge_point_id)
        .only("pk", "charge_point_id")
        .first()
    )
    if charger is None:
        raise NotFound(f"No charger with charge point id {charge_point_id!r}.")
    if not Charger.objects.editable_by(user, MANAGE_ROLES).filter(pk=charger.pk).exists():
        raise Forbidden(
            "Customer information is personal data: your role in the charger's "
            f"organization does not allow reading it (it takes one of: "
            f"{', '.join(sorted(MANAGE_ROLES))})."
        )
    command = CommandLog.objects.filter(
        pk=request_id, charger=charger, command=CUSTOMER_INFORMATION_COMMAND
    ).first()
    events = ChargerEvent.objects.filter(
        charger=charger,
        kind=ChargerEvent.Kind.OTHER,
        summary=CUSTOMER_INFORMATION_SUMMARY,
        payload__requestId=request_id,
    ).order_by("received_at", "pk")
    parts: dict[int, CustomerInformationPart] = {}
    for event in events:
        payload = event.payload
        seq_no = payload.get("seqNo")
        if not isinstance(seq_no, int) or seq_no in parts:
            continue
        parts[seq_no] = CustomerInformationPart(
            seq_no=seq_no,
            generated_at=str(payload.get("generatedAt", "")),
            tbc=bool(payload.get("tbc", False)),
            data=str(payload.get("data", "")),
            received_at=event.received_at,
        )
    if command is None and not parts:
        raise NotFound(
            f"Charger {charge_point_id} has no customer information request {request_id}."
        )
    return CustomerInformation(
        charge_point_id=charger.charge_point_id,
        request_id=request_id,
        command=command,
        parts=[parts[n] for n in sorted(parts)],
    )
