"""Health reporting: how uptime is counted (per organization, optionally per
property), the outages a manager documents as excluded, and who receives the daily
and weekly property reports.

Uptime follows the US federal NEVI rule, 23 CFR 680.116(b): see
apps/monitoring/services/uptime.py for the formula and what counts as an outage."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.db.models import F, Q

from apps.chargers.models import Charger, Connector
from apps.sites.models import Organization, Property
from apps.sites.tenancy import TenantQuerySet

__all__ = ["OutageCause", "OutageExclusion", "ReportDelivery", "ReportSubscription", "UptimePolicy"]


class OutageCause(models.TextChoices):
    """Why a port was out. The first five are the causes the NEVI rule lets an
    operator leave out of its uptime (outside the operator's control, when the port
    would otherwise have worked); the others are kept apart so a policy can choose."""

    UTILITY_INTERRUPTION = "utility_interruption", "Electric utility service interruption"
    VEHICLE_FAULT = "vehicle_fault", "Failure caused by the vehicle"
    SCHEDULED_MAINTENANCE = "scheduled_maintenance", "Scheduled maintenance"
    VANDALISM = "vandalism", "Vandalism"
    NATURAL_DISASTER = "natural_disaster", "Natural disaster"
    NETWORK_PROVIDER = "network_provider", "Internet or cellular provider outage"
    OTHER = "other", "Other (counted as downtime unless the policy says otherwise)"


# The causes NEVI excludes (23 CFR 680.116(b)(3)); hours outside the port's operating
# hours are excluded too, see UptimePolicy.exclude_outside_hours.
NEVI_EXCLUDED_CAUSES: frozenset[str] = frozenset(
    {
        OutageCause.UTILITY_INTERRUPTION,
        OutageCause.VEHICLE_FAULT,
        OutageCause.SCHEDULED_MAINTENANCE,
        OutageCause.VANDALISM,
        OutageCause.NATURAL_DISASTER,
    }
)


class UptimePolicy(models.Model):
    """Which documented outage causes an organization leaves out of its NEVI uptime,
    and the ports' operating hours. One default per organization (no property) and
    optional overrides for single properties (a NEVI-funded site with its own hours).
    Without any policy, the NEVI defaults apply."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="uptime_policies"
    )
    property = models.ForeignKey(
        Property,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="uptime_policies",
        help_text="Empty: the organization's default for every property.",
    )
    exclude_utility_interruption = models.BooleanField(
        "exclude utility interruptions", default=True
    )
    exclude_vehicle_fault = models.BooleanField("exclude failures caused by vehicles", default=True)
    exclude_scheduled_maintenance = models.BooleanField(
        "exclude scheduled maintenance", default=True
    )
    exclude_vandalism = models.BooleanField("exclude vandalism", default=True)
    exclude_natural_disaster = models.BooleanField("exclude natural disasters", default=True)
    exclude_network_provider = models.BooleanField(
        "exclude internet/cellular provider outages",
        default=False,
        help_text="Not an exclusion of the NEVI rule; some state programs allow it.",
    )
    exclude_other = models.BooleanField("exclude outages documented as 'other'", default=False)
    exclude_outside_hours = models.BooleanField(
        "exclude hours outside operating hours",
        default=True,
        help_text="Outages while the site is closed do not count (NEVI).",
    )
    opens_at = models.TimeField(
        null=True, blank=True, help_text="Local time the ports open. Empty: open 24 hours."
    )
    closes_at = models.TimeField(
        null=True, blank=True, help_text="Local time they close (before opening: overnight)."
    )
    target_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=97,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Uptime a port must exceed (NEVI: 97%).",
    )

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        verbose_name_plural = "uptime policies"
        constraints = [
            # Two partial constraints rather than one with nulls_distinct=False, which
            # SQLite (the embedded database) does not support: Django would create no
            # constraint there at all.
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(property__isnull=True),
                name="monitoring_uptimepolicy_one_default_per_org",
            ),
            models.UniqueConstraint(
                fields=["organization", "property"],
                condition=Q(property__isnull=False),
                name="monitoring_uptimepolicy_one_per_property",
            ),
            models.CheckConstraint(
                condition=Q(opens_at__isnull=True, closes_at__isnull=True)
                | Q(opens_at__isnull=False, closes_at__isnull=False),
                name="monitoring_uptimepolicy_hours_both_or_none",
            ),
        ]

    def __str__(self) -> str:
        return f"Uptime policy: {self.property or f'{self.organization} (default)'}"

    def clean(self) -> None:
        if self.property is not None and self.property.organization_id != self.organization_id:
            raise ValidationError({"property": "The property must belong to the organization."})
        if (self.opens_at is None) != (self.closes_at is None):
            raise ValidationError("Give both opening and closing times, or neither.")
        if self.opens_at is not None and self.opens_at == self.closes_at:
            raise ValidationError({"closes_at": "Leave both empty for 24 hours."})

    def excluded_causes(self) -> frozenset[str]:
        flags = {
            OutageCause.UTILITY_INTERRUPTION: self.exclude_utility_interruption,
            OutageCause.VEHICLE_FAULT: self.exclude_vehicle_fault,
            OutageCause.SCHEDULED_MAINTENANCE: self.exclude_scheduled_maintenance,
            OutageCause.VANDALISM: self.exclude_vandalism,
            OutageCause.NATURAL_DISASTER: self.exclude_natural_disaster,
            OutageCause.NETWORK_PROVIDER: self.exclude_network_provider,
            OutageCause.OTHER: self.exclude_other,
        }
        return frozenset(str(cause) for cause, on in flags.items() if on)


class OutageExclusion(models.Model):
    """A documented outage outside the operator's control: the period, what it hit
    (a connector, a charger, or the whole property) and the cause. NEVI lets such
    minutes out of the uptime only when the operator can show the port would
    otherwise have worked: `evidence` is where that goes."""

    property = models.ForeignKey(
        Property, on_delete=models.CASCADE, related_name="outage_exclusions"
    )
    charger = models.ForeignKey(
        Charger,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="outage_exclusions",
        help_text="Empty: every charger of the property.",
    )
    connector = models.ForeignKey(
        Connector,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="outage_exclusions",
        help_text="Empty: every connector of the charger.",
    )
    cause = models.CharField(max_length=32, choices=OutageCause.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    evidence = models.TextField(
        blank=True, help_text="Utility ticket, police report, work order, photos' location…"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "property__organization"

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="monitoring_outageexclusion_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(connector__isnull=True) | Q(charger__isnull=False),
                name="monitoring_outageexclusion_connector_needs_charger",
            ),
        ]
        indexes = [models.Index(fields=["property", "starts_at"])]

    def __str__(self) -> str:
        target = self.connector or self.charger or self.property
        return f"{self.get_cause_display()}: {target}, {_span(self.starts_at, self.ends_at)}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = "The end must come after the start."
        charger, connector = self.charger, self.connector
        if (
            charger is not None
            and self.property_id
            and charger.zone.property_id != self.property_id
        ):
            errors["charger"] = "The charger must be at this property."
        if connector is not None:
            if charger is None:
                errors["charger"] = "Choose the connector's charger too."
            elif connector.charger_id != charger.pk:
                errors["connector"] = "The connector must belong to the charger."
        if errors:
            raise ValidationError(errors)


def _span(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "?"
    return f"{start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M}"


def validate_recipients(value: str) -> None:
    addresses = split_recipients(value)
    if not addresses:
        raise ValidationError("Give at least one email address.")
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(f"{address!r} is not an email address.") from None


def split_recipients(value: str) -> list[str]:
    """Addresses separated by commas, semicolons, spaces or new lines."""
    for separator in ",;\n\r\t":
        value = value.replace(separator, " ")
    seen: dict[str, None] = {}
    for address in value.split(" "):
        if address.strip():
            seen.setdefault(address.strip(), None)
    return list(seen)


class ReportSubscription(models.Model):
    """Who receives a property's daily or weekly report by email."""

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    property = models.ForeignKey(
        Property, on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    recipients = models.TextField(
        validators=[validate_recipients],
        help_text="Email addresses, separated by commas or new lines.",
    )
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "property__organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["property", "frequency"],
                name="monitoring_reportsubscription_one_per_frequency",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_frequency_display()} report: {self.property}"

    def recipient_list(self) -> list[str]:
        return split_recipients(self.recipients)


class ReportDelivery(models.Model):
    """A report that was emailed: one per subscription and period, enforced by the
    database, so a task that runs twice (or on two workers) sends it once."""

    subscription = models.ForeignKey(
        ReportSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    recipients = models.TextField()
    sent_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "subscription__property__organization"

    class Meta:
        verbose_name_plural = "report deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"],
                name="monitoring_reportdelivery_once_per_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription} {_span(self.period_start, self.period_end)}"
