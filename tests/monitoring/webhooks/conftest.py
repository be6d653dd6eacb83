"""Webhook test helpers: a real HTTP(S) receiver on 127.0.0.1 that checks each
request's signature the way docs/webhooks.md tells integrators to, and records it.

The OCPP end-to-end fixtures are imported from tests/ocpp_consumer/conftest.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from apps.monitoring.models import WebhookSubscription
from apps.monitoring.services import webhooks as services
from tests import factories
from tests.ocpp_consumer import conftest as ocpp_conftest
from tests.ocpp_consumer.conftest import OcppServer, ocpp_server  # noqa: F401

TOLERANCE_S = 300


@pytest.fixture(scope="session")
def _daphne() -> OcppServer:
    """The OCPP test server of tests/ocpp_consumer, started once per test session:
    Twisted's reactor cannot run twice, so when that folder's tests started it
    already, it is reused."""
    if ocpp_conftest._SERVER is not None:
        return ocpp_conftest._SERVER
    start = ocpp_conftest._daphne.__wrapped__  # the fixture's plain function
    server: OcppServer = start()
    return server


def verify_signature(
    *,
    header: str,
    body: bytes,
    secret: str,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> bool:
    """The receiver's check, as in docs/webhooks.md: a v1 signature made with our
    secret over "<t>.<body>", and t within the tolerance (no replays)."""
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return self.headers["Plugboard-Event-Type"]


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (200 once the script is
    used up) and records it, with whether its signature checks out."""

    url: str = ""
    secret: str = ""
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def types(self) -> list[str]:
        return [r.type for r in self.requests]

    def by_type(self, type_: str) -> list[Received]:
        return [r for r in self.requests if r.type == type_]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 -- http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ok = verify_signature(
                header=self.headers.get("Plugboard-Signature", ""),
                body=body,
                secret=receiver.secret,
            )
            with receiver.lock:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body, ok))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"nope")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _serve(receiver: Receiver, context: ssl.SSLContext | None) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    scheme = "http"
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    receiver.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/hooks/plugboard"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver(), None)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (made with openssl)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(  # noqa: S603 -- fixed arguments
        [  # noqa: S607 -- openssl from PATH
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_receiver(tls_files: tuple[Path, Path], settings: Any) -> Iterator[Receiver]:
    """An HTTPS receiver whose certificate we trust through WEBHOOK_CA_BUNDLE."""
    cert, key = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    settings.WEBHOOK_CA_BUNDLE = str(cert)
    yield from _serve(Receiver(), context)


def subscribe(
    receiver: Receiver,
    organization: Any,
    *,
    event_types: list[str] | None = None,
    property_ids: list[int] | None = None,
    actor: Any = None,
) -> WebhookSubscription:
    """A subscription of `organization` to the receiver (all events by default); the
    receiver learns its secret."""
    if actor is None:
        actor = factories.UserFactory(is_superuser=True)
    subscription, secret = services.webhook_subscription_create(
        actor=actor,
        organization_id=organization.pk,
        name="Receiver",
        url=receiver.url,
        event_types=event_types or [str(t) for t in services.SUBSCRIBABLE_EVENT_TYPES],
        property_ids=property_ids or [],
    )
    receiver.secret = secret
    return subscription
