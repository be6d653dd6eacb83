"""Delivering: retries with back-off on a fake clock, giving up, disabling an endpoint
that keeps failing, leases, and what a delivery records."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from apps.chargers.models import ChargerEvent
from apps.monitoring.models import WebhookDelivery, WebhookSubscription
from apps.monitoring.services import webhooks as services
from apps.monitoring.services.webhooks import deliver
from apps.sites.models import Membership
from tests import factories
from tests.monitoring.webhooks.conftest import subscribe

pytestmark = pytest.mark.django_db


def offline_event(charger) -> ChargerEvent:
    return ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.CONNECTION,
        summary="Disconnected",
        reported_at=timezone.now(),
    )


@pytest.fixture
def charger(org_a):
    return factories.ChargerFactory(zone__property__organization=org_a, charge_point_id="CP-1")


def one_pending(receiver, org, charger) -> WebhookDelivery:
    subscribe(receiver, org, event_types=["charger.offline"])
    offline_event(charger)
    services.webhook_events_collect(settle_s=0)
    return WebhookDelivery.objects.get()


def max_delay_s(attempts: int) -> float:
    return services.webhook_retry_delay(attempts, jitter=1).total_seconds()


def test_retry_delay_grows_exponentially_with_bounded_jitter(settings):
    settings.WEBHOOK_RETRY_BASE_S = 60
    assert [services.webhook_retry_delay(n, jitter=0).total_seconds() for n in (1, 2, 3, 7)] == [
        60,
        180,
        540,
        43_740,
    ]
    spread = {services.webhook_retry_delay(2).total_seconds() for _ in range(50)}
    assert min(spread) >= 144 and max(spread) <= 216 and len(spread) > 1
    # The whole schedule of the default 8 attempts spans most of a day.
    total = sum(services.webhook_retry_delay(n, jitter=0).total_seconds() for n in range(1, 8))
    assert 15 * 3600 < total < 24 * 3600


def test_500_then_200_is_retried_after_back_off_and_delivered_once(receiver, org_a, charger):
    receiver.statuses = [500]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        delivery = one_pending(receiver, org_a, charger)
        first = services.webhook_deliveries_send()
        assert (first.attempted, first.delivered) == (1, 0)
        delivery.refresh_from_db()
        assert delivery.status == "pending" and delivery.attempts == 1
        assert (delivery.response_status, delivery.error) == (500, "HTTP 500")
        assert delivery.response_body == "nope" and delivery.duration_ms is not None
        wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
        assert 48 <= wait <= 72

        # Not due yet: nothing is sent.
        clock.shift(timedelta(seconds=40))
        assert services.webhook_deliveries_send().attempted == 0
        clock.shift(timedelta(seconds=max_delay_s(1)))
        second = services.webhook_deliveries_send()

    assert (second.attempted, second.delivered) == (1, 1)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 2
    assert (delivery.response_status, delivery.error) == (200, "")
    assert delivery.next_attempt_at is None and delivery.delivered_at is not None
    assert [r.headers["Plugboard-Attempt"] for r in receiver.requests] == ["1", "2"]
    # The same event (id and body) both times, signed afresh each time.
    assert len({r.headers["Plugboard-Event-Id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    assert all(r.signature_ok for r in receiver.requests)
    assert services.webhook_deliveries_send().attempted == 0
    assert len(receiver.requests) == 2


def test_max_attempts_fail_the_delivery_and_disable_the_subscription(
    receiver, org_a, charger, manager_a, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    manager_a.email = "manager@example.com"
    manager_a.save()
    viewer = factories.UserFactory(email="viewer@example.com")
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    receiver.statuses = [503] * 10
    with time_machine.travel(timezone.now(), tick=False) as clock:
        delivery = one_pending(receiver, org_a, charger)
        for attempt in range(1, 4):
            assert services.webhook_deliveries_send().attempted == 1
            clock.shift(timedelta(seconds=max_delay_s(attempt) + 1))
        # A second event is waiting when the endpoint is given up on: it fails too.
        offline_event(charger)
        services.webhook_events_collect(settle_s=0)
        waiting = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
        with django_capture_on_commit_callbacks(execute=True):
            assert services.webhook_deliveries_send().attempted == 1
        clock.shift(timedelta(hours=30))
        assert services.webhook_deliveries_send().attempted == 0

    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 4
    assert delivery.next_attempt_at is None and delivery.error == "HTTP 503"
    assert len(receiver.requests) == 4
    subscription = WebhookSubscription.objects.get()
    assert subscription.is_active is False and subscription.disabled_at is not None
    assert "4 failed attempts" in subscription.disabled_reason
    assert "HTTP 503" in subscription.disabled_reason
    waiting.refresh_from_db()
    assert waiting.status == "failed" and "disabled" in waiting.error
    # The organization's managers are told (viewers are not).
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["manager@example.com"]
    assert subscription.url in mail.outbox[0].body
    # Nothing more is collected for a disabled subscription.
    offline_event(charger)
    assert services.webhook_events_collect(settle_s=0).deliveries == 0


def test_an_endpoint_that_succeeds_meanwhile_is_not_disabled(receiver, org_a, charger, settings):
    """One event keeps failing (the receiver rejects it) while others get through:
    that delivery fails, the endpoint stays active."""
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.statuses = [400]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        bad = one_pending(receiver, org_a, charger)
        services.webhook_deliveries_send()
        clock.shift(timedelta(seconds=5))
        offline_event(charger)
        services.webhook_events_collect(settle_s=0)
        services.webhook_deliveries_send()  # the second event: 200
        receiver.statuses = [400]
        clock.shift(timedelta(seconds=max_delay_s(1) + 1))
        services.webhook_deliveries_send()
    bad.refresh_from_db()
    assert bad.status == "failed" and bad.attempts == 2
    assert WebhookSubscription.objects.get().is_active is True
    assert mail.outbox == []


def test_network_error_is_recorded_and_retried(org_a, charger, receiver):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    receiver.url = f"http://127.0.0.1:{closed_port}/nobody"
    delivery = one_pending(receiver, org_a, charger)
    services.webhook_deliveries_send()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.response_status is None
    assert delivery.error.startswith("Connection failed")
    assert delivery.next_attempt_at > timezone.now()


def test_a_taken_delivery_is_not_taken_twice(receiver, org_a, charger):
    """A worker leases the delivery before sending: another worker finds nothing due
    until the lease is over (a worker that died mid-send is retried then)."""
    delivery = one_pending(receiver, org_a, charger)
    now = timezone.now()
    taken = deliver._claim_next(now)
    assert taken is not None and taken.pk == delivery.pk
    assert deliver._claim_next(now) is None
    later = now + timedelta(seconds=services.SEND_LEASE_S + 1)
    assert deliver._claim_next(later).pk == delivery.pk


def test_deliveries_record_headers_and_body(receiver, org_a, charger):
    subscription = subscribe(receiver, org_a, event_types=["charger.offline"])
    row = offline_event(charger)
    services.webhook_events_collect(settle_s=0)
    services.webhook_deliveries_send()
    (request,) = receiver.requests
    delivery = WebhookDelivery.objects.get()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Plugboard-Event-Type"] == "charger.offline"
    assert request.headers["Plugboard-Event-Id"] == f"evt_conn_{row.pk}"
    assert request.headers["Plugboard-Delivery-Id"] == str(delivery.pk)
    timestamp = int(request.headers["Plugboard-Timestamp"])
    assert abs(timestamp - timezone.now().timestamp()) < 60
    assert request.headers["Plugboard-Signature"].startswith(f"t={timestamp},v1=")
    body = request.json
    assert body["id"] == f"evt_conn_{row.pk}" and body["type"] == "charger.offline"
    assert body["organization"] == {"id": org_a.pk, "name": org_a.name}
    assert body["data"]["charger"]["charge_point_id"] == "CP-1"
    assert body["data"]["reason"] == "Disconnected"
    assert subscription.deliveries.get().status == "delivered"


def test_inactive_subscription_gets_nothing_sent(receiver, org_a, charger):
    delivery = one_pending(receiver, org_a, charger)
    WebhookSubscription.objects.update(is_active=False)
    assert services.webhook_deliveries_send().attempted == 0
    delivery.refresh_from_db()
    assert delivery.status == "pending" and receiver.requests == []


def test_test_event_is_sent_once_and_not_retried(receiver, org_a, superuser):
    subscription = subscribe(receiver, org_a)
    receiver.statuses = [500]
    delivery = services.webhook_test_send(actor=superuser, subscription_id=subscription.pk)
    assert delivery.status == "failed" and delivery.response_status == 500
    assert services.webhook_deliveries_send().attempted == 0
    ok = services.webhook_test_send(actor=superuser, subscription_id=subscription.pk)
    assert ok.status == "delivered"
    assert receiver.types() == ["webhook.test", "webhook.test"]
    assert all(r.signature_ok for r in receiver.requests)
    subscription.refresh_from_db()
    # Test pings do not count towards the endpoint's health.
    assert subscription.last_failure_at is None and subscription.last_success_at is None


def test_manual_retry_resends_a_failed_delivery_once(receiver, org_a, charger, superuser, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.statuses = [500, 500]
    with time_machine.travel(timezone.now(), tick=False):
        delivery = one_pending(receiver, org_a, charger)
        WebhookSubscription.objects.update(last_success_at=timezone.now())  # not disabled
        services.webhook_deliveries_send()
        delivery.refresh_from_db()
        assert delivery.status == "failed"
        (again,) = services.webhook_deliveries_retry(actor=superuser, delivery_ids=[delivery.pk])
        assert again.status == "failed" and again.attempts == 2
        (done,) = services.webhook_deliveries_retry(actor=superuser, delivery_ids=[delivery.pk])
        assert done.status == "delivered" and done.attempts == 3
        # Delivered ones are not sent again.
        assert services.webhook_deliveries_retry(actor=superuser, delivery_ids=[delivery.pk]) == []
    assert len(receiver.requests) == 3


def test_old_events_are_purged(receiver, org_a, charger):
    with time_machine.travel(timezone.now() - timedelta(days=40), tick=False):
        one_pending(receiver, org_a, charger)
        services.webhook_deliveries_send()
    offline_event(charger)
    services.webhook_events_collect(settle_s=0)
    assert services.webhook_events_purge() == 1
    assert WebhookDelivery.objects.count() == 1
