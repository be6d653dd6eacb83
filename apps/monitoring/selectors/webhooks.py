"""Reads of webhook subscriptions and deliveries, scoped to what a user may see."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.monitoring.models import WebhookDelivery, WebhookSubscription
from apps.sites.exceptions import NotFound

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from apps.sites.tenancy import AnyUser


def webhook_subscription_list(
    *, user: AnyUser, offset: int = 0, limit: int = 100
) -> QuerySet[WebhookSubscription]:
    """The subscriptions of the user's organizations, oldest first."""
    return (
        WebhookSubscription.objects.visible_to(user)
        .prefetch_related("properties")
        .order_by("pk")[offset : offset + limit]
    )


def webhook_subscription_get(*, user: AnyUser, subscription_id: int) -> WebhookSubscription:
    """One subscription the user may see; others do not exist (NotFound)."""
    row = (
        WebhookSubscription.objects.visible_to(user)
        .prefetch_related("properties")
        .filter(pk=subscription_id)
        .first()
    )
    if row is None:
        raise NotFound(f"No such webhook subscription: {subscription_id}.")
    return row


def webhook_delivery_list(
    *,
    user: AnyUser,
    subscription_id: int,
    status: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> QuerySet[WebhookDelivery]:
    """The deliveries of one subscription the user may see, newest first."""
    subscription = webhook_subscription_get(user=user, subscription_id=subscription_id)
    rows = WebhookDelivery.objects.filter(subscription=subscription).select_related("event")
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-created_at", "-pk")[offset : offset + limit]
