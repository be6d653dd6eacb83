"""Alerts: rules per organization, and the alerts they raise.

The fields below are the contract other parts read (the dashboard, the API, webhooks);
extend, don't rename."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q

from apps.chargers.models import Charger, Connector
from apps.sites.models import Organization
from apps.sites.tenancy import TenantQuerySet

__all__ = ["Alert", "AlertRule"]


class AlertRule(models.Model):
    """What an organization wants to be told about, and how."""

    class Kind(models.TextChoices):
        CONNECTOR_FAULTED = "connector_faulted", "Connector faulted"
        CHARGER_OFFLINE = "charger_offline", "Charger offline"
        SESSION_NOT_STARTED = "session_not_started", "Authorized but never started"
        PREPARING_TOO_LONG = "preparing_too_long", "Preparing too long"
        SESSION_NEVER_ENDS = "session_never_ends", "Session never ends"
        METER_VALUES_MISSING = "meter_values_missing", "No meter values while charging"
        COMMANDS_REJECTED = "commands_rejected", "Charger rejects remote commands"
        REPEATED_REBOOTS = "repeated_reboots", "Repeated reboots"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="alert_rules"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    is_enabled = models.BooleanField(default=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.organization})"


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

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        constraints = [
            # Deduplication lives in the database: one open alert per problem.
            models.UniqueConstraint(
                fields=["kind", "charger", "connector"],
                condition=Q(status="open"),
                nulls_distinct=False,
                name="monitoring_alert_one_open_per_problem",
            ),
        ]
        indexes = [models.Index(fields=["organization", "status", "-opened_at"])]

    def __str__(self) -> str:
        return self.title
