"""Alerts: rules per organization, the alerts they raise, the remedies tried
automatically and every email sent about them (and about drivers' sessions).

The fields of AlertRule and Alert listed first are the contract other parts read
(the dashboard, the API, webhooks); extend, don't rename."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.access.models import Person
from apps.chargers.models import Charger, ChargingSession, CommandLog, Connector
from apps.sites.models import Organization
from apps.sites.tenancy import TenantQuerySet

__all__ = ["Alert", "AlertRule", "Notification", "RemedyAttempt", "parse_addresses"]


def parse_addresses(value: str) -> list[str]:
    """Email addresses separated by commas, semicolons, spaces or new lines."""
    for separator in ",;\n\r\t":
        value = value.replace(separator, " ")
    return [part for part in value.split(" ") if part]


def validate_addresses(value: str) -> None:
    bad = []
    for address in parse_addresses(value):
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        raise ValidationError(f"Not an email address: {', '.join(bad)}.")


class AlertRule(models.Model):
    """What an organization wants to be told about, and how: one rule per kind.

    `threshold_minutes` is how long the condition must hold before an alert opens
    (for the two counting kinds, repeated reboots and rejected commands, it is the
    window in which `threshold_count` events open one). An optional remedy is
    tried automatically for the connector kinds (see services/remedies.py)."""

    class Kind(models.TextChoices):
        CONNECTOR_FAULTED = "connector_faulted", "Connector faulted"
        CHARGER_OFFLINE = "charger_offline", "Charger offline"
        SESSION_NOT_STARTED = "session_not_started", "Authorized but never started"
        PREPARING_TOO_LONG = "preparing_too_long", "Preparing too long"
        SESSION_NEVER_ENDS = "session_never_ends", "Session never ends"
        METER_VALUES_MISSING = "meter_values_missing", "No meter values while charging"
        COMMANDS_REJECTED = "commands_rejected", "Charger rejects remote commands"
        REPEATED_REBOOTS = "repeated_reboots", "Repeated reboots"

    class Remedy(models.TextChoices):
        NONE = "", "None (tell a person)"
        SOFT_RESET = "soft_reset", "Soft reset"
        HARD_RESET = "hard_reset", "Hard reset"
        UNLOCK_CONNECTOR = "unlock_connector", "Unlock the connector"
        AVAILABILITY_TOGGLE = "availability_toggle", "Availability toggle (Inoperative → Operative)"

    # Kinds about one connector whose cause a command can clear.
    REMEDIABLE_KINDS: ClassVar[frozenset[str]] = frozenset(
        {"connector_faulted", "preparing_too_long", "session_not_started"}
    )
    # Kinds that count events in a window rather than time a condition.
    COUNTING_KINDS: ClassVar[frozenset[str]] = frozenset({"commands_rejected", "repeated_reboots"})

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="alert_rules"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    is_enabled = models.BooleanField(default=True)
    severity = models.CharField(
        max_length=16, choices=[("warning", "Warning"), ("critical", "Critical")], default="warning"
    )
    threshold_minutes = models.PositiveIntegerField(
        default=15,
        help_text="How long the condition must last before an alert opens; for repeated "
        "reboots and rejected commands, the window in which they are counted.",
    )
    threshold_count = models.PositiveSmallIntegerField(
        default=3,
        help_text="Repeated reboots and rejected commands: how many within the window.",
    )
    escalate_after_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Escalate an alert still open (and not acknowledged) this long. Empty: never.",
    )
    notify_managers = models.BooleanField(
        default=True,
        help_text="Email the organization's owners and property managers (those with an "
        "email address).",
    )
    extra_recipients = models.TextField(
        blank=True,
        validators=[validate_addresses],
        help_text="More addresses to email, separated by commas or new lines.",
    )
    escalation_recipients = models.TextField(
        blank=True,
        validators=[validate_addresses],
        help_text="Who else gets escalations (a technician, an on-call address).",
    )
    notify_on_resolve = models.BooleanField(
        default=False, help_text="Also email when an alert resolves by itself."
    )
    remedy = models.CharField(max_length=24, choices=Remedy.choices, default="", blank=True)
    remedy_error_codes = models.CharField(
        max_length=255,
        blank=True,
        help_text="Faulted connectors: try the remedy only for these error codes (comma "
        "separated, e.g. GroundFailure, OtherError). Empty: any error code.",
    )
    remedy_max_attempts = models.PositiveSmallIntegerField(
        default=2, help_text="Attempts per alert before a person is told."
    )
    remedy_backoff_minutes = models.PositiveIntegerField(
        default=10,
        help_text="Wait after an attempt before judging it; doubles with each attempt.",
    )
    remedy_daily_cap = models.PositiveSmallIntegerField(
        default=3, help_text="At most this many automatic attempts per charger in 24 hours."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind"], name="monitoring_alertrule_one_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.organization})"

    def clean(self) -> None:
        if self.remedy and self.kind not in self.REMEDIABLE_KINDS:
            raise ValidationError(
                {
                    "remedy": "Automatic remedies apply to faulted, preparing and not-started "
                    "connectors only."
                }
            )
        if self.kind in self.COUNTING_KINDS and not self.threshold_count:
            raise ValidationError({"threshold_count": "Count at least one event."})

    @property
    def error_codes(self) -> set[str]:
        return {code.lower() for code in parse_addresses(self.remedy_error_codes)}


class Alert(models.Model):
    """One problem with one charger (or connector), open until its condition clears."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    class Severity(models.TextChoices):
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="alerts")
    rule = models.ForeignKey(
        AlertRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    kind = models.CharField(max_length=32, choices=AlertRule.Kind.choices)
    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="alerts")
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    title = models.CharField(max_length=255)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    # --- beyond the contract ---
    # What was seen when it opened: error and vendor codes, the session, counts.
    details = models.JSONField(default=dict, blank=True)
    since_at = models.DateTimeField(
        null=True, blank=True, help_text="When the condition began (before the alert opened)."
    )
    resolved_reason = models.CharField(max_length=100, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_reason = models.CharField(max_length=200, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="acknowledged_alerts",
    )

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        constraints = [
            # Deduplication lives in the database: one open alert per problem.
            # Two partial constraints rather than one with nulls_distinct=False,
            # which SQLite (the embedded database) does not support: a connector's
            # problems, and charger-wide ones (no connector).
            models.UniqueConstraint(
                fields=["kind", "charger", "connector"],
                condition=Q(status="open", connector__isnull=False),
                name="monitoring_alert_one_open_per_problem",
            ),
            models.UniqueConstraint(
                fields=["kind", "charger"],
                condition=Q(status="open", connector__isnull=True),
                name="monitoring_alert_one_open_per_charger_problem",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "-opened_at"]),
            models.Index(fields=["kind", "status"], name="monitoring_alert_kind_status"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class RemedyAttempt(models.Model):
    """One automatic action taken to clear an alert's cause. The command itself is
    also in the charger's CommandLog (source "system"), linked here."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Sending"
        ACCEPTED = "accepted", "Accepted by the charger"
        REFUSED = "refused", "Refused by the charger"
        OFFLINE = "offline", "Charger offline"
        NO_ANSWER = "no_answer", "No answer"
        ERROR = "error", "Error"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="remedy_attempts"
    )
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="remedy_attempts")
    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="remedy_attempts")
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=24, choices=AlertRule.Remedy.choices)
    attempt = models.PositiveSmallIntegerField(help_text="1 for the alert's first attempt.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    detail = models.TextField(blank=True)
    commands = models.ManyToManyField(CommandLog, blank=True, related_name="remedy_attempts")
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        indexes = [
            models.Index(fields=["charger", "-created_at"], name="monitoring_remedy_charger"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} → {self.charger} ({self.get_outcome_display()})"


class Notification(models.Model):
    """An email we sent (or tried to): about alerts, to managers and escalation
    recipients, or about a session, to its driver. Driver emails are sent once per
    session and event: the row is the claim, made before the email goes out."""

    class Kind(models.TextChoices):
        ALERT_OPENED = "alert_opened", "Alert opened"
        ALERT_ESCALATED = "alert_escalated", "Alert escalated"
        ALERT_RESOLVED = "alert_resolved", "Alert resolved"
        SESSION_ENDED = "session_ended", "Session ended (driver)"
        SESSION_SUSPENDED = "session_suspended", "Session suspended (driver)"

    class Status(models.TextChoices):
        PENDING = "pending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        NO_RECIPIENTS = "no_recipients", "Nobody to send to"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    alerts = models.ManyToManyField(Alert, blank=True, related_name="notifications")
    session = models.ForeignKey(
        ChargingSession,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
    )
    person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    recipients = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "kind"],
                condition=Q(session__isnull=False),
                name="monitoring_notification_once_per_session_event",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="monitoring_notif_org_time"),
        ]

    def __str__(self) -> str:
        return self.subject
