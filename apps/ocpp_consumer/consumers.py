"""The websocket consumer: one instance per connected charger.

It negotiates the subprotocol, authenticates the charger before accepting the
socket, records the connection through a chargers service, feeds every frame to
the version handler, and runs commands that arrive over the channel layer (from
the API, the admin or a Celery task, in any process) as tasks, so that the
charger's answer to them can arrive while they wait.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import importlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from ocpp.exceptions import OCPPError

from apps.chargers import services
from apps.chargers.models import Charger
from apps.ocpp_consumer.handlers import writers
from apps.ocpp_consumer.handlers.base import HandlerBase
from apps.ocpp_consumer.handlers.orm import domain
from apps.ocpp_consumer.handlers.v16 import Handler16
from apps.ocpp_consumer.handlers.v201 import Handler201
from apps.ocpp_consumer.heap import keeper

log = logging.getLogger(__name__)

# Subprotocol → (version, handler). 2.1 is left out: the package's 2.1 support
# has no ChargePoint class of its own yet (docs/conformance.md).
SUBPROTOCOLS: dict[str, tuple[str, type[HandlerBase]]] = {
    "ocpp1.6": (Charger.OcppVersion.V16, Handler16),
    "ocpp2.0.1": (Charger.OcppVersion.V201, Handler201),
}
# How long an outbound call waits for the charger's answer. Callers across the
# channel layer wait a little longer, so that they hear "timeout" from us.
RESPONSE_TIMEOUT_S = 30
# Close code for a socket replaced by the same charger's newer connection.
CLOSE_TAKEN_OVER = 4000
# Handshakes in progress (websocket.connect received, not yet accepted or refused)
# per server process, above which a new connection is refused at once: load
# shedding in a reconnect storm (settings.OCPP_MAX_PENDING_HANDSHAKES; 0: no
# bound). Past the bound a charger would wait in the ORM queue until daphne's 5 s
# handshake timeout closed it after the server had done its work, then retry and
# pay again; refused at once, it backs off and costs the server nothing. 64 (16x
# the 4 ORM threads of production): on the 2-core VM a process completed ~30
# handshakes/s during a 80/s storm, so 64 drain in ~2 s. Measured there with 1,200
# chargers arriving at 80/s (bench/ocpp_load.py): no bound held 298 and wasted the
# admission of 902; 16 held 296, 32 held 446, 64 held 573, all without waste; 128
# held 739 but 27 admitted connections timed out.
DEFAULT_MAX_PENDING_HANDSHAKES = 64
# Shed connections are logged at most this often, with how many.
SHED_LOG_INTERVAL_S = 1.0


class HandshakeGate:
    """This process's handshakes in progress, and the connections shed above the
    bound. One per process (`handshakes`), used from the server's event loop only,
    so plain counters suffice; `shed` counts every connection shed since start
    (what a benchmark reads)."""

    def __init__(self) -> None:
        self.pending = 0
        self.shed = 0
        self._unlogged = 0
        self._logged_at = float("-inf")
        self._flush: asyncio.TimerHandle | None = None

    @staticmethod
    def limit() -> int:
        return int(getattr(settings, "OCPP_MAX_PENDING_HANDSHAKES", DEFAULT_MAX_PENDING_HANDSHAKES))

    def enter(self) -> bool:
        """Count a new handshake in, or refuse it (False) when the bound is reached."""
        limit = self.limit()
        if 0 < limit <= self.pending:
            self.shed += 1
            self._unlogged += 1
            self._log_soon()
            return False
        self.pending += 1
        return True

    def leave(self) -> None:
        self.pending -= 1

    def _log_soon(self) -> None:
        if self._flush is not None:
            return  # a log line is due: it will count this one too
        delay = self._logged_at + SHED_LOG_INTERVAL_S - time.monotonic()
        if delay <= 0:
            self._log()
        else:
            self._flush = asyncio.get_running_loop().call_later(delay, self._log)

    def _log(self) -> None:
        self._flush = None
        self._logged_at = time.monotonic()
        log.warning(
            "Shed %d connection(s) at the handshake: %d handshakes in progress "
            "(OCPP_MAX_PENDING_HANDSHAKES %d); %d shed since start",
            self._unlogged,
            self.pending,
            self.limit(),
            self.shed,
        )
        self._unlogged = 0


handshakes = HandshakeGate()


def basic_credentials(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None, bool]:
    """(username, password, malformed) from an HTTP Basic Authorization header."""
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        scheme, _, encoded = value.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None, None, True
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None, True
        username, sep, password = decoded.partition(":")
        if not sep:
            return None, None, True
        return username, password, False
    return None, None, False


class _Socket:
    """What the handler sends through: the consumer's socket."""

    def __init__(self, consumer: OcppConsumer) -> None:
        self._consumer = consumer

    async def send(self, text: str) -> None:
        await self._consumer.send(text_data=text)


class OcppConsumer(AsyncWebsocketConsumer):
    cp: HandlerBase | None = None
    charger: Charger | None = None

    async def connect(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        if not handshakes.enter():
            # Before any work: the charger retries with its back-off instead of
            # waiting in a queue of handshakes that would time out anyway.
            await self.close()
            return
        try:
            await self._handshake()
        finally:
            handshakes.leave()

    async def _handshake(self) -> None:
        route = self.scope["url_route"]["kwargs"]
        charge_point_id: str = route["charge_point_id"]
        onboarding_key: str | None = route.get("onboarding_key")
        client = self.scope.get("client") or ("?", 0)

        offered = self.scope.get("subprotocols") or []
        chosen = next((p for p in offered if p in SUBPROTOCOLS), None)
        if chosen is None:
            log.warning(
                "Refused %s from %s: no supported subprotocol in %s",
                charge_point_id,
                client[0],
                offered,
            )
            await self.close()
            return

        username, password, malformed = basic_credentials(self.scope.get("headers", []))
        if malformed:
            log.warning("Refused %s from %s: malformed credentials", charge_point_id, client[0])
            await self.close()
            return
        version, handler_class = SUBPROTOCOLS[chosen]
        # Admission and the connection record: one call, one transaction. It
        # writes last_seen_at: the throttle in _seen() counts from here.
        at = timezone.now()
        admission = await domain(services.charger_admit_connect)(
            charge_point_id=charge_point_id,
            onboarding_key=onboarding_key,
            username=username,
            password=password,
            channel_name=self.channel_name,
            ocpp_version=version,
            at=at,
        )
        if admission.charger is None:
            # Never log the password; the username is the id or an attempt at one.
            log.warning(
                "Refused %s from %s: %s (username %r)",
                charge_point_id,
                client[0],
                admission.refusal,
                username,
            )
            await self.close()
            return

        # Set before anything else is awaited: the connection is recorded, so
        # disconnect() must record its end whatever happens next.
        self.charger = admission.charger
        self.cp = handler_class(self.charger, _Socket(self), response_timeout=RESPONSE_TIMEOUT_S)
        self._seen_written_at = self._connected_at = at
        self._max_frame_bytes: int = settings.OCPP_MAX_FRAME_BYTES
        await self.accept(subprotocol=chosen)
        keeper.charger_connected()
        if admission.replaced_channel:
            # The charger reconnected while its old socket looked open: the new
            # connection wins, the old consumer (in whichever process) closes.
            await self.channel_layer.send(admission.replaced_channel, {"type": "ocpp.takeover"})
        log.info("%s connected (%s, %s)", charge_point_id, chosen, client[0])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' AsyncConsumer.__call__ with a leaner loop. Channels waits for
        the next frame and the next channel-layer message together, with
        asyncio.wait() and a new task per message: per frame a waiter, callbacks on
        two tasks and a task (~4 % of a server's CPU under a MeterValues load,
        py-spy). Here one long-lived task reads the frames, another the channel
        layer, and a lock keeps Channels' rule that a consumer handles one message
        at a time. Whatever ends one of them (StopConsumer after the disconnect, or
        an error, which daphne logs) ends the consumer."""
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        turn = asyncio.Lock()

        async def handle(message: dict[str, Any]) -> None:
            async with turn:
                await self.dispatch(message)

        async def channel_messages() -> None:
            while True:
                await handle(await self.channel_layer.receive(self.channel_name))

        reader: asyncio.Task[None] | None = None
        if self.channel_layer is not None:
            # Named before the first frame: the handshake records it.
            self.channel_name = await self.channel_layer.new_channel()
            reader = asyncio.ensure_future(channel_messages())
        frames = asyncio.ensure_future(self._frames(receive, handle))
        try:
            ended, _ = await asyncio.wait(
                [t for t in (frames, reader) if t is not None],
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in ended:
                task.result()  # StopConsumer, or the error to report
        except StopConsumer:
            pass
        finally:
            for loop in (frames, reader):
                if loop is not None and not loop.done():
                    loop.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop

    @staticmethod
    async def _frames(receive: Any, handle: Any) -> None:
        while True:
            await handle(await receive())

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, without its `aclose_old_connections()` before every
        message: that is a hop to the process's single sync thread per frame (one
        queue for all chargers, ~0.3 ms of CPU each, docs/benchmarks.md). This
        consumer does no ORM work on the event loop: every domain call goes through
        DatabaseSyncToAsync (handlers/orm.py), which closes obsolete connections
        around each call in the thread that runs it."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.cp is None:
            return
        # OCPP-J uses text frames; a binary one is read as UTF-8 text all the same.
        text = (
            text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        )
        try:
            await self.cp.route_message(text, max_bytes=self._max_frame_bytes)
        except Exception:
            # route_message answers everything a charger can send; this is our bug.
            # Keep the connection: the charger will retry its message.
            log.exception("%s: frame handling failed", self.charger)
        await self._seen()

    async def _seen(self) -> None:
        """Any frame proves the charger alive (a busy charger may skip heartbeats),
        but it is noted at most once per SEEN_WRITE_INTERVAL_S per connection, and
        written with every other charger's of this process (writers.PresenceLog):
        not one UPDATE per meter value, nor per charger. The presence sweep's grace
        period allows for that lag."""
        at = datetime.now(UTC)  # per frame: not timezone.now(), which reads a setting
        if (
            self.charger is None
            or (at - self._seen_written_at).total_seconds() < services.SEEN_WRITE_INTERVAL_S
        ):
            return
        silent_s = (at - self._seen_written_at).total_seconds()
        self._seen_written_at = at
        # Only a connection silent long enough for the sweep may need reviving,
        # which is written at once; the common case waits for the next batch.
        if not services.may_have_been_swept(silent_s=silent_s, grace_s=services.PRESENCE_GRACE_S):
            writers.presence_for_loop().note(self.charger.pk, at)
            return
        try:
            await domain(services.charger_seen)(
                charger=self.charger,
                at=at,
                channel_name=self.channel_name,
                connected_at=self._connected_at,
            )
        except Exception:
            # Presence is best effort: the next frame tries again.
            log.exception("%s: recording last seen failed", self.charger)
            self._seen_written_at -= timedelta(seconds=services.SEEN_WRITE_INTERVAL_S)

    async def disconnect(self, code: int) -> None:
        for task in list(getattr(self, "_tasks", ())):
            task.cancel()
        if self.charger is None or self.cp is None:
            keeper.connection_refused()
            return
        keeper.charger_disconnected()
        await domain(services.charger_disconnected)(
            charger=self.charger, channel_name=self.channel_name, at=timezone.now()
        )
        log.info("%s disconnected (%s)", self.charger, code)

    # --- channel-layer messages -----------------------------------------------

    async def ocpp_takeover(self, message: dict[str, Any]) -> None:
        log.info("%s: newer connection took over, closing this one", self.charger)
        await self.close(code=CLOSE_TAKEN_OVER)

    async def ocpp_command(self, message: dict[str, Any]) -> None:
        # Never await the charger's answer here: Channels hands this consumer one
        # message at a time, so the answer (a websocket frame) could not arrive.
        task = asyncio.create_task(self._run_command(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_command(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"type": "ocpp.command.result", "command_id": message["command_id"]}
        try:
            if self.cp is None:
                raise RuntimeError("The charger is not connected.")
            # Imported late: the command catalogue is its own module, loaded only
            # when a command comes.
            commands = importlib.import_module("apps.ocpp_consumer.commands")
            result = await commands.execute(
                self.cp, self.cp.version, message["command"], message.get("params") or {}
            )
            reply |= {"ok": True, "result": result}
        except TimeoutError as exc:  # asyncio.TimeoutError is TimeoutError
            reply |= {"ok": False, "error": "timeout", "message": str(exc)}
        except asyncio.CancelledError:
            reply |= {
                "ok": False,
                "error": "timeout",
                "message": "The charger disconnected before answering.",
            }
        except OCPPError as exc:
            reply |= {"ok": False, "error": "call_error", "message": str(exc)}
        except ValueError as exc:
            reply |= {"ok": False, "error": "bad_request", "message": str(exc)}
        except Exception as exc:
            log.exception("%s: command %s failed", self.charger, message.get("command"))
            reply |= {"ok": False, "error": "error", "message": str(exc)}
        # Shielded: a charger that answers Reset and reboots at once disconnects
        # while the reply is on its way (a round trip to Redis), and disconnect()
        # cancels this task; the caller must still hear the answer.
        await asyncio.shield(self.channel_layer.send(message["reply_channel"], reply))
