"""The outbound chokepoint: real HTTP and HTTPS requests to a local receiver, and the
URL policy (https only, no internal addresses) under production settings."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.monitoring import outbound
from apps.monitoring.services import webhooks as services
from tests.monitoring.webhooks.conftest import subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_policy(settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False


def post(url: str, body: bytes = b"{}") -> outbound.OutboundResponse:
    return outbound.post_json(url, body=body, headers={"X-Test": "1"}, timeout=5)


def test_post_over_https_verifies_the_certificate(tls_receiver):
    answer = post(tls_receiver.url, b'{"hello":"world"}')
    assert answer.status == 200 and answer.body == "ok"
    (request,) = tls_receiver.requests
    assert request.body == b'{"hello":"world"}'
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == outbound.USER_AGENT
    assert request.headers["X-Test"] == "1"


def test_https_with_an_untrusted_certificate_fails(tls_receiver, settings):
    settings.WEBHOOK_CA_BUNDLE = ""
    with pytest.raises(outbound.OutboundError, match="TLS error|certificate"):
        post(tls_receiver.url)
    assert tls_receiver.requests == []


def test_redirects_are_not_followed(receiver):
    receiver.statuses = [302]
    answer = post(receiver.url)
    assert answer.status == 302
    assert len(receiver.requests) == 1  # nobody went to the Location


def test_http_is_refused_when_not_allowed(receiver, production_policy):
    with pytest.raises(outbound.UnsafeUrl, match="https"):
        outbound.url_check("http://hooks.example.com/plugboard")
    with pytest.raises(outbound.UnsafeUrl, match="https"):
        post(receiver.url)
    assert receiver.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "https://[fe80::1]/hook",
        "https://[::ffff:169.254.169.254]/hook",  # the same, IPv4-mapped
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
    ],
)
def test_link_local_and_non_unicast_are_refused_always(url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # even in development
    with pytest.raises(outbound.UnsafeUrl):
        outbound.url_check(url)
    with pytest.raises(outbound.UnsafeUrl):
        post(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.1.10/hook",
        "https://172.16.0.5/hook",
        "https://100.64.0.1/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://localhost/hook",
        "https://api.localhost/hook",
    ],
)
def test_private_and_loopback_are_refused_in_production(url, production_policy):
    with pytest.raises(outbound.UnsafeUrl):
        outbound.url_check(url)


def test_a_name_resolving_to_loopback_is_refused_when_sending(tls_receiver, production_policy):
    """A public-looking name is only checked when sending, against the addresses it
    resolves to (here: localhost → 127.0.0.1). Nothing is sent."""
    url = tls_receiver.url.replace("127.0.0.1", "localhost")
    with pytest.raises(outbound.UnsafeUrl, match="127.0.0.1|::1"):
        outbound.post_json(url, body=b"{}", headers={}, timeout=5)
    assert tls_receiver.requests == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "https"),
        ("https://user:pw@hooks.example.com/x", "user name or password"),
        ("https:///no-host", "no host"),
        ("https://hooks.example.com:99999/x", "valid URL"),
    ],
)
def test_malformed_urls_are_refused(url, message, production_policy):
    with pytest.raises(outbound.UnsafeUrl, match=message):
        outbound.url_check(url)


def test_public_https_url_is_accepted(production_policy):
    outbound.url_check("https://hooks.example.com/plugboard?source=ev")
    outbound.url_check("https://93.184.215.14:8443/x")


def test_subscription_refuses_a_url_against_the_policy(org_a, superuser, production_policy):
    with pytest.raises(ValidationError) as refused:
        services.webhook_subscription_create(
            actor=superuser,
            organization_id=org_a.pk,
            name="Metadata",
            url="https://169.254.169.254/latest/meta-data/",
            event_types=["charger.offline"],
        )
    assert "link-local" in refused.value.message_dict["url"][0]


def test_a_failing_delivery_to_a_refused_address_records_why(receiver, org_a, superuser, settings):
    """The policy holds at send time too: a subscription saved while private networks
    were allowed is refused once they are not."""
    subscription = subscribe(receiver, org_a, actor=superuser)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    delivery = services.webhook_test_send(actor=superuser, subscription_id=subscription.pk)
    assert delivery.status == "failed" and delivery.response_status is None
    assert "loopback or private-network" in delivery.error
    assert receiver.requests == []
