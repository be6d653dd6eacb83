"""Delivering webhook events: leases, signed POSTs through apps/monitoring/outbound.py,
back-off, giving up and disabling, retention."""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.monitoring import outbound
from apps.monitoring.models import (
    WebhookDelivery,
    WebhookEvent,
    WebhookEventType,
    WebhookSubscription,
)
from apps.monitoring.services.webhooks._common import _iso, _lockable
from apps.monitoring.services.webhooks.signing import (
    HEADER_ATTEMPT,
    HEADER_DELIVERY_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    _signature_header,
)
from apps.sites.models import Membership
from apps.sites.tenancy import MANAGE_ROLES

log = logging.getLogger(__name__)

# How long a worker owns a delivery it took (longer than one attempt can last).
SEND_LEASE_S = 120


# --- delivering -----------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=SEND_LEASE_S)


def webhook_retry_delay(attempts: int, *, jitter: float | None = None) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: base × 3^(n-1),
    spread by ±20 % so that many deliveries failing together do not retry together.
    `jitter` (in [-1, 1]) fixes the spread for tests and docs."""
    spread = secrets.SystemRandom().uniform(-1, 1) if jitter is None else jitter
    base = settings.WEBHOOK_RETRY_BASE_S * 3 ** max(0, attempts - 1)
    return timedelta(seconds=base * (1 + 0.2 * spread))


def _envelope(event: WebhookEvent) -> dict[str, Any]:
    return {
        "id": event.event_id,
        "type": event.type,
        "occurred_at": _iso(event.occurred_at),
        "created_at": _iso(event.created_at),
        "organization": {"id": event.organization_id, "name": event.organization.name},
        "data": event.data,
    }


def webhook_body(event: WebhookEvent) -> bytes:
    """The JSON body of every delivery of `event` (the same bytes on each attempt)."""
    return json.dumps(_envelope(event), separators=(",", ":"), sort_keys=True).encode()


def _attempt(delivery: WebhookDelivery, *, automatic: bool) -> None:
    """One POST of a delivery this worker holds, and its outcome recorded. With
    `automatic`, a failure is retried later (until the attempts run out); a manual
    attempt (test event, "retry now") is final either way."""
    subscription = delivery.subscription
    event = delivery.event
    now = timezone.now()
    timestamp = int(now.timestamp())
    body = webhook_body(event)
    attempt_no = delivery.attempts + 1
    headers = {
        HEADER_EVENT_TYPE: event.type,
        HEADER_EVENT_ID: event.event_id,
        HEADER_DELIVERY_ID: str(delivery.pk),
        HEADER_ATTEMPT: str(attempt_no),
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: _signature_header(subscription, timestamp=timestamp, body=body, now=now),
    }
    status: int | None = None
    answer, error = "", ""
    started = time.monotonic()
    try:
        response = outbound.post_json(
            subscription.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_S
        )
        status, answer, duration_ms = response.status, response.body, response.duration_ms
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except (outbound.OutboundError, outbound.UnsafeUrl) as exc:
        error = str(exc)
        duration_ms = int((time.monotonic() - started) * 1000)
    _record(
        delivery,
        attempt_no=attempt_no,
        status=status,
        answer=answer,
        error=error,
        duration_ms=duration_ms,
        automatic=automatic,
    )


@transaction.atomic
def _record(
    delivery: WebhookDelivery,
    *,
    attempt_no: int,
    status: int | None,
    answer: str,
    error: str,
    duration_ms: int,
    automatic: bool,
) -> None:
    now = timezone.now()
    delivery.attempts = attempt_no
    delivery.last_attempt_at = now
    delivery.response_status = status
    delivery.response_body = answer
    delivery.error = error
    delivery.duration_ms = duration_ms
    subscription = delivery.subscription
    is_test = delivery.event.type == WebhookEventType.TEST
    if not error:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        if not is_test:
            WebhookSubscription.objects.filter(pk=subscription.pk).update(last_success_at=now)
    elif automatic and attempt_no < settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.next_attempt_at = now + webhook_retry_delay(attempt_no)
    else:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
    delivery.save()
    if error and not is_test:
        WebhookSubscription.objects.filter(pk=subscription.pk).update(last_failure_at=now)
    if error:
        log.info(
            "Webhook delivery %s to %s failed (attempt %s): %s",
            delivery.pk,
            subscription.url,
            attempt_no,
            error,
        )
    if automatic and delivery.status == WebhookDelivery.Status.FAILED and not is_test:
        _disable_if_failing(delivery, now)


def _disable_if_failing(delivery: WebhookDelivery, now: datetime) -> None:
    """A delivery ran out of attempts. If nothing reached the endpoint since that
    delivery was created (the whole retry schedule, about a day), the endpoint is
    taken as broken: the subscription is disabled, its waiting deliveries fail, and
    the organization's managers are told by email."""
    subscription = WebhookSubscription.objects.select_for_update().get(pk=delivery.subscription_id)
    if not subscription.is_active:
        return
    if subscription.last_success_at is not None and (
        subscription.last_success_at >= delivery.created_at
    ):
        return
    since = timezone.localtime(delivery.created_at).strftime("%Y-%m-%d %H:%M %Z")
    subscription.is_active = False
    subscription.disabled_at = now
    subscription.disabled_reason = (
        f"Disabled after {delivery.attempts} failed attempts without a success since {since}; "
        f"last error: {delivery.error}"
    )[:500]
    subscription.save(update_fields=["is_active", "disabled_at", "disabled_reason"])
    WebhookDelivery.objects.filter(
        subscription=subscription, status=WebhookDelivery.Status.PENDING
    ).update(
        status=WebhookDelivery.Status.FAILED,
        next_attempt_at=None,
        error="Not sent: the subscription was disabled.",
    )
    log.warning(
        "Webhook subscription %s disabled: %s", subscription.pk, subscription.disabled_reason
    )
    recipients = sorted(
        set(
            Membership.objects.filter(
                organization_id=subscription.organization_id, role__in=MANAGE_ROLES
            )
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    if recipients:
        subject = f"Webhook disabled: {subscription.name}"
        message = (
            f"The webhook endpoint {subscription.url} ({subscription.name}) has been "
            f"disabled.\n\n{subscription.disabled_reason}\n\n"
            "Fix the endpoint, then activate the subscription again in Plugboard "
            "(Monitoring › Webhook subscriptions); failed deliveries can be retried there."
        )
        transaction.on_commit(
            lambda: send_mail(subject, message, None, recipients, fail_silently=True)
        )


@dataclass
class SendResult:
    attempted: int = 0
    delivered: int = 0
    failed: int = 0


def _claim_next(now: datetime) -> WebhookDelivery | None:
    with transaction.atomic():
        delivery = (
            _lockable(
                WebhookDelivery.objects.filter(
                    status=WebhookDelivery.Status.PENDING,
                    next_attempt_at__lte=now,
                    subscription__is_active=True,
                )
            )
            .order_by("next_attempt_at", "pk")
            .first()
        )
        if delivery is None:
            return None
        delivery.next_attempt_at = now + _lease()
        delivery.save(update_fields=["next_attempt_at"])
    return (
        WebhookDelivery.objects.select_related("subscription", "event__organization")
        .filter(pk=delivery.pk)
        .first()
    )


def webhook_deliveries_send(*, limit: int = 200, budget_s: float | None = None) -> SendResult:
    """Attempt due deliveries, oldest due first, until none is due, `limit` were
    attempted or `budget_s` seconds passed. Several workers may run this at once:
    each delivery is taken by one (a lease under a row lock)."""
    budget = settings.WEBHOOK_SEND_BUDGET_S if budget_s is None else budget_s
    started = time.monotonic()
    result = SendResult()
    while result.attempted < limit and time.monotonic() - started < budget:
        delivery = _claim_next(timezone.now())
        if delivery is None:
            break
        _attempt(delivery, automatic=True)
        result.attempted += 1
        if delivery.status == WebhookDelivery.Status.DELIVERED:
            result.delivered += 1
        elif delivery.status == WebhookDelivery.Status.FAILED:
            result.failed += 1
    return result


@transaction.atomic
def webhook_events_purge(*, now: datetime | None = None) -> int:
    """Delete events (with their deliveries) older than WEBHOOK_RETENTION_DAYS, except
    those still being delivered. Returns how many events went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    old = WebhookEvent.objects.filter(created_at__lt=cutoff).exclude(
        Q(deliveries__status=WebhookDelivery.Status.PENDING)
    )
    count = old.count()
    WebhookEvent.objects.filter(pk__in=old.values("pk")).delete()
    return count
