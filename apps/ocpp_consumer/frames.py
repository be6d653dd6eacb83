"""OCPP-J framing: parse a text frame into a CALL, CALLRESULT or CALLERROR, check a
CALL's payload against the version's JSON schema, and spell CALLERRORs the way each
version wants them.

The `ocpp` package drops a frame it cannot parse without a word and spells some
error codes the 2.0.1 way on 1.6; this module answers every bad frame with a
CALLERROR the charger's version understands (see docs/conformance.md, "Bad input").
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
from jsonschema.exceptions import best_match
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator

V16 = "1.6"
V201 = "2.0.1"

# Error codes, as the domain of this module names them, and as each version spells
# them (1.6 has "FormationViolation" and "OccurenceConstraintViolation", with its
# typo; 2.0.1 adds RpcFrameworkError and MessageTypeNotSupported).
FORMAT = "format"
OCCURRENCE = "occurrence"
_SPELLING = {
    V16: {
        FORMAT: "FormationViolation",
        OCCURRENCE: "OccurenceConstraintViolation",
        "RpcFrameworkError": "FormationViolation",
        "MessageTypeNotSupported": "FormationViolation",
        "FormatViolation": "FormationViolation",
        "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    },
    V201: {
        FORMAT: "FormatViolation",
        OCCURRENCE: "OccurrenceConstraintViolation",
        "FormationViolation": "FormatViolation",
        "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
    },
}

UNREADABLE_ID = "-1"
_MAX_ID_LENGTH = 36
# Reads the message id of an oversized frame without parsing all of it.
_ID_PREFIX = re.compile(r'^\s*\[\s*[234]\s*,\s*"([^"\\]{1,36})"')


def spell(version: str, code: str) -> str:
    return _SPELLING.get(version, {}).get(code, code)


class FrameError(Exception):
    """A frame we answer with a CALLERROR (`message_id` is "-1" when unreadable), or
    drop when it was a response (`reply` False: a CALLERROR never answers a
    CALLRESULT or CALLERROR)."""

    def __init__(
        self, code: str, description: str, message_id: str = UNREADABLE_ID, *, reply: bool = True
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.message_id = message_id
        self.reply = reply


def call_error(
    version: str,
    message_id: str,
    code: str,
    description: str,
    details: dict[str, Any] | None = None,
) -> str:
    return CallError(message_id, spell(version, code), description, details or {}).to_json()


def _not_json(constant: str) -> Any:
    """NaN, Infinity and -Infinity, which Python's parser reads and JSON does not
    have (RFC 8259): a frame with them is not valid JSON. Read, an infinite
    number made the package's schema check of a `multipleOf` raise
    OverflowError."""
    raise ValueError(f"{constant} is not a JSON value")


def parse(text: str, *, max_bytes: int) -> Call | CallResult | CallError:
    """Turn a frame into a message, or raise FrameError."""
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        match = _ID_PREFIX.match(text[:80])
        raise FrameError(
            FORMAT,
            f"Frame larger than {max_bytes} bytes.",
            match.group(1) if match else UNREADABLE_ID,
        )
    try:
        frame = json.loads(text, parse_constant=_not_json)
    except ValueError as exc:  # JSONDecodeError, and RecursionError's cousins
        raise FrameError("RpcFrameworkError", "Frame is not valid JSON.") from exc
    except RecursionError as exc:
        raise FrameError("RpcFrameworkError", "Frame nests too deeply.") from exc
    if not isinstance(frame, list) or not frame:
        raise FrameError("RpcFrameworkError", "Frame is not a JSON array.")

    message_id = (
        frame[1]
        if len(frame) > 1 and isinstance(frame[1], str) and 0 < len(frame[1]) <= _MAX_ID_LENGTH
        else None
    )
    type_id = frame[0]
    if type_id not in (MessageType.Call, MessageType.CallResult, MessageType.CallError) or (
        isinstance(type_id, bool)
    ):
        raise FrameError(
            "MessageTypeNotSupported",
            f"Unknown message type {type_id!r}.",
            message_id or UNREADABLE_ID,
        )
    is_call = type_id == MessageType.Call
    if message_id is None:
        raise FrameError("RpcFrameworkError", "Message id missing or not a string.", reply=is_call)

    if is_call:
        if len(frame) != 4 or not isinstance(frame[2], str) or not frame[2]:
            raise FrameError("RpcFrameworkError", "A CALL is [2, id, action, payload].", message_id)
        if not isinstance(frame[3], dict):
            raise FrameError(FORMAT, "The payload must be a JSON object.", message_id)
        return Call(message_id, frame[2], frame[3])
    if type_id == MessageType.CallResult:
        if len(frame) != 3 or not isinstance(frame[2], dict):
            raise FrameError("RpcFrameworkError", "Malformed CALLRESULT.", message_id, reply=False)
        return CallResult(message_id, frame[2])
    if len(frame) != 5 or not isinstance(frame[2], str) or not isinstance(frame[4], dict):
        raise FrameError("RpcFrameworkError", "Malformed CALLERROR.", message_id, reply=False)
    return CallError(message_id, frame[2], frame[3], frame[4])


# Compiled validators of the package's schemas, by (action, version). The package's
# jsonschema validator interprets the schema on every message (~0.25 ms for a 1.6
# MeterValues, twice that for a 2.0.1 TransactionEvent). jsonschema-rs compiles it
# once, in Rust: ~1.5 us for that MeterValues, against ~14 us with fastjsonschema's
# generated Python, which also made a set per object checked, and with them the
# collector's young-generation runs (docs/benchmarks.md, sixth session). The same
# draft as the package's (Draft 4, which it uses for every version); formats are
# not checked, as the package does not check them either; no remote references
# are fetched (the schemas have none).
_compiled: dict[tuple[str, str], jsonschema_rs.Draft4Validator] = {}


def _fast_validator(action: str, version: str) -> jsonschema_rs.Draft4Validator:
    key = (action, version)
    fast = _compiled.get(key)
    if fast is None:
        schema = get_validator(MessageType.Call, action, version).schema
        fast = _compiled[key] = jsonschema_rs.Draft4Validator(
            schema, validate_formats=False, offline=True
        )
    return fast


def validate(call: Call, version: str) -> None:
    """Check a CALL's payload against the version's schema, inline (no thread hop:
    see docs/conformance.md), mapping the most relevant violation to its OCPP error
    code. `call.action` must already be known to be an action of `version`: the
    package builds the schema's file name from it.

    A compiled validator answers the common case, a valid payload. Only a payload
    it refuses goes through the package's jsonschema validator, which has the
    final word and picks the error to report (the compiled one words errors
    differently, and refuses a few values the package lets through, such as an
    infinite number)."""
    try:
        fast = _fast_validator(call.action, version)
    except OSError as exc:  # no schema: not an action of this version
        raise FrameError(
            "NotImplemented", f"Unknown action {call.action}.", call.unique_id
        ) from exc
    if fast.is_valid(call.payload):
        return
    validator = get_validator(MessageType.Call, call.action, version)
    error = best_match(validator.iter_errors(call.payload))
    if error is None:
        return
    where = "/".join(str(p) for p in error.absolute_path) or "payload"
    description = f"{where}: {error.message}"[:255]
    match error.validator:
        case "required":
            code = OCCURRENCE
        case "type":
            code = "TypeConstraintViolation"
        case "additionalProperties":
            code = FORMAT
        case _:  # enum, maxLength, minimum, pattern, format...
            code = "PropertyConstraintViolation"
    raise FrameError(code, description, call.unique_id)
