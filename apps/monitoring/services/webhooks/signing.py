"""Webhook secrets and signatures (what receivers check: docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from apps.monitoring.models import WebhookSubscription

SECRET_PREFIX = "whsec_"  # noqa: S105 -- a prefix, not a secret
SIGNATURE_SCHEME = "v1"
HEADER_EVENT_TYPE = "Plugboard-Event-Type"
HEADER_EVENT_ID = "Plugboard-Event-Id"
HEADER_DELIVERY_ID = "Plugboard-Delivery-Id"
HEADER_ATTEMPT = "Plugboard-Attempt"
HEADER_TIMESTAMP = "Plugboard-Timestamp"
HEADER_SIGNATURE = "Plugboard-Signature"

# --- secrets and signatures -----------------------------------------------------------


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 (hex) of "<timestamp>.<body>" with `secret`: what receivers
    recompute to check a delivery (docs/webhooks.md)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _signing_secrets(subscription: WebhookSubscription, now: datetime) -> list[str]:
    found = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        found.append(subscription.previous_secret)
    return found


def _signature_header(
    subscription: WebhookSubscription, *, timestamp: int, body: bytes, now: datetime
) -> str:
    signatures = [
        f"{SIGNATURE_SCHEME}={webhook_signature(secret=s, timestamp=timestamp, body=body)}"
        for s in _signing_secrets(subscription, now)
    ]
    return ",".join([f"t={timestamp}", *signatures])
