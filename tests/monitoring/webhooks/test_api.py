"""/api/v1/webhooks: subscriptions by token, scoped to the user's organizations."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.monitoring.models import WebhookDelivery, WebhookSubscription
from apps.monitoring.services import webhooks as services
from apps.sites.models import Membership
from apps.sites.services import api_token_create
from tests import factories
from tests.monitoring.webhooks.conftest import subscribe, verify_signature

pytestmark = pytest.mark.django_db


def bearer(user) -> dict[str, str]:
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def create(client, user, **body):
    return client.post(
        reverse("api:webhook_subscription_create"),
        body,
        content_type="application/json",
        **bearer(user),
    )


def valid(org, receiver, **overrides):
    return {
        "organization_id": org.pk,
        "name": "ERP",
        "url": receiver.url,
        "event_types": ["session.stopped", "connector.faulted"],
    } | overrides


def test_create_returns_the_secret_once(client, manager_a, org_a, receiver):
    response = create(client, manager_a, **valid(org_a, receiver))
    assert response.status_code == 201, response.json()
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert body["event_types"] == ["connector.faulted", "session.stopped"]
    assert body["is_active"] is True and body["property_ids"] == []
    assert body["secret_hint"] == secret[:10] + "…"
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret == secret and subscription.created_by == manager_a
    # Never again: reads carry only the hint.
    read = client.get(
        reverse("api:webhook_subscription_get", args=[subscription.pk]), **bearer(manager_a)
    )
    assert read.status_code == 200 and "secret" not in read.json()
    assert secret not in read.content.decode()


def test_create_refuses_bad_input(client, manager_a, org_a, org_b, receiver, settings):
    b_property = factories.PropertyFactory(organization=org_b)
    unknown_type = create(client, manager_a, **valid(org_a, receiver, event_types=["boom"]))
    assert unknown_type.status_code == 422
    foreign_property = create(
        client, manager_a, **valid(org_a, receiver, property_ids=[b_property.pk])
    )
    assert foreign_property.status_code == 422
    assert foreign_property.json()["errors"][0]["field"] == "property_ids"
    other_org = create(client, manager_a, **valid(org_b, receiver))
    assert other_org.status_code == 422
    assert other_org.json()["errors"][0]["field"] == "organization_id"
    settings.WEBHOOK_ALLOW_HTTP = False
    plain_http = create(client, manager_a, **valid(org_a, receiver))
    assert plain_http.status_code == 422
    assert plain_http.json()["errors"][0]["field"] == "url"
    assert "https" in plain_http.json()["detail"]
    assert not WebhookSubscription.objects.exists()


def test_viewer_may_read_but_not_create_or_change(client, org_a, receiver):
    viewer = factories.UserFactory(username="viewer")
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    subscription = subscribe(receiver, org_a)
    assert create(client, viewer, **valid(org_a, receiver)).status_code == 403
    listed = client.get(reverse("api:webhook_subscription_list"), **bearer(viewer))
    assert [s["id"] for s in listed.json()] == [subscription.pk]
    patch = client.patch(
        reverse("api:webhook_subscription_update", args=[subscription.pk]),
        {"name": "mine"},
        content_type="application/json",
        **bearer(viewer),
    )
    assert patch.status_code == 403


def test_update_and_reactivate(client, manager_a, org_a, receiver):
    prop = factories.PropertyFactory(organization=org_a)
    subscription = subscribe(receiver, org_a)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        is_active=False, disabled_reason="Disabled after 8 failed attempts"
    )
    response = client.patch(
        reverse("api:webhook_subscription_update", args=[subscription.pk]),
        {"is_active": True, "event_types": ["charger.offline"], "property_ids": [prop.pk]},
        content_type="application/json",
        **bearer(manager_a),
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["is_active"] is True and body["disabled_reason"] == ""
    assert body["event_types"] == ["charger.offline"] and body["property_ids"] == [prop.pk]
    assert body["url"] == receiver.url  # untouched


def test_test_event_deliveries_and_rotation(client, manager_a, org_a, receiver):
    subscription = subscribe(receiver, org_a)
    sent = client.post(
        reverse("api:webhook_test_send", args=[subscription.pk]), **bearer(manager_a)
    )
    assert sent.status_code == 200, sent.json()
    assert sent.json()["status"] == "delivered" and sent.json()["response_status"] == 200
    assert sent.json()["event_type"] == "webhook.test"
    assert receiver.requests[0].signature_ok

    deliveries = client.get(
        reverse("api:webhook_delivery_list", args=[subscription.pk]) + "?status=delivered",
        **bearer(manager_a),
    )
    assert [d["id"] for d in deliveries.json()] == [sent.json()["id"]]
    none_failed = client.get(
        reverse("api:webhook_delivery_list", args=[subscription.pk]) + "?status=failed",
        **bearer(manager_a),
    )
    assert none_failed.json() == []

    rotated = client.post(
        reverse("api:webhook_subscription_rotate_secret", args=[subscription.pk]),
        **bearer(manager_a),
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != receiver.secret
    client.post(reverse("api:webhook_test_send", args=[subscription.pk]), **bearer(manager_a))
    last = receiver.requests[-1]
    assert verify_signature(
        header=last.headers["Plugboard-Signature"], body=last.body, secret=new_secret
    )


def test_delete(client, manager_a, org_a, receiver):
    subscription = subscribe(receiver, org_a)
    response = client.delete(
        reverse("api:webhook_subscription_delete", args=[subscription.pk]), **bearer(manager_a)
    )
    assert response.status_code == 204
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    ("method", "name", "body"),
    [
        ("get", "webhook_subscription_get", None),
        ("patch", "webhook_subscription_update", {"name": "hijacked"}),
        ("delete", "webhook_subscription_delete", None),
        ("post", "webhook_subscription_rotate_secret", None),
        ("get", "webhook_delivery_list", None),
        ("post", "webhook_test_send", None),
    ],
)
def test_another_tenants_subscription_is_not_found(
    client, manager_a, org_b, receiver, method, name, body
):
    theirs = subscribe(receiver, org_b)
    before = WebhookSubscription.objects.values().get(pk=theirs.pk)
    kwargs = {"content_type": "application/json"} if body is not None else {}
    response = getattr(client, method)(
        reverse(f"api:{name}", args=[theirs.pk]), body, **kwargs, **bearer(manager_a)
    )
    assert response.status_code == 404
    assert WebhookSubscription.objects.values().get(pk=theirs.pk) == before
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_list_shows_own_organizations_only(client, manager_a, org_a, org_b, receiver):
    mine = subscribe(receiver, org_a)
    subscribe(receiver, org_b)
    response = client.get(reverse("api:webhook_subscription_list"), **bearer(manager_a))
    assert [s["id"] for s in response.json()] == [mine.pk]


def test_requires_a_token(client):
    assert client.get(reverse("api:webhook_subscription_list")).status_code == 401


def test_retry_a_failed_delivery(client, manager_a, org_a, org_b, receiver):
    subscription = subscribe(receiver, org_a)
    receiver.statuses = [500]
    failed = client.post(
        reverse("api:webhook_test_send", args=[subscription.pk]), **bearer(manager_a)
    ).json()
    assert failed["status"] == "failed" and failed["response_status"] == 500
    url = reverse("api:webhook_delivery_retry", args=[subscription.pk, failed["id"]])
    again = client.post(url, **bearer(manager_a))
    assert again.status_code == 200, again.json()
    assert again.json()["status"] == "delivered" and again.json()["attempts"] == 2
    assert client.post(url, **bearer(manager_a)).status_code == 422  # delivered already
    # Another organization's subscription, or its delivery under ours: not found.
    theirs = subscribe(receiver, org_b)
    receiver.statuses = [500]
    their_delivery = services.webhook_test_send(
        actor=factories.UserFactory(is_superuser=True), subscription_id=theirs.pk
    )
    for args in ([theirs.pk, their_delivery.pk], [subscription.pk, their_delivery.pk]):
        response = client.post(
            reverse("api:webhook_delivery_retry", args=args), **bearer(manager_a)
        )
        assert response.status_code == 404
    their_delivery.refresh_from_db()
    assert their_delivery.status == "failed" and their_delivery.attempts == 1
    assert len(receiver.requests) == 3
