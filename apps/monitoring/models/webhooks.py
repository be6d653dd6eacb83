"""Outbound webhooks: an organization's subscriptions, the events we found for them,
and one delivery per (subscription, event).

Events are not raised by the OCPP path: a periodic task reads what the chargers
domain already stored (connection events, status history, sessions, alerts) past a
durable cursor per source (`WebhookCursor`), see apps/monitoring/services/webhooks.py."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.sites.models import Organization, Property
from apps.sites.tenancy import TenantQuerySet

__all__ = [
    "WebhookCursor",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookEventType",
    "WebhookSubscription",
]


class WebhookEventType(models.TextChoices):
    CHARGER_ONLINE = "charger.online", "Charger online"
    CHARGER_OFFLINE = "charger.offline", "Charger offline"
    CONNECTOR_FAULTED = "connector.faulted", "Connector faulted"
    SESSION_STARTED = "session.started", "Session started"
    SESSION_STOPPED = "session.stopped", "Session stopped"
    ALERT_OPENED = "alert.opened", "Alert opened"
    ALERT_RESOLVED = "alert.resolved", "Alert resolved"
    # Sent on request (admin action, API) to check an endpoint; never subscribed to.
    TEST = "webhook.test", "Test event"


SUBSCRIBABLE_EVENT_TYPES = [t for t in WebhookEventType if t != WebhookEventType.TEST]


class WebhookSubscription(models.Model):
    """An HTTPS endpoint of an organization that receives some event types, signed
    with a secret of ours. The secret is stored as is (it signs every delivery, so
    it cannot be hashed) and shown only once, when created or rotated."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    name = models.CharField(max_length=100, help_text="What the endpoint is for.")
    url = models.URLField(
        max_length=2000,
        verbose_name="URL",
        help_text="HTTPS endpoint that receives a POST with a JSON body for each event.",
    )
    event_types = models.JSONField(
        default=list, blank=True, help_text="The event types sent to this endpoint."
    )
    properties = models.ManyToManyField(
        Property,
        blank=True,
        related_name="webhook_subscriptions",
        help_text="Only events of these properties (none selected: every property).",
    )
    is_active = models.BooleanField(default=True, verbose_name="active")
    secret = models.CharField(max_length=100, editable=False)
    # After a rotation the previous secret signs too, for a grace period, so that a
    # receiver can switch without rejecting deliveries in flight.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=500, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
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
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        indexes = [models.Index(fields=["organization", "is_active"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    @property
    def secret_hint(self) -> str:
        """Enough of the secret to tell which one a receiver holds."""
        return f"{self.secret[:10]}…" if self.secret else ""


class WebhookEvent(models.Model):
    """Something that happened, once, with a stable id (receivers deduplicate on it).
    Only kept when at least one subscription wanted it."""

    event_id = models.CharField(max_length=80, unique=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_events"
    )
    # The property the event is about (for subscriptions filtered by property).
    property = models.ForeignKey(
        Property, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    type = models.CharField(max_length=32, choices=WebhookEventType.choices)
    occurred_at = models.DateTimeField()
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class WebhookDelivery(models.Model):
    """Sending one event to one subscription, with its attempts so far."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When a pending delivery is next due. A worker that takes it moves this ahead
    # by a lease first, so another worker does not take it too (and a worker that
    # dies mid-send leaves it to be retried once the lease is over).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The start of the last answer.")
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "subscription__organization"

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="monitoring_webhookdelivery_once"
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False),
                name="monitoring_webhookdelivery_pending_is_due",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="monitoring_whdelivery_due"),
            models.Index(fields=["subscription", "-created_at"], name="monitoring_whdelivery_sub"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription.name}"


class WebhookCursor(models.Model):
    """How far the event collector has read one source table: the highest id read
    (`last_id`) and, for sources whose rows change state later (sessions stop,
    alerts resolve), the ids still being watched. Not tenant data: one row per
    source for the whole installation."""

    source = models.CharField(max_length=40, unique=True)
    last_id = models.BigIntegerField(default=0)
    watching = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.source} @ {self.last_id}"
