"""Webhooks in the admin: the secret shown once, test events, rotation, the delivery
log and "retry now", within the manager's organization only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.monitoring.models import WebhookDelivery, WebhookSubscription
from apps.monitoring.services import webhooks as services
from apps.sites.models import Membership
from tests import factories
from tests.monitoring.webhooks.conftest import subscribe, verify_signature

pytestmark = pytest.mark.django_db

ADD = "admin:monitoring_webhooksubscription_add"
SUBSCRIPTIONS = "admin:monitoring_webhooksubscription_changelist"
DELIVERIES = "admin:monitoring_webhookdelivery_changelist"


def add_form(org, receiver, **overrides):
    return {
        "organization": org.pk,
        "name": "Dispatch",
        "url": receiver.url,
        "event_types": ["charger.offline", "session.stopped"],
        "is_active": "on",
    } | overrides


def test_add_shows_the_secret_once(client, manager_a, org_a, receiver):
    client.force_login(manager_a)
    response = client.post(reverse(ADD), add_form(org_a, receiver))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret in response.text
    assert subscription.event_types == ["charger.offline", "session.stopped"]
    assert subscription.created_by == manager_a
    # Rendered in that response only: no message cookie, no session, no later page.
    cookie = response.cookies.get("messages")
    assert cookie is None or cookie.value == ""
    assert subscription.secret not in str(dict(client.session))
    assert subscription.secret not in client.get(reverse(SUBSCRIPTIONS)).text
    change = client.get(
        reverse("admin:monitoring_webhooksubscription_change", args=[subscription.pk])
    )
    assert change.status_code == 200
    assert subscription.secret not in change.text
    assert subscription.secret_hint in change.text


def test_add_refuses_urls_against_the_policy(client, manager_a, org_a, receiver, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    client.force_login(manager_a)
    response = client.post(reverse(ADD), add_form(org_a, receiver))
    assert response.status_code == 200
    assert "https" in str(response.context["adminform"].form.errors["url"])
    metadata = client.post(
        reverse(ADD), add_form(org_a, receiver, url="https://169.254.169.254/latest/")
    )
    assert "link-local" in str(metadata.context["adminform"].form.errors["url"])
    assert not WebhookSubscription.objects.exists()


def test_add_refuses_another_orgs_property(client, manager_a, org_a, org_b, receiver):
    # A manager of both organizations still cannot mix them.
    factories.MembershipFactory(
        user=manager_a, organization=org_b, role=Membership.Role.PROPERTY_MANAGER
    )
    b_property = factories.PropertyFactory(organization=org_b)
    client.force_login(manager_a)
    response = client.post(reverse(ADD), add_form(org_a, receiver, properties=[b_property.pk]))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not WebhookSubscription.objects.exists()


def _action(client, name, pks, url=SUBSCRIPTIONS):
    return client.post(
        reverse(url), {"action": name, "_selected_action": [str(pk) for pk in pks]}, follow=True
    )


def test_send_test_event_action(client, manager_a, org_a, receiver):
    subscription = subscribe(receiver, org_a)
    client.force_login(manager_a)
    response = _action(client, "send_test_event", [subscription.pk])
    assert "delivered (HTTP 200" in response.text
    assert receiver.types() == ["webhook.test"] and receiver.requests[0].signature_ok


def test_rotate_secret_action_shows_the_new_secret_once(client, manager_a, org_a, receiver):
    subscription = subscribe(receiver, org_a)
    old = receiver.secret
    client.force_login(manager_a)
    response = _action(client, "rotate_secret", [subscription.pk])
    subscription.refresh_from_db()
    assert subscription.secret != old and subscription.secret in response.text
    assert "no-store" in response["Cache-Control"]
    services.webhook_test_send(actor=manager_a, subscription_id=subscription.pk)
    request = receiver.requests[-1]
    for secret in (old, subscription.secret):
        assert verify_signature(
            header=request.headers["Plugboard-Signature"], body=request.body, secret=secret
        )


def test_actions_touch_only_rows_the_user_may_change(client, org_a, org_b, receiver):
    """A viewer of A who manages B selects A's subscription: nothing is sent or
    rotated for it."""
    user = factories.UserFactory(username="mixed")
    factories.MembershipFactory(user=user, organization=org_a, role=Membership.Role.VIEWER)
    factories.MembershipFactory(
        user=user, organization=org_b, role=Membership.Role.PROPERTY_MANAGER
    )
    theirs = subscribe(receiver, org_a)
    secret = theirs.secret
    client.force_login(user)
    _action(client, "send_test_event", [theirs.pk])
    _action(client, "rotate_secret", [theirs.pk])
    theirs.refresh_from_db()
    assert receiver.requests == [] and theirs.secret == secret


def failed_delivery(receiver, org) -> WebhookDelivery:
    subscription = subscribe(receiver, org)
    receiver.statuses = [500]
    delivery = services.webhook_test_send(
        actor=factories.UserFactory(is_superuser=True), subscription_id=subscription.pk
    )
    assert delivery.status == "failed"
    return delivery


def test_delivery_log_filters_and_retry_now(client, manager_a, org_a, receiver):
    delivery = failed_delivery(receiver, org_a)
    client.force_login(manager_a)
    failed = client.get(reverse(DELIVERIES) + "?status__exact=failed")
    assert list(failed.context["cl"].result_list) == [delivery]
    assert (
        not client.get(reverse(DELIVERIES) + "?status__exact=delivered").context["cl"].result_list
    )
    page = client.get(reverse("admin:monitoring_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200 and "webhook.test" in page.text and "HTTP 500" in page.text
    response = _action(client, "retry_now", [delivery.pk], url=DELIVERIES)
    assert "1 delivered" in response.text
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 2


def test_retry_now_skips_other_orgs_deliveries(client, manager_a, org_b, receiver):
    theirs = failed_delivery(receiver, org_b)
    client.force_login(manager_a)
    _action(client, "retry_now", [theirs.pk], url=DELIVERIES)
    theirs.refresh_from_db()
    assert theirs.status == "failed" and theirs.attempts == 1
    assert len(receiver.requests) == 1


def test_viewer_gets_no_actions(client, org_a, receiver):
    viewer = factories.UserFactory(username="viewer")
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    failed_delivery(receiver, org_a)
    client.force_login(viewer)
    for url in (SUBSCRIPTIONS, DELIVERIES):
        response = client.get(reverse(url))
        assert response.status_code == 200
        form = response.context["action_form"]  # None: no action at all
        actions = [name for name, _ in form.fields["action"].choices] if form else []
        assert not {"send_test_event", "rotate_secret", "retry_now"} & set(actions)
