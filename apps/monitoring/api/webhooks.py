"""Webhook subscriptions through the API: list, create (the secret is returned once),
read, change, delete, rotate the secret, list and retry deliveries, send a test
event.
Everything is scoped to the token user's organizations; another organization's
subscription is a 404, like a missing one. Payloads: docs/webhooks.md."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from apps.monitoring.models import WebhookDelivery, WebhookEventType, WebhookSubscription
from apps.monitoring.selectors import webhooks as selectors
from apps.monitoring.services import webhooks as services
from apps.sites.schemas import PageIn, error_responses

router = Router(tags=["webhooks"])


# --- schemas ------------------------------------------------------------------------


class WebhookSubscriptionIn(Schema):
    organization_id: int
    name: str = Field(max_length=100, description="What the endpoint is for.")
    url: str = Field(
        max_length=2000,
        description="HTTPS URL that receives a POST with a JSON body per event "
        "(public addresses only; see docs/webhooks.md).",
    )
    event_types: list[WebhookEventType] = Field(min_length=1)
    property_ids: list[int] = Field(
        default_factory=list,
        description="Only events of these properties; empty: every property.",
    )
    is_active: bool = True


class WebhookSubscriptionPatch(Schema):
    name: str | None = Field(None, max_length=100)
    url: str | None = Field(None, max_length=2000)
    event_types: list[WebhookEventType] | None = Field(None, min_length=1)
    property_ids: list[int] | None = None
    is_active: bool | None = Field(
        None, description="Activating a disabled subscription clears its disabled reason."
    )


class WebhookSubscriptionOut(Schema):
    id: int
    organization_id: int
    name: str
    url: str
    event_types: list[str]
    property_ids: list[int]
    is_active: bool
    secret_hint: str = Field(description="The start of the secret, to tell which one is set.")
    disabled_reason: str = Field(description="Why we disabled it (empty unless we did).")
    disabled_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_property_ids(subscription: WebhookSubscription) -> list[int]:
        return sorted(p.pk for p in subscription.properties.all())


class WebhookSubscriptionCreatedOut(WebhookSubscriptionOut):
    secret: str = Field(
        description="The signing secret. Returned only now: store it (rotate to get a new one)."
    )

    @staticmethod
    def resolve_secret(subscription: WebhookSubscription) -> str:
        # Set on the row by the create operation, from the service's answer.
        return str(subscription.new_secret)  # type: ignore[attr-defined]


class WebhookSecretOut(Schema):
    secret: str = Field(description="The new signing secret, returned only now.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries carry a signature with the old secret too."
    )


class WebhookDeliveryOut(Schema):
    id: int
    event_id: str = Field(alias="event.event_id")
    event_type: str = Field(alias="event.type")
    occurred_at: datetime = Field(alias="event.occurred_at")
    status: WebhookDelivery.Status
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    response_status: int | None
    error: str
    duration_ms: int | None
    created_at: datetime


# --- operations ---------------------------------------------------------------------

_ONE = error_responses(401, 404)
_WRITE = error_responses(401, 403, 404, 422)


@router.get("/webhooks", response={200: list[WebhookSubscriptionOut], **error_responses(401)})
def webhook_subscription_list(request: HttpRequest, page: Query[PageIn]) -> object:
    """The webhook subscriptions of your organizations, oldest first."""
    return selectors.webhook_subscription_list(
        user=request.user, offset=page.offset, limit=page.limit
    )


@router.post(
    "/webhooks", response={201: WebhookSubscriptionCreatedOut, **error_responses(401, 403, 422)}
)
def webhook_subscription_create(
    request: HttpRequest, payload: WebhookSubscriptionIn
) -> Status[WebhookSubscription]:
    """Subscribe an endpoint to event types. The answer holds the signing secret:
    it is not shown again."""
    subscription, secret = services.webhook_subscription_create(
        actor=request.user,
        organization_id=payload.organization_id,
        name=payload.name,
        url=payload.url,
        event_types=[str(t) for t in payload.event_types],
        property_ids=payload.property_ids,
        is_active=payload.is_active,
    )
    subscription.new_secret = secret  # type: ignore[attr-defined]
    return Status(201, subscription)


@router.get("/webhooks/{subscription_id}", response={200: WebhookSubscriptionOut, **_ONE})
def webhook_subscription_get(request: HttpRequest, subscription_id: int) -> object:
    """One subscription, with why it was disabled if it was."""
    return selectors.webhook_subscription_get(user=request.user, subscription_id=subscription_id)


@router.patch("/webhooks/{subscription_id}", response={200: WebhookSubscriptionOut, **_WRITE})
def webhook_subscription_update(
    request: HttpRequest, subscription_id: int, payload: WebhookSubscriptionPatch
) -> object:
    """Change the fields given; activate a subscription we disabled."""
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    if "event_types" in changes:
        changes["event_types"] = [str(t) for t in changes["event_types"]]
    return services.webhook_subscription_update(
        actor=request.user, subscription_id=subscription_id, **changes
    )


@router.delete(
    "/webhooks/{subscription_id}", response={204: None, **error_responses(401, 403, 404)}
)
def webhook_subscription_delete(request: HttpRequest, subscription_id: int) -> Status[None]:
    """Delete a subscription with its delivery log."""
    services.webhook_subscription_delete(actor=request.user, subscription_id=subscription_id)
    return Status(204, None)


@router.post(
    "/webhooks/{subscription_id}/rotate-secret",
    response={200: WebhookSecretOut, **error_responses(401, 403, 404)},
)
def webhook_subscription_rotate_secret(request: HttpRequest, subscription_id: int) -> object:
    """A new signing secret, returned only now. The old one keeps signing alongside
    it for a grace period (a day by default)."""
    subscription, secret = services.webhook_subscription_rotate_secret(
        actor=request.user, subscription_id=subscription_id
    )
    return {
        "secret": secret,
        "previous_secret_expires_at": subscription.previous_secret_expires_at,
    }


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    response={200: list[WebhookDeliveryOut], **error_responses(401, 404, 422)},
)
def webhook_delivery_list(
    request: HttpRequest,
    subscription_id: int,
    page: Query[PageIn],
    status: WebhookDelivery.Status | None = None,
) -> object:
    """The deliveries of a subscription, newest first; optionally in one status."""
    return selectors.webhook_delivery_list(
        user=request.user,
        subscription_id=subscription_id,
        status=status,
        offset=page.offset,
        limit=page.limit,
    )


@router.post(
    "/webhooks/{subscription_id}/deliveries/{delivery_id}/retry",
    response={200: WebhookDeliveryOut, **error_responses(401, 403, 404, 422)},
)
def webhook_delivery_retry(request: HttpRequest, subscription_id: int, delivery_id: int) -> object:
    """Send a failed (or waiting) delivery again now, one attempt, and answer with the
    outcome. Refused for a delivered one and while the subscription is inactive."""
    return services.webhook_delivery_retry(
        actor=request.user, subscription_id=subscription_id, delivery_id=delivery_id
    )


@router.post(
    "/webhooks/{subscription_id}/test",
    response={200: WebhookDeliveryOut, **error_responses(401, 403, 404)},
)
def webhook_test_send(request: HttpRequest, subscription_id: int) -> object:
    """Send a `webhook.test` event now, once, and answer with the outcome (the
    receiver's status code or the network error)."""
    return services.webhook_test_send(actor=request.user, subscription_id=subscription_id)
