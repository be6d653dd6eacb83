"""Changing keys: one charger's keys, a template applied in bulk, and reading many
chargers at once; every change is logged as a ConfigurationChange."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from apps.chargers import commands
from apps.chargers.exceptions import ChargerNoAnswer, ChargerOffline, CommandInvalid
from apps.chargers.models import Charger, CommandLog
from apps.monitoring.models import (
    ChargerConfiguration,
    ConfigurationChange,
    ConfigurationDrift,
    ConfigurationTemplate,
)
from apps.monitoring.services.configuration.common import account_id, check_manager, is_v16
from apps.monitoring.services.configuration.drift import configuration_template_for
from apps.monitoring.services.configuration.reading import (
    charger_configuration_read,
    configuration_store,
)
from apps.sites.exceptions import DomainError

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

log = logging.getLogger(__name__)


@dataclass
class ChargerApplyResult:
    """What one charger answered to a template (or a single key change)."""

    charger: Charger
    changes: list[ConfigurationChange] = field(default_factory=list)
    error: str = ""
    drift: ConfigurationDrift | None = None

    @property
    def summary(self) -> str:
        if self.error:
            return self.error
        counts: dict[str, int] = {}
        for change in self.changes:
            counts[change.status] = counts.get(change.status, 0) + 1
        return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"


_STATUSES = {s.value for s in ConfigurationChange.Status}


def _failure_status(exc: Exception) -> str:
    if isinstance(exc, ChargerOffline):
        return ConfigurationChange.Status.OFFLINE
    if isinstance(exc, ChargerNoAnswer):
        return ConfigurationChange.Status.NO_ANSWER
    return ConfigurationChange.Status.ERROR


async def _send_keys(
    charger: Charger,
    pairs: list[tuple[str, str]],
    *,
    issued_by: AnyUser | None,
    source: str,
    timeout: float | None,  # noqa: ASYNC109 (passed through to command_send)
) -> list[tuple[str, str, str, str, int | None]]:
    """Send the keys; (key, value, status, detail, command id) for each. 1.6 takes
    one key per ChangeConfiguration; 2.0.1 gets one SetVariables with all of them."""
    answers: list[tuple[str, str, str, str, int | None]] = []
    if is_v16(charger):
        for key, value in pairs:
            try:
                result = await commands.command_send(
                    charger=charger.charge_point_id,
                    command="change-configuration",
                    params={"key": key, "value": value},
                    issued_by=issued_by,
                    source=source,
                    timeout=timeout,
                )
            except DomainError as exc:
                answers.append((key, value, _failure_status(exc), str(exc)[:255], None))
                if isinstance(exc, ChargerOffline | ChargerNoAnswer):
                    # The rest would only wait for the same silence.
                    for rest_key, rest_value in pairs[len(answers) :]:
                        answers.append(
                            (rest_key, rest_value, _failure_status(exc), "not sent", None)
                        )
                    break
                continue
            status = result.status if result.status in _STATUSES else "Rejected"
            answers.append((key, value, status, "", result.command_id))
        return answers
    try:
        result = await commands.command_send(
            charger=charger.charge_point_id,
            command="change-configuration",
            params={"values": dict(pairs)},
            issued_by=issued_by,
            source=source,
            timeout=timeout,
        )
    except DomainError as exc:
        return [(k, v, _failure_status(exc), str(exc)[:255], None) for k, v in pairs]
    results = result.response.get("results", [])
    for index, (key, value) in enumerate(pairs):
        entry = results[index] if index < len(results) else {}
        status = entry.get("status", "Rejected")
        detail = entry.get("ocpp_status", "") if entry.get("ocpp_status") != status else ""
        answers.append(
            (key, value, status if status in _STATUSES else "Rejected", detail, result.command_id)
        )
    return answers


def _validate_pairs(charger: Charger, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    checked = []
    for key, value in pairs:
        if commands.is_password_key(key):
            raise CommandInvalid(
                f"{key}: the charger's OCPP password is changed by rotating it, "
                "not by a configuration change."
            )
        if not is_v16(charger) and "." not in key:
            raise CommandInvalid(
                f"{key!r}: a 2.0.1 key is written 'Component.Variable' "
                "(e.g. 'OCPPCommCtrlr.HeartbeatInterval')."
            )
        checked.append((key, value))
    return checked


@transaction.atomic
def _changes_record(
    *,
    charger: Charger,
    template: ConfigurationTemplate | None,
    answers: list[tuple[str, str, str, str, int | None]],
    requested_by: AnyUser | None,
    requested_at: datetime,
) -> list[ConfigurationChange]:
    user_id = account_id(requested_by)
    return [
        ConfigurationChange.objects.create(
            charger=charger,
            template=template,
            key=key,
            value=value,
            status=status,
            detail=detail,
            command_id=command_id,
            requested_by_id=user_id,
            requested_at=requested_at,
        )
        for key, value, status, detail, command_id in answers
    ]


def _apply(
    *,
    chargers: Sequence[Charger],
    pairs_for: Callable[[Charger], list[tuple[str, str]]],
    template_for: Callable[[Charger], ConfigurationTemplate | None],
    issued_by: AnyUser | None,
    source: str,
    timeout: float | None,
    reread: bool,
) -> list[ChargerApplyResult]:
    results: dict[int, ChargerApplyResult] = {c.pk: ChargerApplyResult(charger=c) for c in chargers}
    plans: dict[int, list[tuple[str, str]]] = {}
    for charger in chargers:
        try:
            check_manager(charger, issued_by)
            plans[charger.pk] = _validate_pairs(charger, pairs_for(charger))
        except DomainError as exc:
            results[charger.pk].error = str(exc)
    requested_at = timezone.now()
    by_cp = {c.charge_point_id: c for c in chargers if c.pk in plans}

    async def send(cp: Charger | str) -> list[tuple[str, str, str, str, int | None]]:
        charger = by_cp[str(cp)]
        return await _send_keys(
            charger, plans[charger.pk], issued_by=issued_by, source=source, timeout=timeout
        )

    outcomes = async_to_sync(commands.for_each_charger)(list(by_cp), send)
    for charger, outcome in zip(by_cp.values(), outcomes, strict=True):
        result = results[charger.pk]
        if isinstance(outcome, DomainError):
            result.error = str(outcome)
            continue
        result.changes = _changes_record(
            charger=charger,
            template=template_for(charger),
            answers=outcome,
            requested_by=issued_by,
            requested_at=requested_at,
        )
        sent = [c.key for c in result.changes if c.status not in ("Offline", "NoAnswer", "Error")]
        if reread and sent:
            # Read back what the charger now reports: that is what drift is about.
            try:
                charger_configuration_read(
                    charger=charger, keys=sent, source=source, timeout=timeout
                )
            except DomainError as exc:
                log.info("%s: configuration not read back: %s", charger, exc)
            result.drift = ConfigurationDrift.objects.filter(charger=charger).first()
    return [results[c.pk] for c in chargers]


def charger_configuration_change(
    *,
    charger: Charger,
    key: str,
    value: str,
    issued_by: AnyUser | None = None,
    source: str = CommandLog.Source.SYSTEM,
    timeout: float | None = None,
) -> ConfigurationChange:
    """Change one key; the answer (Accepted, RebootRequired, Rejected, NotSupported,
    or why it was not answered) is recorded and the key read back. Raises NotFound /
    Forbidden / CommandInvalid before anything is sent."""
    check_manager(charger, issued_by)
    _validate_pairs(charger, [(key, value)])
    [result] = _apply(
        chargers=[charger],
        pairs_for=lambda c: [(key, value)],
        template_for=lambda c: None,
        issued_by=issued_by,
        source=source,
        timeout=timeout,
        reread=True,
    )
    if result.error:
        raise CommandInvalid(result.error)
    return result.changes[0]


def configuration_template_apply(
    *,
    template: ConfigurationTemplate | None = None,
    chargers: Sequence[Charger],
    issued_by: AnyUser | None = None,
    source: str = CommandLog.Source.SYSTEM,
    timeout: float | None = None,
) -> list[ChargerApplyResult]:
    """Send a template's keys to chargers (concurrently; one charger's keys in
    order), record every answer, read the keys back and re-evaluate drift.
    Without `template`, each charger gets the template that fits it. A charger
    without one, or of another organization or OCPP version, is reported, not sent."""

    def template_for(charger: Charger) -> ConfigurationTemplate | None:
        if template is None:
            return configuration_template_for(charger=charger)
        if (
            template.organization_id != charger.zone.property.organization_id
            or template.ocpp_version != charger.ocpp_version
        ):
            return None
        return template

    chosen = {c.pk: template_for(c) for c in chargers}

    def pairs_for(charger: Charger) -> list[tuple[str, str]]:
        chosen_template = chosen[charger.pk]
        if chosen_template is None:
            raise CommandInvalid(
                "No configuration template fits this charger "
                f"(OCPP {charger.ocpp_version}, {charger.vendor or '?'} {charger.model or '?'})."
            )
        return [(k.key, k.value) for k in sorted(chosen_template.keys.all(), key=lambda k: k.pk)]

    return _apply(
        chargers=chargers,
        pairs_for=pairs_for,
        template_for=lambda c: chosen[c.pk],
        issued_by=issued_by,
        source=source,
        timeout=timeout,
        reread=True,
    )


def configuration_read_many(
    *,
    chargers: Sequence[Charger],
    issued_by: AnyUser | None = None,
    source: str = CommandLog.Source.SYSTEM,
    timeout: float | None = None,
) -> list[ChargerConfiguration | DomainError]:
    """Read several chargers' configurations at once (the admin action): all keys on
    1.6, the configuration report on 2.0.1. Each charger's reading or domain error,
    in the order given."""
    outcomes: dict[int, ChargerConfiguration | DomainError] = {}
    allowed: list[Charger] = []
    for charger in chargers:
        try:
            check_manager(charger, issued_by)
            allowed.append(charger)
        except DomainError as exc:
            outcomes[charger.pk] = exc
    by_cp = {c.charge_point_id: c for c in allowed}

    async def send(charge_point_id: Charger | str) -> commands.CommandResult:
        return await commands.command_send(
            charger=charge_point_id,
            command="get-configuration",
            params={},
            issued_by=issued_by,
            source=source,
            timeout=timeout,
        )

    requested_at = timezone.now()
    answers = async_to_sync(commands.for_each_charger)(list(by_cp), send)
    for charger, answer in zip(by_cp.values(), answers, strict=True):
        if isinstance(answer, DomainError):
            outcomes[charger.pk] = answer
            continue
        try:
            outcomes[charger.pk] = configuration_store(
                charger=charger,
                response=answer.response,
                command_id=answer.command_id,
                requested_keys=[],
                requested_at=requested_at,
            )
        except DomainError as exc:
            outcomes[charger.pk] = exc
    return [outcomes[c.pk] for c in chargers]
