"""Alert evaluation, acknowledgement and default rules.

`alerts_evaluate` runs every minute (the `monitoring.alerts_evaluate` task): for
each rule kind, in one transaction, it asks the kind's detector what is wrong now
(selectors/alerts/, a few queries for all organizations), then

- opens an alert for a problem that has lasted the rule's threshold (one open
  alert per problem: the database constraint says so, and the kind's enabled
  rules are locked while it runs, so two evaluations never race to open one);
- resolves open alerts whose condition cleared (or whose rule was switched off);
- plans automatic remedies (services/remedies.py) and escalates alerts open past
  the rule's `escalate_after_minutes`, or whose remedies did not help, once;
- records one email per organization, rule and event, sent after commit.

Time comes from `now` (default `timezone.now()`), so a fake clock drives it."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.monitoring.models import Alert, AlertRule, Notification
from apps.monitoring.selectors.alerts import Problem, problems_detect
from apps.monitoring.services.notifications import (
    alert_notification_create,
    manager_addresses,
    rule_recipients,
)
from apps.monitoring.services.remedies import remedies_plan
from apps.sites.exceptions import Forbidden, NotFound
from apps.sites.models import Organization
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

log = logging.getLogger(__name__)

Kind = AlertRule.Kind
RESOLVED_CLEARED = "condition cleared"
RESOLVED_RULE_OFF = "rule disabled"


@dataclass
class EvaluationResult:
    """What one evaluation did, per kind: alert ids opened, resolved, escalated, and
    remedy attempt ids planned."""

    opened: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    resolved: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    escalated: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    remedies: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def summary(self) -> dict[str, int]:
        return {
            name: sum(len(ids) for ids in getattr(self, name).values())
            for name in ("opened", "resolved", "escalated", "remedies")
        }


def alerts_evaluate(*, now: datetime | None = None) -> EvaluationResult:
    """Evaluate every rule kind for every organization (see the module docstring)."""
    now = now or timezone.now()
    result = EvaluationResult()
    # Manager addresses per organization, read once per evaluation when needed.
    managers: dict[int, list[str]] = {}
    failures: list[Exception] = []
    for kind in Kind.values:
        try:
            _evaluate_kind(kind=kind, now=now, result=result, managers=managers)
        except Exception as exc:
            # One kind's failure (a bug, a deadlock) must not silence the others;
            # the round still fails afterwards, so that it shows in the task's log.
            log.exception("Alert evaluation of %s failed", kind)
            failures.append(exc)
    if failures:
        raise ExceptionGroup("Alert evaluation failed for some kinds", failures)
    return result


@transaction.atomic
def _evaluate_kind(
    *,
    kind: str,
    now: datetime,
    result: EvaluationResult,
    managers: dict[int, list[str]],
) -> None:
    # Locking the kind's enabled rules serializes concurrent evaluations of it (a
    # slow round overlapping the next): the second sees what the first opened.
    rules = {
        rule.organization_id: rule
        for rule in AlertRule.objects.select_for_update()
        .filter(kind=kind, is_enabled=True)
        .order_by("pk")
    }
    problems = problems_detect(kind=kind, rules=rules, now=now)
    open_alerts = {
        (alert.charger_id, alert.connector_id): alert
        for alert in Alert.objects.filter(kind=kind, status=Alert.Status.OPEN).order_by("pk")
    }

    # Resolve what cleared.
    gone = [alert for key, alert in open_alerts.items() if key not in problems]
    resolved = _resolve(gone, rules=rules, now=now)
    result.resolved[kind] += [a.pk for a in resolved]

    # Open what has lasted long enough.
    due = [
        problem
        for key, problem in problems.items()
        if key not in open_alerts
        and problem.since <= now - _lasting(rules[problem.organization_id])
    ]
    opened = _open(kind=kind, problems=due, rules=rules, now=now)
    result.opened[kind] += [a.pk for a in opened]

    # Still open: remedies and escalation.
    ongoing = [alert for key, alert in open_alerts.items() if key in problems] + opened
    plan = remedies_plan(rules=rules, alerts=ongoing, now=now)
    result.remedies[kind] += [a.pk for a in plan.attempts]
    reasons = dict(plan.escalations)
    for alert in ongoing:
        rule = rules.get(alert.organization_id)
        if (
            alert.pk not in reasons
            and rule is not None
            and rule.escalate_after_minutes is not None
            and alert.escalated_at is None
            and alert.acknowledged_at is None
            and alert.opened_at <= now - timedelta(minutes=rule.escalate_after_minutes)
        ):
            reasons[alert.pk] = f"Still open after {rule.escalate_after_minutes} min."
    escalated = _escalate([a for a in ongoing if a.pk in reasons], reasons=reasons, now=now)
    result.escalated[kind] += [a.pk for a in escalated]

    # Tell people.
    events = [
        (Notification.Kind.ALERT_OPENED, opened),
        (Notification.Kind.ALERT_ESCALATED, escalated),
        (
            Notification.Kind.ALERT_RESOLVED,
            [
                a
                for a in resolved
                if (r := rules.get(a.organization_id)) is not None and r.notify_on_resolve
            ],
        ),
    ]
    org_ids = {alert.organization_id for _, alerts in events for alert in alerts}
    missing = org_ids - set(managers)
    if missing:
        found = manager_addresses(organization_ids=missing)
        managers.update({org_id: found.get(org_id, []) for org_id in missing})
    for event, alerts in events:
        _notify(event=event, alerts=alerts, rules=rules, managers=managers, now=now)


def _lasting(rule: AlertRule) -> timedelta:
    """How long a problem must last before it opens an alert. The counting kinds'
    threshold is their counting window: reaching the count is the problem."""
    if rule.kind in AlertRule.COUNTING_KINDS:
        return timedelta(0)
    return timedelta(minutes=rule.threshold_minutes)


def _resolve(alerts: Sequence[Alert], *, rules: dict[int, AlertRule], now: datetime) -> list[Alert]:
    for reason, group in (
        (RESOLVED_CLEARED, [a for a in alerts if a.organization_id in rules]),
        (RESOLVED_RULE_OFF, [a for a in alerts if a.organization_id not in rules]),
    ):
        if group:
            Alert.objects.filter(pk__in=[a.pk for a in group], status=Alert.Status.OPEN).update(
                status=Alert.Status.RESOLVED, resolved_at=now, resolved_reason=reason
            )
            for alert in group:
                alert.status, alert.resolved_at, alert.resolved_reason = (
                    Alert.Status.RESOLVED,
                    now,
                    reason,
                )
    return list(alerts)


def _new_alert(kind: str, problem: Problem, rule: AlertRule, now: datetime) -> Alert:
    return Alert(
        organization_id=problem.organization_id,
        rule=rule,
        kind=kind,
        charger_id=problem.charger_id,
        connector_id=problem.connector_id,
        severity=rule.severity,
        title=problem.title[:255],
        details=problem.details,
        since_at=problem.since,
        opened_at=now,
    )


def _open(
    *, kind: str, problems: Sequence[Problem], rules: dict[int, AlertRule], now: datetime
) -> list[Alert]:
    new = [_new_alert(kind, p, rules[p.organization_id], now) for p in problems]
    if not new:
        return []
    try:
        with transaction.atomic():
            return Alert.objects.bulk_create(new)
    except IntegrityError:
        pass
    # Someone opened one of them meanwhile (the rule lock makes this rare: a rule
    # re-created mid-round): one by one, keeping what was already there.
    created = []
    for alert in new:
        try:
            with transaction.atomic():
                alert.save(force_insert=True)
        except IntegrityError:
            continue
        created.append(alert)
    return created


def _escalate(alerts: Sequence[Alert], *, reasons: dict[int, str], now: datetime) -> list[Alert]:
    """Escalate once: one UPDATE per distinct reason (the kind's rules are locked, so
    nobody else escalates these meanwhile)."""
    by_reason: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        if alert.escalated_at is None:
            by_reason[reasons[alert.pk][:200]].append(alert)
    escalated = []
    for reason, group in by_reason.items():
        Alert.objects.filter(pk__in=[a.pk for a in group], escalated_at__isnull=True).update(
            escalated_at=now, escalation_reason=reason
        )
        for alert in group:
            alert.escalated_at, alert.escalation_reason = now, reason
        escalated += group
    return escalated


def _notify(
    *,
    event: str,
    alerts: Sequence[Alert],
    rules: dict[int, AlertRule],
    managers: dict[int, list[str]],
    now: datetime,
) -> None:
    """One email per organization (and so per rule, one per kind) and event."""
    by_org: dict[int, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_org[alert.organization_id].append(alert)
    for org_id, group in sorted(by_org.items()):
        rule = rules.get(org_id)
        recipients = rule_recipients(
            rule=rule,
            managers=managers.get(org_id, []),
            escalation=event == Notification.Kind.ALERT_ESCALATED,
        )
        alert_notification_create(
            kind=event, rule=rule, alerts=group, recipients=recipients, now=now
        )


# --- people ---------------------------------------------------------------------------


@transaction.atomic
def alert_acknowledge(*, user: AnyUser, alert_id: int, now: datetime | None = None) -> Alert:
    """A person takes the alert in hand: it is no longer escalated nor remedied
    automatically. Acknowledging twice keeps the first acknowledgement."""
    alert = Alert.objects.visible_to(user).select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"No alert {alert_id}.")
    if not Alert.objects.editable_by(user, MANAGE_ROLES).filter(pk=alert.pk).exists():
        raise Forbidden("Your role in the alert's organization does not allow acknowledging it.")
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now or timezone.now()
        alert.acknowledged_by_id = user.pk if user.is_authenticated else None
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return alert


# Sensible defaults for a new organization: every kind on, thresholds that ignore
# the usual blips (a heartbeat is due every 5 minutes; a car may take a minute
# to start drawing), escalation after a few hours, no automatic remedy except a
# soft reset for the error codes stations typically clear by rebooting.
DEFAULT_RULES: dict[str, dict[str, object]] = {
    Kind.CONNECTOR_FAULTED: {
        "severity": Alert.Severity.CRITICAL,
        "threshold_minutes": 5,
        "escalate_after_minutes": 240,
        "remedy": AlertRule.Remedy.SOFT_RESET,
        "remedy_error_codes": "InternalError, OtherError, ReaderFailure, WeakSignal",
    },
    Kind.CHARGER_OFFLINE: {
        "severity": Alert.Severity.CRITICAL,
        "threshold_minutes": 15,
        "escalate_after_minutes": 240,
    },
    Kind.SESSION_NOT_STARTED: {"threshold_minutes": 15},
    Kind.PREPARING_TOO_LONG: {"threshold_minutes": 30},
    Kind.SESSION_NEVER_ENDS: {"threshold_minutes": 48 * 60},
    Kind.METER_VALUES_MISSING: {"threshold_minutes": 30},
    Kind.COMMANDS_REJECTED: {"threshold_minutes": 60, "threshold_count": 3},
    Kind.REPEATED_REBOOTS: {"threshold_minutes": 60, "threshold_count": 3},
}


@transaction.atomic
def alert_rules_ensure_defaults(*, organization: Organization) -> list[AlertRule]:
    """Give the organization a rule of every kind it lacks, with the defaults above.
    Existing rules are left as their managers set them. Returns the rules created."""
    created = []
    for kind in Kind.values:
        rule, new = AlertRule.objects.get_or_create(
            organization=organization,
            kind=kind,
            defaults=DEFAULT_RULES.get(kind, {}),
        )
        if new:
            created.append(rule)
    return created


@transaction.atomic
def alerts_acknowledge(
    *, user: AnyUser, alert_ids: Sequence[int], now: datetime | None = None
) -> int:
    """Acknowledge several alerts at once (an admin action): only those the user may
    manage and that nobody acknowledged yet. Returns how many were acknowledged."""
    return (
        Alert.objects.editable_by(user, MANAGE_ROLES)
        .filter(pk__in=list(alert_ids), acknowledged_at__isnull=True)
        .update(
            acknowledged_at=now or timezone.now(),
            acknowledged_by_id=user.pk if user.is_authenticated else None,
        )
    )
