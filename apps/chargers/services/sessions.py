"""What chargers report about charging: connector status, sessions (1.6 start/stop,
2.0.1 transaction events) with their meter samples (stored by meter_samples). One
service per message, each in one database transaction: a message is acknowledged
only after it is stored."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F, Q, Subquery

from apps.access.services import Authorization, id_token_authorize, id_token_authorize_stop
from apps.chargers.models import (
    Charger,
    ChargingSession,
    Connector,
    IssuedTransactionId,
    SessionEvent,
    StatusChange,
)

# The meter storage moved to meter_samples; its services stay importable from here.
from apps.chargers.services.meter_samples import (
    ENERGY_REGISTER,
    Sample,
    _record_samples,
)
from apps.chargers.services.meter_samples import (
    MeterReport as MeterReport,
)
from apps.chargers.services.meter_samples import (
    meter_samples_record as meter_samples_record,
)
from apps.chargers.services.meter_samples import (
    meter_samples_record_many as meter_samples_record_many,
)
from apps.chargers.services.registration import require_accepted

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


CONTEXT_BEGIN = "Transaction.Begin"
CONTEXT_END = "Transaction.End"
# A session closed because a new one started on its connector before its stop
# arrived. Such a stop, if it comes later, is still applied.
STOP_REASON_NO_STOP_RECEIVED = "no_stop_received"


@dataclass(frozen=True)
class SessionResult:
    """A session after a start, stop or event, and the decision about the token
    presented with it (None when no token came with the message). `session` is
    None for a stop that matches no session of this charger."""

    session: ChargingSession | None
    authorization: Authorization | None
    duplicate: bool = False


@transaction.atomic
def connector_status_update(
    *,
    charger: Charger,
    connector_id: int,
    status: str,
    at: datetime,
    error_code: str = "",
    vendor_error_code: str = "",
    info: str = "",
) -> None:
    """Keep a status report as history and, unless an offline-queued report is older
    than what we know, as the connector's current status. Connector 0 is the whole
    charger."""
    error_code, vendor_error_code = error_code[:50], vendor_error_code[:50]
    connector: Connector | Subquery | None = None
    if connector_id > 0:
        current = {
            "status": status,
            "error_code": error_code,
            "vendor_error_code": vendor_error_code,
            "status_at": at,
        }
        mine = Connector.objects.filter(charger_id=charger.pk, connector_id=connector_id)
        newer = Q(status_at__isnull=True) | Q(status_at__lte=at)
        if mine.filter(newer).update(**current):
            # The usual report, on a known connector and newer than what we know:
            # one UPDATE, and the history row finds the connector by a subquery
            # (unique per charger; the UPDATE holds that row's lock until commit).
            # Unsliced: LIMIT costs more to compile than it saves.
            connector = Subquery(mine.values("pk"))
        else:
            # A new connector, or an offline-queued report older than its status.
            connector, created = Connector.objects.get_or_create(
                charger=charger, connector_id=connector_id, defaults=current
            )
            if not created and (connector.status_at is None or at >= connector.status_at):
                # Created by a parallel transaction since the UPDATE above.
                Connector.objects.filter(pk=connector.pk).update(**current)
    StatusChange.objects.create(
        charger=charger,
        connector_id=connector.pk if isinstance(connector, Connector) else connector,
        status=status,
        error_code=error_code,
        vendor_error_code=vendor_error_code,
        info=info[:255],
        reported_at=at,
    )


def _connector(charger: Charger, connector_id: int) -> Connector:
    if connector_id < 1:
        raise ValueError("A session runs on a connector numbered from 1.")
    connector, _ = Connector.objects.get_or_create(charger=charger, connector_id=connector_id)
    return connector


def _accepted_connector(charger: Charger, connector_id: int) -> Connector:
    """`require_accepted(charger)` and `_connector(...)`, in one query when the
    connector exists (the usual case): its charger's registration comes with it."""
    if connector_id >= 1:
        try:
            connector = (
                Connector.objects.filter(charger=charger, connector_id=connector_id)
                .annotate(charger_registration=F("charger__registration"))
                .get()
            )
        except Connector.DoesNotExist:
            pass
        else:
            require_accepted(charger, registration=connector.charger_registration)
            return connector
    require_accepted(charger)
    return _connector(charger, connector_id)


def _close_unfinished(connector: Connector | None, at: datetime, keep: int | None = None) -> None:
    """A session still active on a connector where a new one starts never got its
    stop (lost, or the charger rebooted): close it without inventing a reading."""
    if connector is None:
        return
    stale = ChargingSession.objects.filter(connector=connector, state=ChargingSession.State.ACTIVE)
    if keep is not None:
        stale = stale.exclude(pk=keep)
    _close_sessions(stale.select_for_update(), at)


def _close_sessions(sessions: Iterable[ChargingSession], at: datetime) -> None:
    for session in sessions:
        session.state = ChargingSession.State.COMPLETED
        session.stopped_at = max(at, session.started_at)
        session.stop_reason = STOP_REASON_NO_STOP_RECEIVED
        session.save(update_fields=["state", "stopped_at", "stop_reason"])
        log.warning("Session %s closed without a stop: a new one started.", session.pk)


@transaction.atomic
def session_start(
    *,
    charger: Charger,
    connector_id: int,
    id_tag: str,
    meter_start_wh: int,
    started_at: datetime,
) -> SessionResult:
    """A charger started charging (OCPP 1.6 StartTransaction). We issue the session's
    transaction id. The same start sent again (its answer was lost) gets the same
    session. The session is recorded whatever the token's decision: the charger may
    already be delivering energy; the decision tells it whether to go on."""
    connector = _accepted_connector(charger, connector_id)
    authorization = id_token_authorize(zone=charger.zone, uid=id_tag, at=started_at)
    # One read, locked, for both: the same start stored before (a resend), and the
    # sessions still active on the connector (their stop never came).
    same_start = Q(charger=charger, id_tag=id_tag, meter_start_wh=meter_start_wh)
    same_start &= Q(started_at=started_at)
    candidates = list(
        ChargingSession.objects.select_for_update()
        .filter(connector=connector)
        .filter(same_start | Q(state=ChargingSession.State.ACTIVE))
    )
    resent = [
        s
        for s in candidates
        if s.charger_id == charger.pk
        and s.id_tag == id_tag
        and s.meter_start_wh == meter_start_wh
        and s.started_at == started_at
    ]
    if resent:
        return SessionResult(min(resent, key=lambda s: s.pk), authorization, duplicate=True)
    _close_sessions((s for s in candidates if s.state == ChargingSession.State.ACTIVE), started_at)
    token = authorization.id_token
    session = ChargingSession.objects.create(
        charger=charger,
        connector=connector,
        ocpp_transaction_id=str(IssuedTransactionId.objects.create().pk),
        id_tag=id_tag[:36],
        id_token=token,
        person=token.person if token else None,
        vehicle=token.vehicle if token else None,
        meter_start_wh=meter_start_wh,
        started_at=started_at,
    )
    return SessionResult(session, authorization)


@transaction.atomic
def session_stop(
    *,
    charger: Charger,
    transaction_id: str,
    meter_stop_wh: int,
    stopped_at: datetime,
    reason: str = "",
    id_tag: str = "",
    samples: Sequence[Sample] = (),
) -> SessionResult:
    """A charger stopped charging (OCPP 1.6 StopTransaction). Applied once: the same
    stop sent again changes nothing. A transaction id of another charger matches
    nothing here (ids belong to the charger that started them)."""
    session = (
        # of=self: the token is read, not locked (and PostgreSQL locks no
        # nullable side of an outer join).
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("id_token")
        .filter(charger=charger, ocpp_transaction_id=transaction_id)
        .first()
    )
    # The stop is applied whatever the answer; the answer tells the charger about
    # the tag: the starter, a tag of its group or a master pass may always stop.
    authorization = (
        id_token_authorize_stop(
            zone=charger.zone,
            uid=id_tag,
            at=stopped_at,
            started_by=session.id_token if session is not None else None,
        )
        if id_tag
        else None
    )
    if session is None:
        log.warning(
            "%s stopped unknown transaction %s: readings kept, no session changed.",
            charger.charge_point_id,
            transaction_id,
        )
        _record_samples(charger, 0, None, samples)
        return SessionResult(None, authorization)
    if _is_finished(session):
        return SessionResult(session, authorization, duplicate=True)
    _finish(session, stopped_at=stopped_at, meter_stop_wh=meter_stop_wh, reason=reason)
    _record_samples(charger, _connector_number(session), session, samples)
    return SessionResult(session, authorization)


def _is_finished(session: ChargingSession) -> bool:
    return (
        session.state == ChargingSession.State.COMPLETED
        and session.stop_reason != STOP_REASON_NO_STOP_RECEIVED
    )


def _connector_number(session: ChargingSession) -> int:
    return session.connector.connector_id if session.connector else 0


def _finish(
    session: ChargingSession, *, stopped_at: datetime, meter_stop_wh: int | None, reason: str
) -> None:
    if meter_stop_wh is not None and (
        session.meter_start_wh is not None and meter_stop_wh < session.meter_start_wh
    ):
        # A meter that ran backwards (replaced, or reset): the energy is unknown. The
        # reading itself is kept as a sample by the caller.
        log.warning(
            "Session %s: stop reading %s Wh below start %s Wh; energy left unknown.",
            session.pk,
            meter_stop_wh,
            session.meter_start_wh,
        )
        meter_stop_wh = None
    if stopped_at < session.started_at:
        log.warning("Session %s: stop time before start time (charger clock).", session.pk)
        stopped_at = session.started_at
    session.state = ChargingSession.State.COMPLETED
    session.stopped_at = stopped_at
    session.meter_stop_wh = meter_stop_wh
    session.stop_reason = reason[:40]
    session.save(update_fields=["state", "stopped_at", "meter_stop_wh", "stop_reason"])
    session.refresh_from_db(fields=["energy_wh"])


def _energy_wh(samples: Iterable[Sample], *, contexts: tuple[str, ...] = ()) -> int | None:
    """The energy register reading among `samples` (in Wh), preferring the given
    contexts in order, or None when there is none."""
    readings = [
        s
        for s in samples
        if s.measurand == ENERGY_REGISTER and s.phase == "" and s.unit in ("", "Wh", "kWh")
    ]
    for context in (*contexts, None):
        for sample in readings:
            if context is None or sample.context == context:
                value = sample.value * 1000 if sample.unit == "kWh" else sample.value
                return int(value.to_integral_value(rounding=ROUND_HALF_UP))
    return None


@transaction.atomic
def session_event(
    *,
    charger: Charger,
    transaction_id: str,
    kind: str,
    seq_no: int,
    at: datetime,
    trigger: str = "",
    charging_state: str = "",
    offline: bool = False,
    connector_id: int | None = None,
    id_tag: str | None = None,
    stop_reason: str = "",
    samples: Sequence[Sample] = (),
) -> SessionResult:
    """A session started, changed or ended (OCPP 2.0.1 TransactionEvent; the charger
    chose the transaction id). Never refused: an event whose predecessors were lost
    still creates or updates the session. An event already seen (same seqNo) changes
    nothing. Only a new session needs the charger accepted: the events of one
    already running are stored whatever its registration became meanwhile (the
    energy was delivered), which also spares the hot path (Updated events with
    meter values) a registration read per message."""
    session = (
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("connector", "id_token")
        .filter(charger=charger, ocpp_transaction_id=transaction_id)
        .first()
    )
    if session is None:
        require_accepted(charger)
    authorization: Authorization | None = None
    if id_tag and kind == SessionEvent.Kind.ENDED and session is not None:
        # The tag that ends a session: its starter, a tag of the starter's group or
        # a master pass (2.0.1 MasterPassGroupId) may, whatever the zone's policy.
        authorization = id_token_authorize_stop(
            zone=charger.zone, uid=id_tag, at=at, started_by=session.id_token
        )
    elif id_tag:
        authorization = id_token_authorize(zone=charger.zone, uid=id_tag, at=at)
    if session is not None and SessionEvent.objects.filter(session=session, seq_no=seq_no).exists():
        return SessionResult(session, authorization, duplicate=True)

    connector: Connector | None = None
    if connector_id is not None and connector_id > 0:
        connector = _connector(charger, connector_id)
    elif session is None or session.connector is None:
        only = list(Connector.objects.filter(charger=charger).order_by("connector_id")[:2])
        connector = only[0] if len(only) == 1 else None

    token = authorization.id_token if authorization else None
    if session is None:
        _close_unfinished(connector, at)
        session = ChargingSession.objects.create(
            charger=charger,
            connector=connector,
            ocpp_transaction_id=transaction_id[:36],
            id_tag=(id_tag or "")[:36],
            id_token=token,
            person=token.person if token else None,
            vehicle=token.vehicle if token else None,
            meter_start_wh=_energy_wh(samples, contexts=(CONTEXT_BEGIN,))
            if kind == SessionEvent.Kind.STARTED
            else _energy_wh([s for s in samples if s.context == CONTEXT_BEGIN]),
            started_at=at,
            last_seq_no=seq_no,
            had_offline_events=offline,
        )
    else:
        changed = ["last_seq_no", "had_offline_events"]
        session.last_seq_no = max(seq_no, session.last_seq_no or 0)
        session.had_offline_events = session.had_offline_events or offline
        if session.connector is None and connector is not None:
            _close_unfinished(connector, at, keep=session.pk)
            session.connector = connector
            changed.append("connector")
        if id_tag and not session.id_tag:
            session.id_tag = id_tag[:36]
            session.id_token = token
            session.person = token.person if token else None
            session.vehicle = token.vehicle if token else None
            changed += ["id_tag", "id_token", "person", "vehicle"]
        if session.meter_start_wh is None:
            begin = _energy_wh([s for s in samples if s.context == CONTEXT_BEGIN])
            if begin is not None:
                session.meter_start_wh = begin
                changed.append("meter_start_wh")
        if kind == SessionEvent.Kind.STARTED and at < session.started_at:
            session.started_at = at  # the Started event came after a later one
            changed.append("started_at")
        session.save(update_fields=changed)

    if kind == SessionEvent.Kind.ENDED and not _is_finished(session):
        _finish(
            session,
            stopped_at=at,
            meter_stop_wh=_energy_wh(samples, contexts=(CONTEXT_END,)),
            reason=stop_reason,
        )
    _event_row(
        session,
        seq_no=seq_no,
        kind=kind,
        at=at,
        trigger=trigger,
        charging_state=charging_state,
        offline=offline,
    ).save()
    _record_samples(charger, _connector_number(session), session, samples)
    return SessionResult(session, authorization)


def _event_row(
    session: ChargingSession,
    *,
    seq_no: int,
    kind: str,
    at: datetime,
    trigger: str,
    charging_state: str,
    offline: bool,
) -> SessionEvent:
    """The (unsaved) SessionEvent of a TransactionEvent: the one place that maps
    its fields (also for the grouped events of session_events)."""
    return SessionEvent(
        session=session,
        seq_no=seq_no,
        kind=kind,
        trigger=trigger[:40],
        charging_state=charging_state[:24],
        offline=offline,
        reported_at=at,
    )
