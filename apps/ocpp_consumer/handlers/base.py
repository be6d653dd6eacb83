"""What both versions' handlers share: turning a frame into a handler call and the
handler's answer (or failure) into a frame.

`route_message()` replaces the package's: the package drops unparseable frames
silently, swaps NotImplemented/NotSupported, spells 1.6 error codes the 2.0.1 way
and validates in a thread. Here every bad frame gets a CALLERROR in the charger's
version, requests are validated inline, and responses are not validated at run
time (they are built by our code from the package's dataclasses; the end-to-end
tests validate every one with the package, on the charger's side).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from ocpp import messages
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult, MessageType

from apps.chargers import services
from apps.chargers.models import Charger
from apps.chargers.services import ChargerNotAccepted
from apps.ocpp_consumer import frames, mappers

log = logging.getLogger(__name__)

# Outbound calls (apps/ocpp_consumer/commands.py) go through the package's call(),
# which validates with a thread-pool hop per message unless told otherwise. Inline
# validation costs less CPU and no latency tail (docs/conformance.md).
messages.ASYNC_VALIDATION = False


class Socket(Protocol):
    async def send(self, text: str) -> None: ...


class HandlerBase:
    """Mixed into `ocpp.v16.ChargePoint` / `ocpp.v201.ChargePoint`. Don't call
    `start()`: the consumer feeds frames to `route_message()`."""

    # The actions a charger whose registration is not accepted may not send.
    # None: every action but these (2.0.1 answers them SecurityError). A security
    # event is always acknowledged.
    actions_requiring_acceptance: frozenset[str] | None = None
    always_allowed = frozenset({"BootNotification", "SecurityEventNotification"})
    # Filled by the package's base classes.
    _ocpp_version: str
    _response_queue: Any
    _call_lock: Any
    route_map: dict[str, dict[str, Any]]
    known_actions: frozenset[str] = frozenset()

    def __init__(self, charger: Charger, socket: Socket, *, response_timeout: int = 30) -> None:
        super().__init__(charger.charge_point_id, socket, response_timeout=response_timeout)  # type: ignore[call-arg]
        self.charger = charger
        self.accepted = charger.registration == Charger.Registration.ACCEPTED
        # The current request's payload as the charger sent it (camelCase, not
        # rewritten by the package), for the events we keep verbatim.
        self.raw_payload: dict[str, Any] = {}

    @property
    def version(self) -> str:
        return self._ocpp_version

    async def _event(self, kind: str, summary: str, reported_at: str | None = None) -> None:
        """Keep a report (firmware, diagnostics, security, data) as the charger sent it."""
        await domain(services.charger_event_record)(
            charger=self.charger,
            kind=kind,
            summary=summary,
            payload=self.raw_payload,
            reported_at=mappers.parse_timestamp(reported_at) if reported_at else None,
        )

    async def _send(self, message: str) -> None:  # the package's send hook
        await self._connection.send(message)  # type: ignore[attr-defined]

    async def route_message(self, raw: str, *, max_bytes: int) -> None:
        """Handle one frame from the charger. Never raises for anything it sent."""
        try:
            message = frames.parse(raw, max_bytes=max_bytes)
        except frames.FrameError as exc:
            log.info("%s: bad frame (%s): %.200s", self.charger, exc.description, raw)
            if exc.reply:
                await self._send(
                    frames.call_error(self.version, exc.message_id, exc.code, exc.description)
                )
            return
        if message.message_type_id == MessageType.Call:
            assert isinstance(message, Call)  # noqa: S101 - narrows the type for mypy
            await self._send(await self._answer(message))
        elif self._call_lock.locked():
            # A response to our call in flight: call() waits for it on this queue
            # (and skips one with another id).
            self._response_queue.put_nowait(message)
        else:
            # Nobody waits: queueing it would only let a charger fill our memory.
            log.info("%s: response to no call of ours dropped: %.200s", self.charger, raw)

    async def _answer(self, call: Call) -> str:
        version = self.version
        if call.action not in self.known_actions:
            return frames.call_error(
                version, call.unique_id, "NotImplemented", f"Unknown action {call.action}."
            )
        handlers = self.route_map.get(call.action, {})
        handler: Callable[..., Any] | None = handlers.get("_on_action")
        if handler is None:
            return frames.call_error(
                version,
                call.unique_id,
                "NotSupported",
                f"{call.action} is not supported by this central system.",
            )
        if not self.accepted and call.action not in self.always_allowed:
            restricted = self.actions_requiring_acceptance
            if restricted is None or call.action in restricted:
                return frames.call_error(
                    version,
                    call.unique_id,
                    "SecurityError",
                    "The charging station is not accepted (BootNotification).",
                )
        try:
            frames.validate(call, version)
        except frames.FrameError as exc:
            return frames.call_error(version, exc.message_id, exc.code, exc.description)

        self.raw_payload = call.payload
        try:
            response = await handler(**camel_to_snake_case(call.payload))
        except OCPPError as exc:
            return frames.call_error(version, call.unique_id, exc.code, exc.description)
        except (ValueError, ValidationError) as exc:
            # Valid by the schema, but not by its meaning (a timestamp that is not
            # one, a connector numbered 0 for a session...).
            return frames.call_error(
                version, call.unique_id, "PropertyConstraintViolation", str(exc)[:255]
            )
        except ChargerNotAccepted as exc:
            return frames.call_error(version, call.unique_id, "SecurityError", str(exc))
        except Exception:
            log.exception("%s: %s failed", self.charger, call.action)
            return frames.call_error(
                version, call.unique_id, "InternalError", "The central system failed."
            )
        finally:
            self.raw_payload = {}
        payload = snake_to_camel_case(remove_nones(serialize_as_dict(response)))
        return CallResult(call.unique_id, payload).to_json()


def domain(func: Callable[..., Any]) -> Callable[..., Any]:
    """A domain service, called from the event loop: in a worker thread, with the
    database connection handled (one transaction per service)."""
    return database_sync_to_async(func)
