"""Webhook subscriptions: create, change, delete, rotate the secret, test events and
manual retries."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.monitoring import outbound
from apps.monitoring.models import (
    WebhookDelivery,
    WebhookEvent,
    WebhookEventType,
    WebhookSubscription,
)
from apps.monitoring.models.webhooks import SUBSCRIBABLE_EVENT_TYPES
from apps.monitoring.services.webhooks._common import _lockable
from apps.monitoring.services.webhooks.collect import _cursors_start
from apps.monitoring.services.webhooks.deliver import _attempt, _lease
from apps.monitoring.services.webhooks.signing import _new_secret
from apps.sites.exceptions import DomainError, Forbidden, InvalidReference, NotFound
from apps.sites.models import Organization, Property
from apps.sites.selectors import row_for_write

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

# Manual "retry now" sends at most this many in the request.
MANUAL_RETRY_MAX = 20


# --- subscriptions ----------------------------------------------------------------------


def _subscription_for_write(actor: AnyUser, subscription_id: int) -> WebhookSubscription:
    """The subscription for a change by `actor`: one they cannot see does not exist
    (NotFound), one they only view is Forbidden."""
    row = (
        WebhookSubscription.objects.visible_to(actor)
        .select_related("organization")
        .filter(pk=subscription_id)
        .first()
    )
    if row is None:
        raise NotFound(f"No such webhook subscription: {subscription_id}.")
    if not WebhookSubscription.objects.editable_by(actor).filter(pk=row.pk).exists():
        raise Forbidden("Your role in this organization does not allow changing its webhooks.")
    return row


def _clean_url(url: str) -> str:
    url = url.strip()
    try:
        outbound.url_check(url)
    except outbound.UnsafeUrl as exc:
        raise ValidationError({"url": str(exc)}) from exc
    return url


def _clean_event_types(event_types: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(str(t) for t in event_types))
    allowed = {str(t) for t in SUBSCRIBABLE_EVENT_TYPES}
    unknown = [t for t in wanted if t not in allowed]
    if unknown:
        raise ValidationError(
            {
                "event_types": f"Unknown event type(s): {', '.join(unknown)}. "
                f"Known: {', '.join(sorted(allowed))}."
            }
        )
    if not wanted:
        raise ValidationError({"event_types": "Choose at least one event type."})
    return [str(t) for t in SUBSCRIBABLE_EVENT_TYPES if str(t) in wanted]


def _clean_properties(organization: Organization, property_ids: Iterable[int]) -> list[Property]:
    ids = set(property_ids)
    found = list(Property.objects.filter(organization=organization, pk__in=ids).order_by("pk"))
    missing = ids - {p.pk for p in found}
    if missing:
        raise InvalidReference(
            f"No such property in {organization.name}: "
            f"{', '.join(str(i) for i in sorted(missing))}.",
            field="property_ids",
        )
    return found


@transaction.atomic
def webhook_subscription_create(
    *,
    actor: AnyUser,
    organization_id: int,
    name: str,
    url: str,
    event_types: Sequence[str],
    property_ids: Sequence[int] = (),
    is_active: bool = True,
) -> tuple[WebhookSubscription, str]:
    """Subscribe `url` of one of the actor's organizations. Returns the subscription
    and its secret (shown to the user this once)."""
    organization = row_for_write(
        Organization.objects.all(),
        organization_id,
        user=actor,
        field="organization_id",
        label="organization",
    )
    secret = _new_secret()
    subscription = WebhookSubscription.objects.create(
        organization=organization,
        name=name.strip()[:100] or "Webhook",
        url=_clean_url(url),
        event_types=_clean_event_types(event_types),
        is_active=is_active,
        secret=secret,
        created_by_id=getattr(actor, "pk", None),
    )
    subscription.properties.set(_clean_properties(organization, property_ids))
    # Events are collected from the moment the first subscription exists: start the
    # cursors now rather than replay what happened before.
    _cursors_start(now=timezone.now())
    return subscription, secret


_UNSET: Any = object()


@transaction.atomic
def webhook_subscription_update(
    *,
    actor: AnyUser,
    subscription_id: int,
    name: str = _UNSET,
    url: str = _UNSET,
    event_types: Sequence[str] = _UNSET,
    property_ids: Sequence[int] = _UNSET,
    is_active: bool = _UNSET,
) -> WebhookSubscription:
    """Change what is given. Activating a subscription (again) clears why it was
    disabled; its failed deliveries stay failed ("retry" resends them)."""
    subscription = _subscription_for_write(actor, subscription_id)
    if name is not _UNSET:
        subscription.name = name.strip()[:100] or subscription.name
    if url is not _UNSET:
        subscription.url = _clean_url(url)
    if event_types is not _UNSET:
        subscription.event_types = _clean_event_types(event_types)
    if is_active is not _UNSET:
        if is_active and not subscription.is_active:
            subscription.disabled_reason, subscription.disabled_at = "", None
            _cursors_start(now=timezone.now())
        subscription.is_active = is_active
    subscription.save()
    if property_ids is not _UNSET:
        subscription.properties.set(_clean_properties(subscription.organization, property_ids))
    return subscription


@transaction.atomic
def webhook_subscription_delete(*, actor: AnyUser, subscription_id: int) -> None:
    _subscription_for_write(actor, subscription_id).delete()


@transaction.atomic
def webhook_subscription_rotate_secret(
    *, actor: AnyUser, subscription_id: int, now: datetime | None = None
) -> tuple[WebhookSubscription, str]:
    """A new secret (returned, shown once). The old one keeps signing alongside it
    for WEBHOOK_SECRET_ROTATION_GRACE_S, so receivers can switch without losing
    deliveries; rotating again ends that grace at once."""
    now = now or timezone.now()
    subscription = _subscription_for_write(actor, subscription_id)
    secret = _new_secret()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = now + timedelta(
        seconds=settings.WEBHOOK_SECRET_ROTATION_GRACE_S
    )
    subscription.secret = secret
    subscription.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return subscription, secret


def webhook_test_send(
    *, actor: AnyUser, subscription_id: int, now: datetime | None = None
) -> WebhookDelivery:
    """Send a `webhook.test` event to the subscription now, once (no retries, and
    its outcome does not count towards disabling). Returns the delivery with the
    receiver's answer."""
    now = now or timezone.now()
    subscription = _subscription_for_write(actor, subscription_id)
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            event_id=f"evt_test_{uuid.uuid4().hex}",
            organization=subscription.organization,
            type=WebhookEventType.TEST,
            occurred_at=now,
            data={
                "subscription": {"id": subscription.pk, "name": subscription.name},
                "message": "A test event sent on request from Plugboard.",
            },
        )
        delivery = WebhookDelivery.objects.create(
            subscription=subscription, event=event, next_attempt_at=now + _lease()
        )
    _attempt(delivery, automatic=False)
    return delivery


def webhook_deliveries_retry(
    *, actor: AnyUser, delivery_ids: Iterable[int], now: datetime | None = None
) -> list[WebhookDelivery]:
    """Send the given deliveries again now, one attempt each (at most
    MANUAL_RETRY_MAX; delivered ones and those of inactive subscriptions are left
    alone). Returns the deliveries attempted, with their outcome."""
    now = now or timezone.now()
    editable = WebhookDelivery.objects.editable_by(actor).filter(
        pk__in=list(delivery_ids),
        subscription__is_active=True,
        status__in=[WebhookDelivery.Status.FAILED, WebhookDelivery.Status.PENDING],
    )
    attempted = []
    for pk in editable.order_by("pk").values_list("pk", flat=True)[:MANUAL_RETRY_MAX]:
        with transaction.atomic():
            delivery = (
                _lockable(WebhookDelivery.objects.filter(pk=pk).exclude(status="delivered"))
                .select_related("subscription", "event__organization")
                .first()
            )
            if delivery is None:
                continue
            delivery.status = WebhookDelivery.Status.PENDING
            delivery.next_attempt_at = now + _lease()
            delivery.save(update_fields=["status", "next_attempt_at"])
        _attempt(delivery, automatic=False)
        attempted.append(delivery)
    return attempted


def webhook_delivery_retry(
    *, actor: AnyUser, subscription_id: int, delivery_id: int
) -> WebhookDelivery:
    """Send one delivery of a subscription again now (one attempt). Returns it with
    the outcome. A delivered one, or one of an inactive subscription, is refused."""
    subscription = _subscription_for_write(actor, subscription_id)
    delivery = WebhookDelivery.objects.filter(subscription=subscription, pk=delivery_id).first()
    if delivery is None:
        raise NotFound(f"No such delivery of this subscription: {delivery_id}.")
    if delivery.status == WebhookDelivery.Status.DELIVERED:
        raise DomainError("This delivery was delivered already.")
    if not subscription.is_active:
        raise DomainError("The subscription is not active: activate it first.")
    attempted = webhook_deliveries_retry(actor=actor, delivery_ids=[delivery.pk])
    if not attempted:
        raise DomainError("The delivery changed meanwhile; reload and try again.")
    return attempted[0]
