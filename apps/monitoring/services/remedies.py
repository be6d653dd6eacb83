"""Self-healing: automatic remedies for open alerts, with back-off, a cap per
charger and day, and escalation to a person when they do not help.

Planning runs inside the alert evaluation (no I/O: it only writes RemedyAttempt
rows). Sending runs after that transaction commits, as one Celery task per
evaluation round (`monitoring.remedy_attempts_execute`), which sends all of the
round's commands concurrently through `apps.chargers.commands`. So:

- in production the evaluation never waits for a charger: a worker does;
- in embedded mode (CELERY_TASK_ALWAYS_EAGER) the task runs right after the
  evaluation's commit, in the scheduler thread, and a round of remedies costs at
  most one command timeout (two for the availability toggle), however many
  chargers are involved, with no database transaction held open meanwhile.

Commands are not idempotent and are never retried by Celery: the next attempt is
the next evaluation's decision, after the back-off, and every attempt is in the
log (RemedyAttempt here, CommandLog with source "system" in the chargers app)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from apps.chargers.commands import command_send
from apps.chargers.exceptions import ChargerNoAnswer, ChargerOffline
from apps.chargers.models import Charger, CommandLog
from apps.monitoring.models import Alert, AlertRule, RemedyAttempt
from apps.sites.exceptions import DomainError

log = logging.getLogger(__name__)

Remedy = AlertRule.Remedy
Outcome = RemedyAttempt.Outcome
DAY = timedelta(hours=24)
# Remedies that act on the whole charger.
CHARGER_WIDE = frozenset({Remedy.SOFT_RESET, Remedy.HARD_RESET})
# What a charger answers when it will do (or has done) what was asked.
ACCEPTED_STATUSES = frozenset({"Accepted", "Scheduled", "Unlocked"})


@dataclass(frozen=True)
class RemedyPlan:
    attempts: list[RemedyAttempt]
    # alert id → why a person must now look at it
    escalations: dict[int, str]


def backoff(rule: AlertRule, attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th attempt before the next step (the
    next attempt, or judging that it failed): doubles each time."""
    return timedelta(minutes=rule.remedy_backoff_minutes * 2 ** max(attempts - 1, 0))


def _applies(rule: AlertRule, alert: Alert) -> bool:
    if not rule.remedy or alert.kind not in AlertRule.REMEDIABLE_KINDS:
        return False
    if alert.connector_id is None and rule.remedy == Remedy.UNLOCK_CONNECTOR:
        return False  # a fault of the whole charger: no connector to unlock
    if alert.kind == AlertRule.Kind.CONNECTOR_FAULTED and rule.error_codes:
        return str(alert.details.get("error_code", "")).lower() in rule.error_codes
    return True


def remedies_plan(
    *, rules: dict[int, AlertRule], alerts: Sequence[Alert], now: datetime
) -> RemedyPlan:
    """Decide, for open alerts whose condition still holds, which get an automatic
    remedy now and which must go to a person because remedies did not help (or the
    day's cap is used up). Alerts a person acknowledged or that were escalated
    already are left to people. Three queries, whatever the number of alerts."""
    candidates = [
        alert
        for alert in alerts
        if alert.acknowledged_at is None
        and alert.escalated_at is None
        and (rule := rules.get(alert.organization_id)) is not None
        and _applies(rule, alert)
    ]
    if not candidates:
        return RemedyPlan([], {})
    history = {
        row["alert_id"]: (row["n"], row["last"])
        for row in RemedyAttempt.objects.filter(alert__in=[a.pk for a in candidates])
        .values("alert_id")
        .annotate(n=Count("pk"), last=Max("created_at"))
        .order_by("alert_id")
    }
    # Per charger and day, rounds with an attempt count: a reset for two faulted
    # connectors of one charger is one reset.
    today: dict[int, int] = {
        row["charger_id"]: row["n"]
        for row in RemedyAttempt.objects.filter(
            charger__in={a.charger_id for a in candidates}, created_at__gt=now - DAY
        )
        .values("charger_id")
        .annotate(n=Count("created_at", distinct=True))
        .order_by("charger_id")
    }
    this_round: set[int] = set()
    online = set(
        Charger.objects.filter(pk__in={a.charger_id for a in candidates})
        .exclude(channel_name="")
        .values_list("pk", flat=True)
    )
    attempts: list[RemedyAttempt] = []
    escalations: dict[int, str] = {}
    for alert in candidates:
        rule = rules[alert.organization_id]
        done, last = history.get(alert.pk, (0, None))
        if last is not None and now < last + backoff(rule, done):
            continue  # give the last attempt time to work
        action = rule.get_remedy_display().lower()
        if done >= rule.remedy_max_attempts:
            escalations[alert.pk] = (
                f"The automatic {action} did not clear it "
                f"({done} attempt{'s' if done != 1 else ''})."
            )
            continue
        if (
            alert.charger_id not in this_round
            and today.get(alert.charger_id, 0) >= rule.remedy_daily_cap
        ):
            escalations[alert.pk] = (
                f"The daily cap of {rule.remedy_daily_cap} automatic remedies for this "
                "charger is used up."
            )
            continue
        if alert.charger_id not in online:
            continue  # nothing can reach it; the offline rule speaks for it
        if alert.charger_id not in this_round:
            this_round.add(alert.charger_id)
            today[alert.charger_id] = today.get(alert.charger_id, 0) + 1
        attempts.append(
            RemedyAttempt(
                organization_id=alert.organization_id,
                alert=alert,
                charger_id=alert.charger_id,
                connector_id=alert.connector_id,
                action=rule.remedy,
                attempt=done + 1,
                created_at=now,
            )
        )
    created = RemedyAttempt.objects.bulk_create(attempts)
    if created:
        ids = [attempt.pk for attempt in created]
        transaction.on_commit(lambda: _enqueue(ids))
    return RemedyPlan(created, escalations)


def _enqueue(attempt_ids: list[int]) -> None:
    from apps.monitoring.tasks.alerts import remedy_attempts_execute

    remedy_attempts_execute.delay(attempt_ids)


# --- sending --------------------------------------------------------------------------


def _steps(attempt: RemedyAttempt, connector_number: int | None) -> list[tuple[str, dict]]:
    if attempt.action == Remedy.SOFT_RESET:
        return [("reset", {"type": "soft"})]
    if attempt.action == Remedy.HARD_RESET:
        return [("reset", {"type": "hard"})]
    if attempt.action == Remedy.UNLOCK_CONNECTOR:
        if connector_number is None:
            raise ValueError("Unlocking needs a connector.")
        return [("unlock-connector", {"connector_id": connector_number})]
    if attempt.action == Remedy.AVAILABILITY_TOGGLE:
        # Connector 0: the whole charger (a fault reported for connector 0).
        number = connector_number or 0
        return [
            ("change-availability", {"connector_id": number, "available": False}),
            ("change-availability", {"connector_id": number, "available": True}),
        ]
    raise ValueError(f"Unknown remedy {attempt.action!r}.")


@dataclass
class _Result:
    outcome: str
    detail: str
    command_ids: list[int]


def remedy_timeout() -> float | None:
    value = getattr(settings, "ALERTS_REMEDY_TIMEOUT_S", None)
    return float(value) if value is not None else None


async def _send(cpid: str, steps: list[tuple[str, dict[str, Any]]]) -> _Result:
    command_ids: list[int] = []
    answers: list[str] = []
    try:
        for command, params in steps:
            result = await command_send(
                charger=cpid,
                command=command,
                params=params,
                source=CommandLog.Source.SYSTEM,
                timeout=remedy_timeout(),
            )
            command_ids.append(result.command_id)
            answers.append(f"{command}: {result.status}")
            if result.status not in ACCEPTED_STATUSES:
                return _Result(Outcome.REFUSED, "; ".join(answers), command_ids)
    except ChargerOffline as exc:
        return _Result(Outcome.OFFLINE, str(exc), command_ids)
    except ChargerNoAnswer as exc:
        return _Result(Outcome.NO_ANSWER, str(exc), command_ids)
    except DomainError as exc:
        return _Result(Outcome.ERROR, str(exc), command_ids)
    return _Result(Outcome.ACCEPTED, "; ".join(answers), command_ids)


# Embedded mode runs this in the scheduler's thread, on an event loop of its own,
# while the charger's consumer lives on the server's loop; the in-memory channel
# layer hands the answer over between the two without waking this loop, which
# would then notice it only at the timeout. Waking it every few tenths of a second
# makes it notice at once. (Production's channels-redis needs none of this, and
# there the ticker costs nothing but a few wake-ups.)
_WAKE_EVERY_S = 0.05


async def _wake_up_often() -> None:
    # Not waiting for anything: the wake-ups themselves are the point.
    while True:  # noqa: ASYNC110
        await asyncio.sleep(_WAKE_EVERY_S)


async def _send_all(jobs: list[tuple[str, list[tuple[str, dict[str, Any]]]]]) -> list[_Result]:
    ticker = asyncio.create_task(_wake_up_often())
    try:
        return list(await asyncio.gather(*(_send(cpid, steps) for cpid, steps in jobs)))
    finally:
        ticker.cancel()


def remedy_attempts_execute(*, attempt_ids: Sequence[int]) -> list[RemedyAttempt]:
    """Send the commands of pending remedy attempts, all chargers at once, and record
    each charger's answer. An attempt already carried out is not sent again."""
    attempts = list(
        RemedyAttempt.objects.filter(pk__in=list(attempt_ids), outcome=Outcome.PENDING)
        .select_related("charger", "connector")
        .order_by("pk")
    )
    if not attempts:
        return []
    started = timezone.now()
    # A reset is for the whole charger: alerts of several of its connectors share
    # one (each attempt row records it); other remedies act on their connector.
    groups: dict[tuple[Any, ...], list[RemedyAttempt]] = {}
    for attempt in attempts:
        key: tuple[Any, ...] = (
            (attempt.charger_id, attempt.action)
            if attempt.action in CHARGER_WIDE
            else (attempt.pk,)
        )
        groups.setdefault(key, []).append(attempt)
    jobs = []
    for group in groups.values():
        first = group[0]
        number = first.connector.connector_id if first.connector else None
        jobs.append((first.charger.charge_point_id, _steps(first, number)))
    results = async_to_sync(_send_all)(jobs)
    finished = timezone.now()
    done = [
        (attempt, steps, result)
        for group, (_, steps), result in zip(groups.values(), jobs, results, strict=True)
        for attempt in group
    ]
    for attempt, steps, result in done:
        ids = result.command_ids
        if len(ids) < len(steps):
            # The command that failed raised instead of answering: its log row is
            # the charger's newest system command of this round.
            failed = (
                CommandLog.objects.filter(
                    charger_id=attempt.charger_id,
                    source=CommandLog.Source.SYSTEM,
                    created_at__gte=started,
                )
                .exclude(pk__in=ids)
                .order_by("-pk")
                .values_list("pk", flat=True)
                .first()
            )
            if failed is not None:
                ids = [*ids, failed]
        attempt.outcome = result.outcome
        attempt.detail = result.detail[:2000]
        attempt.finished_at = finished
        attempt.save(update_fields=["outcome", "detail", "finished_at"])
        attempt.commands.set(ids)
        log.info(
            "Remedy %s on %s: %s (%s)",
            attempt.action,
            attempt.charger.charge_point_id,
            attempt.outcome,
            attempt.detail,
        )
    return attempts
