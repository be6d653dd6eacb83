"""Remote commands to chargers: the only domain module that talks to the channel
layer.

A charger's socket is held by one consumer, in whichever ASGI process it
connected to; `Charger.channel_name` names that consumer's channel. A command
is logged (CommandLog), sent there as an "ocpp.command" message with a fresh
reply channel, and the caller waits on the reply channel for the consumer's
"ocpp.command.result" (the consumer runs apps.ocpp_consumer.commands.execute).
With channels-redis this works across processes and hosts; with the in-memory
layer (embedded mode) only inside the process that holds the socket.

Interfaces (API, admin actions, Celery tasks, management commands) call
`command_send_sync`; async code calls `command_send`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.chargers import credentials
from apps.chargers.exceptions import (
    ChargerNoAnswer,
    ChargerOffline,
    CommandInvalid,
    CommandRejected,
)
from apps.chargers.models import Charger, ChargingSession, CommandLog
from apps.sites.exceptions import DomainError, Forbidden, NotFound
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

logger = logging.getLogger(__name__)

# Every command a charger can be sent, by its domain (and API) name. The OCPP
# edge translates each for 1.6 and 2.0.1 (apps/ocpp_consumer/commands.py).
COMMAND_NAMES: tuple[str, ...] = (
    "reset",
    "remote-start",
    "remote-stop",
    "unlock-connector",
    "change-availability",
    "trigger-message",
    "get-configuration",
    "change-configuration",
    "clear-cache",
    "send-local-list",
    "get-local-list-version",
    "reserve-now",
    "cancel-reservation",
    "set-charging-profile",
    "clear-charging-profile",
    "get-composite-schedule",
    "update-firmware",
    "get-diagnostics",
    "data-transfer",
    "get-transaction-status",
    "set-network-profile",
    "customer-information",
)

# Commands whose request carries an id that the charger repeats in what it reports
# later (remoteStartId in TransactionEvent, requestId in firmware and log status
# notifications and reports, the reservation id). The command's log id is used, so
# that those reports lead back to the command that caused them.
_REQUEST_ID_COMMANDS = frozenset(
    {
        "remote-start",
        "reserve-now",
        "get-configuration",
        "update-firmware",
        "get-diagnostics",
        "customer-information",
    }
)

# Secrets a command may carry, by command: (nested object, field). The command log
# keeps PASSWORD_MASK in their place; the charger gets the real values.
_SECRET_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "set-network-profile": (
        ("apn", "apn_password"),
        ("apn", "sim_pin"),
        ("vpn", "password"),
        ("vpn", "key"),
    ),
}

# How the consumer names a failure -> (outcome, domain error).
_FAILURES: dict[str, tuple[str, type[Exception]]] = {
    "timeout": (CommandLog.Outcome.TIMEOUT, ChargerNoAnswer),
    "bad_request": (CommandLog.Outcome.ERROR, CommandInvalid),
    "call_error": (CommandLog.Outcome.ERROR, CommandRejected),
    "error": (CommandLog.Outcome.ERROR, CommandRejected),
}


@dataclass(frozen=True)
class CommandResult:
    """The charger's answer to a command: `status` as the charger put it
    ("Accepted", "Rejected", "Scheduled", ...) and the whole answer in `response`."""

    command_id: int
    charge_point_id: str
    command: str
    status: str
    response: dict[str, Any]


def command_timeout() -> float:
    """Seconds to wait for the charger's answer, by default. A little longer than the
    consumer's own OCPP call timeout, so that its precise "timeout" report arrives
    before the caller gives up."""
    return float(getattr(settings, "OCPP_COMMAND_TIMEOUT", 35))


async def command_send(
    *,
    charger: Charger | str,
    command: str,
    params: dict[str, Any] | None = None,
    issued_by: AnyUser | None = None,
    source: str,
    # A keyword rather than asyncio.timeout(): the sync wrapper, used by every
    # interface, has to pass it through, and only the wait for the answer is bounded.
    timeout: float | None = None,  # noqa: ASYNC109
) -> CommandResult:
    """Send `command` to `charger` (a row or a charge point id) and return its answer.

    With `issued_by`, the user must see the charger (else NotFound) and manage it
    (else Forbidden). Raises CommandInvalid (unknown command, bad parameters, a
    change of the charger's OCPP password: that is `charger_password_rotate`'s job),
    ChargerOffline, ChargerNoAnswer or CommandRejected; every attempt past the
    permission check is logged in CommandLog with its outcome."""
    _refuse_password_change(command, params)
    return await _command_send(
        charger=charger,
        command=command,
        params=params,
        logged_params=_masked(command, params),
        issued_by=issued_by,
        source=source,
        timeout=timeout,
    )


async def _command_send(
    *,
    charger: Charger | str,
    command: str,
    params: dict[str, Any] | None,
    logged_params: dict[str, Any] | None,
    issued_by: AnyUser | None,
    source: str,
    timeout: float | None,  # noqa: ASYNC109 (see command_send)
) -> CommandResult:
    """`command_send` without the password guard. `logged_params`: what CommandLog
    keeps instead of `params` (a secret masked); None: `params` themselves."""
    if command not in COMMAND_NAMES:
        raise CommandInvalid(
            f"Unknown command {command!r}. Valid commands: {', '.join(sorted(COMMAND_NAMES))}."
        )
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise CommandInvalid(f"{command}: the parameters must be a JSON object.")

    log_id, charge_point_id, channel_name = await database_sync_to_async(_command_log_create)(
        charger=charger,
        command=command,
        params=params if logged_params is None else logged_params,
        issued_by=issued_by,
        source=source,
    )
    if not channel_name:
        await _finish(log_id, outcome=CommandLog.Outcome.OFFLINE, error="The charger is offline.")
        raise ChargerOffline(f"Charger {charge_point_id} is offline: the command was not sent.")

    sent_params = dict(params)
    if command in _REQUEST_ID_COMMANDS and "request_id" not in sent_params:
        sent_params["request_id"] = log_id

    layer = get_channel_layer()
    if layer is None:  # pragma: no cover (CHANNEL_LAYERS is always configured)
        raise CommandRejected("No channel layer is configured.")
    reply_channel = await layer.new_channel()
    message = {
        "type": "ocpp.command",
        "command_id": log_id,
        "command": command,
        "params": sent_params,
        "reply_channel": reply_channel,
    }
    wait = command_timeout() if timeout is None else timeout
    try:
        await layer.send(channel_name, message)
        reply = await asyncio.wait_for(_receive_reply(layer, reply_channel, log_id), wait)
    except ChannelFull:
        await _finish(log_id, outcome=CommandLog.Outcome.ERROR, error="Channel full.")
        raise CommandRejected(
            f"Charger {charge_point_id} has too many commands waiting: try again later."
        ) from None
    except TimeoutError:
        # The consumer may be gone (its process died before marking the charger
        # offline) or the charger is slow: either way, no answer.
        error = f"No answer within {wait:g} s."
        await _finish(log_id, outcome=CommandLog.Outcome.TIMEOUT, error=error)
        raise ChargerNoAnswer(
            f"Charger {charge_point_id} did not answer {command}: {error}"
        ) from None
    except asyncio.CancelledError:
        # The caller went away (an HTTP client hung up): the log must not stay
        # pending forever. The charger may still carry the command out.
        await asyncio.shield(
            _finish(
                log_id,
                outcome=CommandLog.Outcome.TIMEOUT,
                error="The caller stopped waiting before the charger answered.",
            )
        )
        raise

    if not reply.get("ok"):
        kind = str(reply.get("error") or "error")
        detail = str(reply.get("message") or kind)
        outcome, error_class = _FAILURES.get(kind, _FAILURES["error"])
        await _finish(log_id, outcome=outcome, error=f"{kind}: {detail}")
        if error_class is ChargerNoAnswer:
            raise ChargerNoAnswer(f"Charger {charge_point_id} did not answer {command}: {detail}")
        if error_class is CommandInvalid:
            raise CommandInvalid(detail)
        if kind == "call_error":
            raise CommandRejected(f"Charger {charge_point_id} refused {command}: {detail}")
        raise CommandRejected(f"{command} to charger {charge_point_id} failed: {detail}")

    response = reply.get("result")
    if not isinstance(response, dict):
        response = {"status": "", "result": response}
    status = str(response.get("status", ""))
    await _finish(log_id, outcome=CommandLog.Outcome.ANSWERED, status=status, response=response)
    return CommandResult(
        command_id=log_id,
        charge_point_id=charge_point_id,
        command=command,
        status=status,
        response=response,
    )


def command_send_sync(
    *,
    charger: Charger | str,
    command: str,
    params: dict[str, Any] | None = None,
    issued_by: AnyUser | None = None,
    source: str,
    timeout: float | None = None,
) -> CommandResult:
    """`command_send` for synchronous callers: API operations, admin actions, Celery
    tasks, management commands. Blocks until the answer, the timeout or an error."""
    return async_to_sync(command_send)(
        charger=charger,
        command=command,
        params=params,
        issued_by=issued_by,
        source=source,
        timeout=timeout,
    )


def charging_session_transaction_id(
    *, charge_point_id: str, session_id: int, active_only: bool = True
) -> str:
    """The OCPP transaction id of an active session of THIS charger (remote stop, a
    transaction's charging profile). A session of another charger is refused the
    same way as a missing one: one station must never stop another's charge.
    `active_only=False` accepts an ended session too: asking a charger about a
    transaction that ended (GetTransactionStatus) is how one learns whether its
    last messages are still queued."""
    session = (
        ChargingSession.objects.filter(pk=session_id, charger__charge_point_id=charge_point_id)
        .only("ocpp_transaction_id", "state")
        .first()
    )
    if session is None:
        raise CommandInvalid(f"Charger {charge_point_id} has no session {session_id}.")
    if active_only and session.state != ChargingSession.State.ACTIVE:
        raise CommandInvalid(f"Session {session_id} has already ended.")
    return session.ocpp_transaction_id


def charger_has_password(*, charge_point_id: str) -> bool:
    """Whether the charger must log in with HTTP Basic auth (a password hash is
    stored): a network profile of security profile 1 or 2 needs one."""
    return (
        Charger.objects.filter(charge_point_id=charge_point_id).exclude(password_hash="").exists()
    )


# --- internals ------------------------------------------------------------------------


def _masked(command: str, params: dict[str, Any] | None) -> dict[str, Any] | None:
    """`params` with the command's secrets masked for the log; None when it has none."""
    secrets = _SECRET_FIELDS.get(command)
    if not secrets or not isinstance(params, dict):
        return None
    masked = dict(params)
    for outer, field in secrets:
        nested = masked.get(outer)
        if isinstance(nested, dict) and nested.get(field) is not None:
            masked[outer] = {**nested, field: PASSWORD_MASK}
    return masked


async def _receive_reply(layer: Any, reply_channel: str, command_id: int) -> dict[str, Any]:
    while True:
        reply: dict[str, Any] = await layer.receive(reply_channel)
        # The reply channel is this command's own; anything else on it is a bug
        # elsewhere, worth a log line but not worth failing the command for.
        if reply.get("type") == "ocpp.command.result" and reply.get("command_id") == command_id:
            return reply
        logger.warning("Unexpected message on %s: %r", reply_channel, reply)


@transaction.atomic
def _command_log_create(
    *,
    charger: Charger | str,
    command: str,
    params: dict[str, Any],
    issued_by: AnyUser | None,
    source: str,
) -> tuple[int, str, str]:
    """Check the user's rights, log the command as pending; returns the log id, the
    charge point id and the channel to send to ("" when offline), read fresh from
    the database: the row the caller holds may predate a reconnect."""
    charge_point_id = charger if isinstance(charger, str) else charger.charge_point_id
    chargers = Charger.objects.all()
    if issued_by is not None:
        chargers = Charger.objects.visible_to(issued_by)
    row = chargers.filter(charge_point_id=charge_point_id).only("pk", "channel_name").first()
    if row is None:
        raise NotFound(f"No charger with charge point id {charge_point_id!r}.")
    if (
        issued_by is not None
        and not Charger.objects.editable_by(issued_by, MANAGE_ROLES).filter(pk=row.pk).exists()
    ):
        raise Forbidden(
            "Your role in the charger's organization does not allow commands "
            f"(it takes one of: {', '.join(sorted(MANAGE_ROLES))})."
        )
    # The log keeps the issuing account's id (an anonymous user has none).
    user_id = issued_by.pk if issued_by is not None and issued_by.is_authenticated else None
    log = CommandLog.objects.create(
        charger_id=row.pk,
        command=command,
        params=params,
        issued_by_id=user_id,
        source=source,
        outcome=CommandLog.Outcome.PENDING,
    )
    return log.pk, charge_point_id, row.channel_name


async def _finish(
    log_id: int,
    *,
    outcome: str,
    status: str = "",
    response: dict[str, Any] | None = None,
    error: str = "",
) -> None:
    await database_sync_to_async(_command_log_finish)(
        log_id=log_id, outcome=outcome, status=status, response=response, error=error
    )


def _command_log_finish(
    *, log_id: int, outcome: str, status: str, response: dict[str, Any] | None, error: str
) -> None:
    CommandLog.objects.filter(pk=log_id).update(
        outcome=outcome,
        status=status[:40],
        response=response,
        error=error,
        answered_at=timezone.now() if outcome == CommandLog.Outcome.ANSWERED else None,
    )


# --- the charger's OCPP password ------------------------------------------------------
#
# A charger's HTTP Basic auth password lives in two places: its hash here, the
# password in the charger (1.6 AuthorizationKey, 2.0.1 SecurityCtrlr.BasicAuthPassword).
# They must never disagree silently, so the generic change-configuration refuses
# those keys: only `charger_password_send` (called by the rotation service, which
# stores the new hash once the charger accepted) sends them.

# The 1.6 key; the OCPP edge maps it to SecurityCtrlr.BasicAuthPassword for 2.0.1.
PASSWORD_KEY = "AuthorizationKey"  # noqa: S105 (a configuration key name, not a secret)
# What the command log keeps instead of the password.
PASSWORD_MASK = "***"  # noqa: S105 (the placeholder logged instead of a secret)
# Compared without case and without instances ("SecurityCtrlr[1].BasicAuthPassword"):
# a charger that matches keys loosely must not be reachable by a spelling variant.
_PASSWORD_KEYS = frozenset({"authorizationkey", "securityctrlr.basicauthpassword"})


def is_password_key(key: object) -> bool:
    """Whether a change-configuration key names the charger's OCPP password."""
    if not isinstance(key, str):
        return False
    parts = [part.partition("[")[0].strip() for part in key.split(".")]
    return ".".join(parts).lower() in _PASSWORD_KEYS


def password_change_requested(command: str, params: object) -> bool:
    """Whether `command` with `params` would change the charger's OCPP password."""
    if command != "change-configuration" or not isinstance(params, dict):
        return False
    keys: list[object] = [params.get("key")]
    if params.get("component") or params.get("variable"):
        keys.append(f"{params.get('component') or ''}.{params.get('variable') or ''}")
    values = params.get("values")
    if isinstance(values, dict):
        keys.extend(values)
    return any(is_password_key(key) for key in keys)


def _refuse_password_change(command: str, params: object) -> None:
    if password_change_requested(command, params):
        raise CommandInvalid(
            "change-configuration: the charger's OCPP password (AuthorizationKey / "
            "SecurityCtrlr.BasicAuthPassword) is changed only by a password rotation "
            '(the charger admin\'s action "Rotate OCPP password"), which stores the new '
            "password once the charger has accepted it, so that the two never disagree."
        )


async def charger_password_send(
    *,
    charger: Charger | str,
    password: str,
    issued_by: AnyUser | None = None,
    source: str,
) -> CommandResult:
    """Send a new HTTP Basic auth password to the charger (1.6 ChangeConfiguration
    AuthorizationKey, 2.0.1 SetVariables SecurityCtrlr.BasicAuthPassword) and
    return its answer. Stores nothing: `apps.chargers.services.charger_password_rotate`
    keeps the new hash pending while it asks, makes it the password when the charger
    accepts, and leaves it pending when no answer comes (the charger's next login
    with it promotes it). The command log keeps the key and "***".

    Waits the full `command_timeout()`, longer than the consumer's own call
    timeout, so that a late "Accepted" is not taken for no answer."""
    try:
        credentials.validate_password(password)
    except credentials.PasswordPolicyError as exc:
        # Never echo the password itself.
        raise CommandInvalid(str(exc)) from None
    return await _command_send(
        charger=charger,
        command="change-configuration",
        params={"key": PASSWORD_KEY, "value": password},
        logged_params={"key": PASSWORD_KEY, "value": PASSWORD_MASK},
        issued_by=issued_by,
        source=source,
        timeout=None,
    )


# --- one command, many chargers -------------------------------------------------------

T = TypeVar("T")
Item = TypeVar("Item")

# How many chargers one bulk command talks to at once: enough that 20 selected
# chargers take one timeout rather than twenty, few enough not to flood the layer.
BULK_CONCURRENCY = 20


async def for_each_charger(
    chargers: Sequence[Charger | str],
    send: Callable[[Charger | str], Awaitable[T]],
    *,
    concurrency: int = BULK_CONCURRENCY,
) -> list[T | DomainError]:
    """`send` to every charger, `concurrency` at a time; each charger's result or
    domain error (offline, no answer, refused...) in the order given. Other
    exceptions are bugs and propagate."""
    return await _for_each(chargers, send, concurrency=concurrency)


async def _for_each(
    items: Sequence[Item], send: Callable[[Item], Awaitable[T]], *, concurrency: int
) -> list[T | DomainError]:
    limit = asyncio.Semaphore(concurrency)

    async def one(item: Item) -> T | DomainError:
        async with limit:
            try:
                return await send(item)
            except DomainError as exc:
                return exc

    return list(await asyncio.gather(*(one(item) for item in items)))


def sessions_stop_many_sync(
    *,
    sessions: Sequence[tuple[str, int]],
    issued_by: AnyUser | None = None,
    source: str,
    timeout: float | None = None,
) -> list[CommandResult | DomainError]:
    """Ask chargers to stop sessions, concurrently (admin bulk action): `sessions`
    are (charge point id, session id) pairs; each one's CommandResult or domain
    error, in the order given. Each remote-stop is checked and logged on its own."""

    async def stop(pair: tuple[str, int]) -> CommandResult:
        charge_point_id, session_id = pair
        return await command_send(
            charger=charge_point_id,
            command="remote-stop",
            params={"session_id": session_id},
            issued_by=issued_by,
            source=source,
            timeout=timeout,
        )

    async def stop_all() -> list[CommandResult | DomainError]:
        return await _for_each(sessions, stop, concurrency=BULK_CONCURRENCY)

    return async_to_sync(stop_all)()


def command_send_many_sync(
    *,
    chargers: Sequence[Charger | str],
    command: str,
    params: dict[str, Any] | None = None,
    issued_by: AnyUser | None = None,
    source: str,
    timeout: float | None = None,
) -> list[CommandResult | DomainError]:
    """`command_send` to several chargers concurrently (admin bulk actions): each
    charger's CommandResult or its domain error, in the order given. Each command
    is checked and logged on its own."""

    async def send(charger: Charger | str) -> CommandResult:
        return await command_send(
            charger=charger,
            command=command,
            params=params,
            issued_by=issued_by,
            source=source,
            timeout=timeout,
        )

    return async_to_sync(for_each_charger)(chargers, send)
