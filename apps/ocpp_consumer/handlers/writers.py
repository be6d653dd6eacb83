"""The server process's background writers, one of each per event loop (per daphne
process):

- `GroupWriter` commits the messages of many chargers together (group commit):
  one for MeterValues (`meter_writer()`), one for 2.0.1 TransactionEvents of
  running sessions (`session_event_writer()`). A consumer hands over its message
  and waits; the writer gathers what arrives within a few milliseconds (and
  whatever arrives while the previous group is being written), stores it with one
  transaction, then wakes each consumer, which only then answers. A message is
  therefore still acknowledged only after it is committed, at a fraction of the
  cost of a transaction per message. If a group fails, each of its messages is
  retried alone, so one bad message fails only itself; a message that fails alone
  is answered with a CALLERROR (the charger resends it) and nothing is
  acknowledged that was not stored.

- `MessageLog` keeps the raw OCPP frames (both directions) for the charger page.
  It is a copy for people, not domain data: frames go into a bounded in-memory
  buffer and are written in bulk every second (or sooner when many are waiting).
  When the buffer is full, new frames are dropped and counted, never waited for.

- `PresenceLog` keeps when each connected charger was last heard from (any
  frame proves it alive) and writes that out with one statement a second. Best
  effort, like the consumer's throttle before it: nothing waits for it, and a
  failed write is tried again with the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from django.conf import settings

from apps.chargers.models import OcppMessage
from apps.chargers.services import message_log
from apps.chargers.services.connections import chargers_seen
from apps.chargers.services.meter_samples import MeterReport, meter_samples_record_many
from apps.chargers.services.session_events import (
    SessionEventReport,
    session_events_record_many,
)
from apps.chargers.services.sessions import SessionResult
from apps.ocpp_consumer.handlers.orm import domain

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Waiting(Generic[T, R]):
    item: T
    future: asyncio.Future[R]


class GroupWriter(Generic[T, R]):
    """Group commit: `store` is a domain service that stores a list of messages in
    one transaction and returns one outcome per message, called with the list as
    its keyword argument `argument`. One write in flight at a time: messages that
    arrive during a write form the next group, so groups grow with the load."""

    def __init__(
        self,
        *,
        name: str,
        store: Callable[..., Sequence[R]],
        argument: str,
        window_s: float,
        max_items: int,
    ) -> None:
        self.name = name
        self.window_s = window_s
        self.max_items = max_items
        self._store = store
        self._argument = argument
        self._waiting: list[_Waiting[T, R]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # For the benchmark and the logs.
        self.groups = 0
        self.items = 0
        self.retried_groups = 0

    async def record(self, item: T) -> R:
        """Store one message; returns its outcome once it is committed, or raises
        what storing it alone raised."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"{self.name}-writer")
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self.window_s > 0 and len(self._waiting) < self.max_items:
                await asyncio.sleep(self.window_s)
            while self._waiting:
                group = self._waiting[: self.max_items]
                del self._waiting[: self.max_items]
                try:
                    await self._write(group)
                except Exception:
                    # A bug of ours, not a storage failure (those are handled in
                    # _write): fail this group's messages (InternalError to the
                    # chargers, which resend), keep the writer running.
                    log.exception("%s: writing a group failed", self.name)
                    for waiting in group:
                        if not waiting.future.done():
                            waiting.future.set_exception(RuntimeError(f"{self.name} writer failed"))

    async def _stored(self, items: list[T]) -> list[R]:
        return list(await domain(self._store)(**{self._argument: items}))

    async def _write(self, group: list[_Waiting[T, R]]) -> None:
        outcomes: list[R | BaseException]
        try:
            outcomes = list(await self._stored([w.item for w in group]))
        except Exception as exc:
            if len(group) == 1:
                outcomes = [exc]
            else:
                log.exception("%s: a group of %d failed; storing each alone", self.name, len(group))
                self.retried_groups += 1
                outcomes = []
                for waiting in group:
                    try:
                        outcomes += await self._stored([waiting.item])
                    except Exception as exc:
                        outcomes.append(exc)
        self.groups += 1
        self.items += len(group)
        for waiting, outcome in zip(group, outcomes, strict=True):
            if waiting.future.done():  # the charger disconnected while it waited
                continue
            if isinstance(outcome, BaseException):
                waiting.future.set_exception(outcome)
            else:
                waiting.future.set_result(outcome)


# --- the raw message log -------------------------------------------------------

# A logged frame keeps at most this much of the text (characters; OCPP frames are
# nearly always ASCII, and the server refuses frames over OCPP_MAX_FRAME_BYTES).
FRAME_LOG_LIMIT = 64 * 1024


class MessageLog:
    """A bounded buffer of frames and the task that writes it out."""

    def __init__(self, *, capacity: int, flush_rows: int, interval_s: float) -> None:
        self.capacity = capacity
        self.flush_rows = flush_rows
        self.interval_s = interval_s
        self._buffer: deque[message_log.LoggedFrame] = deque()
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # since start: frames not logged (buffer full or write failed)
        self._dropped_reported = 0
        self.written = 0

    def append(
        self,
        *,
        charger_id: int,
        direction: str,
        message_type: int | None,
        action: str,
        message_id: str,
        frame: str,
        at: datetime | None = None,
    ) -> None:
        """Queue one frame for the log; never blocks, never raises for a full buffer."""
        if len(self._buffer) >= self.capacity:
            self.dropped += 1
            return
        if len(frame) > FRAME_LOG_LIMIT:
            frame = frame[:FRAME_LOG_LIMIT]
        self._buffer.append(
            message_log.LoggedFrame(
                charger_id=charger_id,
                direction=direction,
                message_type=message_type,
                action=action[:48],
                message_id=message_id[:64],
                frame=frame,
                # Not timezone.now(): it reads a setting, twice per call here.
                at=at or datetime.now(UTC),
            )
        )
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ocpp-message-log")
        if len(self._buffer) >= self.flush_rows:
            self._full.set()

    def pending(self) -> int:
        return len(self._buffer)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.interval_s)
            self._full.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write out everything buffered now (the periodic task, and tests)."""
        async with self._lock:
            while self._buffer:
                rows = [self._buffer.popleft() for _ in range(min(len(self._buffer), 5000))]
                try:
                    self.written += await domain(message_log.ocpp_messages_store)(frames=rows)
                except Exception:
                    log.exception("OCPP message log: writing %d frames failed", len(rows))
                    self.dropped += len(rows)
            if self.dropped != self._dropped_reported:
                log.warning(
                    "OCPP message log: %d frames dropped since start (overload or failed writes)",
                    self.dropped,
                )
                self._dropped_reported = self.dropped


# --- presence ------------------------------------------------------------------

# How often a server process writes out when its chargers were last heard from.
PRESENCE_INTERVAL_S = 1.0


class PresenceLog:
    """When each charger was last heard from, by charger pk, and the task that
    writes it out (`services.chargers_seen`). Bounded by the chargers connected to
    this process: one entry each."""

    def __init__(self, *, interval_s: float) -> None:
        self.interval_s = interval_s
        self._seen: dict[int, datetime] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.written = 0  # since start: statements that wrote a batch
        self.failed = 0  # since start: batches whose write failed (tried again)

    def note(self, charger_id: int, at: datetime) -> None:
        """The charger sent something at `at`; never blocks."""
        known = self._seen.get(charger_id)
        if known is None or known < at:
            self._seen[charger_id] = at
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ocpp-presence")

    def pending(self) -> int:
        return len(self._seen)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.flush()

    async def flush(self) -> None:
        """Write out everything noted now (the periodic task, and tests)."""
        async with self._lock:
            if not self._seen:
                return
            batch, self._seen = self._seen, {}
            try:
                await domain(chargers_seen)(seen=batch)
                self.written += 1
            except Exception:
                self.failed += 1
                log.exception("Recording when %d chargers were last seen failed", len(batch))
                # Kept for the next write, unless a newer time was noted meanwhile.
                for charger_id, at in batch.items():
                    self.note(charger_id, at)


# --- one of each per event loop ------------------------------------------------

MeterWriter = GroupWriter[MeterReport, int]
SessionEventWriter = GroupWriter[SessionEventReport, SessionResult]

_meter_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MeterWriter] = (
    weakref.WeakKeyDictionary()
)
_session_event_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SessionEventWriter] = (
    weakref.WeakKeyDictionary()
)
_message_logs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MessageLog] = (
    weakref.WeakKeyDictionary()
)
_presence_logs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PresenceLog] = (
    weakref.WeakKeyDictionary()
)


def _group_writer(
    writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupWriter[T, R]],
    *,
    name: str,
    store: Callable[..., Sequence[R]],
    argument: str,
) -> GroupWriter[T, R]:
    """This loop's writer in `writers`, made on first use. Every group writer
    gathers for the same window and at most as many messages (settings
    OCPP_METER_BATCH_WINDOW_MS, OCPP_METER_BATCH_MAX)."""
    loop = asyncio.get_running_loop()
    writer = writers.get(loop)
    if writer is None:
        writer = writers[loop] = GroupWriter(
            name=name,
            store=store,
            argument=argument,
            window_s=settings.OCPP_METER_BATCH_WINDOW_MS / 1000,
            max_items=settings.OCPP_METER_BATCH_MAX,
        )
    return writer


def meter_writer() -> MeterWriter:
    """This loop's group writer of MeterValues (both versions)."""
    return _group_writer(
        _meter_writers, name="meter-values", store=meter_samples_record_many, argument="reports"
    )


def session_event_writer() -> SessionEventWriter:
    """This loop's group writer of 2.0.1 TransactionEvents (the groupable ones:
    services.session_event_groupable)."""
    return _group_writer(
        _session_event_writers,
        name="transaction-events",
        store=session_events_record_many,
        argument="events",
    )


def message_log_for_loop() -> MessageLog | None:
    """This process's message log, or None when the log is switched off."""
    if not settings.OCPP_MESSAGE_LOG:
        return None
    loop = asyncio.get_running_loop()
    buffer = _message_logs.get(loop)
    if buffer is None:
        buffer = _message_logs[loop] = MessageLog(
            capacity=settings.OCPP_MESSAGE_LOG_BUFFER,
            flush_rows=1000,
            interval_s=1.0,
        )
    return buffer


def presence_for_loop() -> PresenceLog:
    """This process's presence log."""
    loop = asyncio.get_running_loop()
    presence = _presence_logs.get(loop)
    if presence is None:
        presence = _presence_logs[loop] = PresenceLog(interval_s=PRESENCE_INTERVAL_S)
    return presence


async def background_writes_drain() -> None:
    """Write out what this loop's message log and presence log hold now (for
    tests)."""
    loop = asyncio.get_running_loop()
    for buffer in (_message_logs.get(loop), _presence_logs.get(loop)):
        if buffer is not None:
            await buffer.flush()


def frame_kind(text: str) -> int | None:
    """The message type of a frame we built ([2|3|4, ...]), read without parsing it."""
    head = text.lstrip()[1:4].lstrip()
    if head[:1] in ("2", "3", "4"):
        return int(head[0])
    return None


DIRECTION_IN = OcppMessage.Direction.IN.value
DIRECTION_OUT = OcppMessage.Direction.OUT.value
