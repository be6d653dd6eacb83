"""Charger configuration: read it (1.6 GetConfiguration, 2.0.1 GetVariables or
GetBaseReport + NotifyReport), change keys, apply templates in bulk, and flag the
chargers whose reported configuration differs from their template (drift).

Commands travel through apps.chargers.commands (never inside a database
transaction: the command log is written as the command goes); what comes back is
stored by the small atomic functions below."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from apps.chargers import commands
from apps.chargers.exceptions import (
    ChargerNoAnswer,
    ChargerOffline,
    CommandInvalid,
    CommandRejected,
)
from apps.chargers.models import Charger, ChargerEvent, CommandLog
from apps.monitoring.models import (
    ChargerConfiguration,
    ConfigurationChange,
    ConfigurationDrift,
    ConfigurationTemplate,
)
from apps.sites.exceptions import DomainError, Forbidden, NotFound
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

log = logging.getLogger(__name__)

# How long a charger's configuration reading stays fresh for the periodic refresh,
# and how many chargers one run asks (a modest rate: each reading is a command).
REFRESH_AFTER = timedelta(hours=6)
REFRESH_PER_RUN = 20
# A 2.0.1 base report whose parts never all arrived is given up after this long.
REPORT_WAIT = timedelta(minutes=15)
# How long readings are kept (the latest of each charger always is).
READINGS_KEPT = timedelta(days=90)


def _user_id(user: AnyUser | None) -> int | None:
    """The account's id for a log row (an anonymous user has none)."""
    return int(user.pk) if user is not None and user.is_authenticated and user.pk else None


def _is_v16(charger: Charger) -> bool:
    return charger.ocpp_version == Charger.OcppVersion.V16


def _check_manager(charger: Charger, user: AnyUser | None) -> None:
    """Raises NotFound when the user does not see the charger, Forbidden when they
    may not command it (checked before anything is sent or stored)."""
    if user is None:
        return
    if not Charger.objects.visible_to(user).filter(pk=charger.pk).exists():
        raise NotFound(f"No charger with charge point id {charger.charge_point_id!r}.")
    if not Charger.objects.editable_by(user, MANAGE_ROLES).filter(pk=charger.pk).exists():
        raise Forbidden("Your role in the charger's organization does not allow this.")


# --- reading ------------------------------------------------------------------------


def charger_configuration_read(
    *,
    charger: Charger,
    keys: Sequence[str] | None = None,
    issued_by: AnyUser | None = None,
    source: str = CommandLog.Source.SYSTEM,
    timeout: float | None = None,
) -> ChargerConfiguration:
    """Ask the charger for its configuration (`keys` only, or all of it) and store
    the reading. A 2.0.1 charger asked for all of it answers with a base report in
    parts (NotifyReport): the reading stays pending until `configuration_reports_collect`
    has them all. Raises the command's domain errors (offline, no answer...)."""
    _check_manager(charger, issued_by)
    requested_at = timezone.now()
    result = commands.command_send_sync(
        charger=charger,
        command="get-configuration",
        params={"keys": list(keys)} if keys else {},
        issued_by=issued_by,
        source=source,
        timeout=timeout,
    )
    return _configuration_store(
        charger=charger,
        response=result.response,
        command_id=result.command_id,
        requested_keys=list(keys or []),
        requested_at=requested_at,
    )


@transaction.atomic
def _configuration_store(
    *,
    charger: Charger,
    response: dict[str, Any],
    command_id: int,
    requested_keys: list[str],
    requested_at: datetime,
) -> ChargerConfiguration:
    now = timezone.now()
    if "report_request_id" in response:
        status = response.get("status", "")
        if status != "Accepted":
            raise CommandRejected(
                f"Charger {charger.charge_point_id} refused the configuration report: {status}."
            )
        return ChargerConfiguration.objects.create(
            charger=charger,
            source=ChargerConfiguration.Source.BASE_REPORT,
            status=ChargerConfiguration.Status.PENDING,
            report_request_id=response["report_request_id"],
            command_id=command_id,
            requested_at=requested_at,
        )
    values: dict[str, Any] = {}
    readonly: list[str] = []
    for entry in response.get("configuration", []):
        values[entry["key"]] = entry.get("value")
        if entry.get("readonly"):
            readonly.append(entry["key"])
    reading = ChargerConfiguration.objects.create(
        charger=charger,
        source=(
            ChargerConfiguration.Source.GET_CONFIGURATION
            if _is_v16(charger)
            else ChargerConfiguration.Source.GET_VARIABLES
        ),
        values=values,
        readonly_keys=sorted(readonly),
        unknown_keys=list(response.get("unknown_keys", [])),
        requested_keys=requested_keys,
        command_id=command_id,
        requested_at=requested_at,
        reported_at=now,
    )
    charger_configuration_drift_evaluate(charger=charger, now=now)
    return reading


def _report_label(entry: dict[str, Any]) -> str:
    """A NotifyReport variable as "Component[instance].Variable[instance]", the label
    GetVariables answers carry (apps/ocpp_consumer/commands.py)."""

    def part(named: dict[str, Any]) -> str:
        name = str(named.get("name", ""))
        return f"{name}[{named['instance']}]" if named.get("instance") else name

    return f"{part(entry.get('component', {}))}.{part(entry.get('variable', {}))}"


@transaction.atomic
def configuration_reports_collect(*, now: datetime) -> list[ChargerConfiguration]:
    """Complete the pending 2.0.1 readings whose NotifyReport parts have all arrived
    (kept by the OCPP edge as charger events); give up on those older than
    REPORT_WAIT. Returns the readings completed."""
    completed = []
    pending = (
        ChargerConfiguration.objects.select_for_update()
        .filter(status=ChargerConfiguration.Status.PENDING)
        .select_related("charger")
        .order_by("requested_at", "pk")
    )
    for reading in pending:
        parts: dict[int, dict[str, Any]] = {}
        events = ChargerEvent.objects.filter(
            charger_id=reading.charger_id,
            kind=ChargerEvent.Kind.NOTIFY_REPORT,
            received_at__gte=reading.requested_at,
        ).order_by("received_at", "pk")
        for event in events:
            payload = event.payload or {}
            if payload.get("requestId") == reading.report_request_id:
                parts[int(payload.get("seqNo", 0))] = payload
        last = [seq for seq, p in parts.items() if not p.get("tbc", False)]
        if not last or set(parts) != set(range(max(last) + 1)):
            if reading.requested_at < now - REPORT_WAIT:
                reading.delete()
            continue
        values: dict[str, Any] = {}
        readonly: list[str] = []
        for seq in sorted(parts):
            for entry in parts[seq].get("reportData", []):
                label = _report_label(entry)
                attributes = entry.get("variableAttribute", [])
                actual = next(
                    (a for a in attributes if a.get("type", "Actual") == "Actual"),
                    attributes[0] if attributes else {},
                )
                values[label] = actual.get("value")
                if actual.get("mutability") == "ReadOnly":
                    readonly.append(label)
        reading.values = values
        reading.readonly_keys = sorted(readonly)
        reading.status = ChargerConfiguration.Status.COMPLETE
        reading.reported_at = now
        reading.save(update_fields=["values", "readonly_keys", "status", "reported_at"])
        charger_configuration_drift_evaluate(charger=reading.charger, now=now)
        completed.append(reading)
    return completed


# --- templates and drift ------------------------------------------------------------


def configuration_template_for(*, charger: Charger) -> ConfigurationTemplate | None:
    """The enabled template of the charger's organization that fits it best: same
    OCPP version; vendor and model equal, or blank (any). The most specific wins."""
    candidates = (
        ConfigurationTemplate.objects.filter(
            organization_id=charger.zone.property.organization_id,
            ocpp_version=charger.ocpp_version,
            is_enabled=True,
        )
        .filter(Q(vendor="") | Q(vendor__iexact=charger.vendor))
        .filter(Q(model="") | Q(model__iexact=charger.model))
        .prefetch_related("keys")
        .order_by("-updated_at", "-pk")
    )
    best = sorted(candidates, key=lambda t: (bool(t.model), bool(t.vendor)), reverse=True)
    return best[0] if best else None


def _same_value(expected: str, reported: Any) -> bool:
    """Values compare as text, ignoring surrounding space; booleans without case
    ("True" and "true" are the same setting); lists of a CSL without spaces."""
    if reported is None:
        return False
    a, b = expected.strip(), str(reported).strip()
    if a.lower() in ("true", "false") and b.lower() in ("true", "false"):
        return a.lower() == b.lower()
    return a.replace(" ", "") == b.replace(" ", "")


def _latest_reading(charger: Charger) -> ChargerConfiguration | None:
    return (
        ChargerConfiguration.objects.filter(
            charger=charger, status=ChargerConfiguration.Status.COMPLETE
        )
        .order_by("-requested_at", "-pk")
        .first()
    )


@transaction.atomic
def charger_configuration_drift_evaluate(
    *, charger: Charger, now: datetime
) -> ConfigurationDrift | None:
    """Compare the charger's template with what it reported for each template key
    (the latest reading that covers the key). No template: no drift row."""
    template = configuration_template_for(charger=charger)
    if template is None:
        ConfigurationDrift.objects.filter(charger=charger).delete()
        return None
    readings = list(
        ChargerConfiguration.objects.filter(
            charger=charger, status=ChargerConfiguration.Status.COMPLETE
        ).order_by("-requested_at", "-pk")[:20]
    )
    if not readings:
        return None
    differences = []
    for entry in sorted(template.keys.all(), key=lambda k: k.key):
        reported: Any = None
        for reading in readings:
            if entry.key in reading.values:
                reported = reading.values[entry.key]
                break
            if not reading.requested_keys:
                # A full reading without the key: the charger does not have it.
                break
        if not _same_value(entry.value, reported):
            differences.append({"key": entry.key, "expected": entry.value, "reported": reported})
    drift, _ = ConfigurationDrift.objects.select_for_update().get_or_create(
        charger=charger, defaults={"checked_at": now}
    )
    was_drifted = drift.is_drifted
    drift.template = template
    drift.configuration = readings[0]
    drift.differences = differences
    drift.is_drifted = bool(differences)
    drift.checked_at = now
    if drift.is_drifted and not was_drifted:
        drift.drifted_since = now
    elif not drift.is_drifted:
        drift.drifted_since = None
    drift.save()
    return drift


def configuration_template_drift_refresh(*, template: ConfigurationTemplate, now: datetime) -> int:
    """Re-judge drift for the chargers a template may concern (after its keys were
    edited), from what they last reported: no command is sent. Returns how many
    chargers were judged."""
    chargers = (
        Charger.objects.filter(
            zone__property__organization_id=template.organization_id,
            ocpp_version=template.ocpp_version,
            configurations__status=ChargerConfiguration.Status.COMPLETE,
        )
        .select_related("zone__property")
        .distinct()
        .order_by("pk")
    )
    judged = 0
    for charger in chargers:
        charger_configuration_drift_evaluate(charger=charger, now=now)
        judged += 1
    return judged


# --- changing keys ------------------------------------------------------------------


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
    if _is_v16(charger):
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
        if not _is_v16(charger) and "." not in key:
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
    user_id = _user_id(requested_by)
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
            _check_manager(charger, issued_by)
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
    _check_manager(charger, issued_by)
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
            _check_manager(charger, issued_by)
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
            outcomes[charger.pk] = _configuration_store(
                charger=charger,
                response=answer.response,
                command_id=answer.command_id,
                requested_keys=[],
                requested_at=requested_at,
            )
        except DomainError as exc:
            outcomes[charger.pk] = exc
    return [outcomes[c.pk] for c in chargers]


@transaction.atomic
def configuration_readings_prune(*, now: datetime) -> int:
    """Forget readings older than READINGS_KEPT, except each charger's latest
    complete one (drift is judged from it). Returns how many were deleted."""
    latest = (
        ChargerConfiguration.objects.filter(status=ChargerConfiguration.Status.COMPLETE)
        .values("charger_id")
        .annotate(last=Max("pk"))
        .order_by()
        .values("last")
    )
    deleted, _ = (
        ChargerConfiguration.objects.filter(requested_at__lt=now - READINGS_KEPT)
        .exclude(pk__in=latest)
        .delete()
    )
    return deleted


def configuration_refresh(*, now: datetime, limit: int = REFRESH_PER_RUN) -> int:
    """The periodic job: complete pending 2.0.1 reports, then re-read the online
    chargers whose last reading is oldest (at most `limit`, none read within
    REFRESH_AFTER) — a templated charger its template's keys, another all keys —
    and re-evaluate their drift. Returns how many chargers were read."""
    configuration_reports_collect(now=now)
    configuration_readings_prune(now=now)
    stale = now - REFRESH_AFTER
    online = (
        Charger.objects.exclude(channel_name="")
        .filter(registration=Charger.Registration.ACCEPTED)
        .select_related("zone__property")
    )
    recent = set(
        ChargerConfiguration.objects.filter(requested_at__gte=stale).values_list(
            "charger_id", flat=True
        )
    )
    last_read: dict[int, datetime] = dict(
        ChargerConfiguration.objects.values("charger_id")
        .annotate(last=Max("requested_at"))
        .order_by()
        .values_list("charger_id", "last")
    )
    due = sorted(
        (c for c in online if c.pk not in recent),
        key=lambda c: (c.pk in last_read, last_read.get(c.pk, now), c.pk),
    )[:limit]
    timeout = float(getattr(settings, "MAINTENANCE_COMMAND_TIMEOUT", 20))
    read = 0
    for charger in due:
        template = configuration_template_for(charger=charger)
        keys = [k.key for k in template.keys.all()] if template else None
        try:
            charger_configuration_read(
                charger=charger, keys=keys, source=CommandLog.Source.TASK, timeout=timeout
            )
            read += 1
        except DomainError as exc:
            log.info("%s: configuration not read: %s", charger, exc)
    return read
