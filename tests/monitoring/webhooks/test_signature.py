"""Signatures: what a receiver checks (docs/webhooks.md) accepts our deliveries and
rejects forged, tampered and replayed ones; rotation signs with both secrets for a
while."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.monitoring.models import WebhookSubscription
from apps.monitoring.services import webhooks as services
from tests.monitoring.webhooks.conftest import subscribe, verify_signature

pytestmark = pytest.mark.django_db


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    # Fixed vector (also in docs/webhooks.md): computed independently with
    # `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test`.
    assert (
        services.webhook_signature(secret="whsec_test", timestamp=1_700_000_000, body=b'{"a":1}')
        == "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    )


@pytest.fixture
def delivered(receiver, org_a, superuser):
    subscription = subscribe(receiver, org_a, actor=superuser)
    services.webhook_test_send(actor=superuser, subscription_id=subscription.pk)
    (request,) = receiver.requests
    assert request.signature_ok
    return subscription, request


def test_forged_signature_is_rejected(delivered, receiver):
    _, request = delivered
    header = request.headers["Plugboard-Signature"]
    assert not verify_signature(header=header, body=request.body, secret="whsec_guess")
    forged = header.split(",v1=")[0] + ",v1=" + "0" * 64
    assert not verify_signature(header=forged, body=request.body, secret=receiver.secret)
    assert not verify_signature(header="", body=request.body, secret=receiver.secret)


def test_tampered_body_is_rejected(delivered, receiver):
    _, request = delivered
    tampered = request.body.replace(b"webhook.test", b"session.stopped")
    assert tampered != request.body
    assert not verify_signature(
        header=request.headers["Plugboard-Signature"], body=tampered, secret=receiver.secret
    )


def test_replayed_delivery_is_rejected_after_the_tolerance(delivered, receiver):
    _, request = delivered
    header = request.headers["Plugboard-Signature"]
    assert verify_signature(
        header=header, body=request.body, secret=receiver.secret, now=time.time() + 60
    )
    assert not verify_signature(
        header=header, body=request.body, secret=receiver.secret, now=time.time() + 600
    )
    # Moving the timestamp forward breaks the signature.
    timestamp = int(request.headers["Plugboard-Timestamp"])
    moved = header.replace(f"t={timestamp}", f"t={timestamp + 600}")
    assert not verify_signature(
        header=moved, body=request.body, secret=receiver.secret, now=time.time() + 600
    )


def test_rotation_signs_with_both_secrets_during_the_grace(receiver, org_a, superuser, settings):
    settings.WEBHOOK_SECRET_ROTATION_GRACE_S = 3600
    subscription = subscribe(receiver, org_a, actor=superuser)
    old_secret = receiver.secret
    _, new_secret = services.webhook_subscription_rotate_secret(
        actor=superuser, subscription_id=subscription.pk
    )
    assert new_secret != old_secret and new_secret.startswith("whsec_")
    assert WebhookSubscription.objects.get().secret == new_secret

    services.webhook_test_send(actor=superuser, subscription_id=subscription.pk)
    request = receiver.requests[-1]
    header = request.headers["Plugboard-Signature"]
    assert header.count("v1=") == 2
    for secret in (old_secret, new_secret):
        assert verify_signature(header=header, body=request.body, secret=secret)

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        services.webhook_test_send(actor=superuser, subscription_id=subscription.pk)
        request = receiver.requests[-1]
        header = request.headers["Plugboard-Signature"]
        assert header.count("v1=") == 1
        assert verify_signature(header=header, body=request.body, secret=new_secret)
        assert not verify_signature(header=header, body=request.body, secret=old_secret)
