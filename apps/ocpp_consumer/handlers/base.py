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

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

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
from apps.ocpp_consumer import frames, mappers, redaction
from apps.ocpp_consumer.handlers import writers
from apps.ocpp_consumer.handlers.orm import domain
from apps.ocpp_consumer.handlers.writers import DIRECTION_IN, DIRECTION_OUT, frame_kind

log = logging.getLogger(__name__)

# Outbound calls (apps/ocpp_consumer/commands.py) go through the package's call(),
# which validates with a thread-pool hop per message unless told otherwise. Inline
# validation costs less CPU and no latency tail (docs/conformance.md).
messages.ASYNC_VALIDATION = False

# camelCase payload key -> the package's snake_case spelling. The package converts
# every key with two regular expressions per message (~0.5 ms for a MeterValues);
# OCPP's keys are a small fixed set, so each is converted once. Bounded, because
# vendor data (customData, DataTransfer) may bring keys of its own.
_SNAKE: dict[str, str] = {}
_SNAKE_MAX = 4096


def snake_keys(data: Any) -> Any:
    """`camel_to_snake_case` of the ocpp package, with the key conversion cached."""
    if isinstance(data, dict):
        converted = {}
        for key, value in data.items():
            snake = _SNAKE.get(key)
            if snake is None:
                snake = next(iter(camel_to_snake_case({key: None})))
                if len(_SNAKE) < _SNAKE_MAX:
                    _SNAKE[key] = snake
            converted[snake] = snake_keys(value)
        return converted
    if isinstance(data, list):
        return [snake_keys(value) for value in data]
    return data


# Outbound calls whose action is remembered for logging their answer.
_CALLS_REMEMBERED = 16


def _call_head(text: str) -> tuple[str, str]:
    """(action, message id) of a CALL we built; ("", id) for anything else."""
    try:
        frame = json.loads(text)
    except ValueError:
        return "", ""
    if isinstance(frame, list) and len(frame) >= 3 and isinstance(frame[1], str):
        action = frame[2] if frame[0] == MessageType.Call and isinstance(frame[2], str) else ""
        return action, frame[1]
    return "", ""


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
        # Our calls awaiting an answer, by message id: their action, for the log.
        self._calls_out: dict[str, str] = {}
        # This process's message log (None: switched off), looked up once per
        # connection rather than per frame (it reads a setting).
        self._journal = writers.message_log_for_loop()

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

    async def _send(self, message: str) -> None:
        """The package's send hook: our calls to the charger (commands)."""
        await self._connection.send(message)  # type: ignore[attr-defined]
        journal = self._journal
        if journal is not None:
            action, message_id = _call_head(message)
            if message_id:
                # The answer is logged under the call's action.
                self._calls_out[message_id] = action
                while len(self._calls_out) > _CALLS_REMEMBERED:
                    del self._calls_out[next(iter(self._calls_out))]
            logged = redaction.redact_call(action, message)
            self._log(journal, DIRECTION_OUT, frame_kind(message), action, message_id, logged)

    async def _reply(self, text: str, action: str, message_id: str) -> None:
        """Answer one of the charger's frames."""
        await self._connection.send(text)  # type: ignore[attr-defined]
        journal = self._journal
        if journal is not None:
            self._log(journal, DIRECTION_OUT, frame_kind(text), action, message_id, text)

    def _log(
        self,
        journal: writers.MessageLog,
        direction: str,
        message_type: int | None,
        action: str,
        message_id: str,
        frame: str,
    ) -> None:
        journal.append(
            charger_id=self.charger.pk,
            direction=direction,
            message_type=message_type,
            action=action,
            message_id=message_id,
            frame=frame,
        )

    async def route_message(self, raw: str, *, max_bytes: int) -> None:
        """Handle one frame from the charger. Never raises for anything it sent."""
        journal = self._journal
        try:
            message = frames.parse(raw, max_bytes=max_bytes)
        except frames.FrameError as exc:
            log.info("%s: bad frame (%s): %.200s", self.charger, exc.description, raw)
            readable_id = "" if exc.message_id == frames.UNREADABLE_ID else exc.message_id
            if journal is not None:
                self._log(journal, DIRECTION_IN, None, "", readable_id, raw)
            if exc.reply:
                await self._reply(
                    frames.call_error(self.version, exc.message_id, exc.code, exc.description),
                    "",
                    exc.message_id,
                )
            return
        if message.message_type_id == MessageType.Call:
            assert isinstance(message, Call)  # noqa: S101 - narrows the type for mypy
            if journal is not None:
                self._log(
                    journal, DIRECTION_IN, MessageType.Call, message.action, message.unique_id, raw
                )
            await self._reply(await self._answer(message), message.action, message.unique_id)
            return
        if journal is not None:
            action = self._calls_out.pop(message.unique_id, "")
            self._log(
                journal, DIRECTION_IN, message.message_type_id, action, message.unique_id, raw
            )
        if self._call_lock.locked():
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
            response = await handler(**snake_keys(call.payload))
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
