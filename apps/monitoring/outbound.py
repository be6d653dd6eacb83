"""The one module that makes outbound HTTP requests (webhook deliveries). Tests that
must not leave the machine point it at a local receiver; nothing else opens sockets
to operator-supplied addresses.

URL policy (what an operator may subscribe, and where we connect):

- `https://` only, unless settings.WEBHOOK_ALLOW_HTTP (local development, tests).
- No user name or password in the URL (it would be shown in the admin and logs).
- The host's addresses are resolved when sending and every one must be public
  (`ipaddress.is_global`). Loopback and private networks (10/8, 172.16/12,
  192.168/16, fc00::/7, 100.64/10, ...) are refused unless
  settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS. Link-local (169.254/16 -- the cloud
  metadata endpoints --, fe80::/10), multicast, unspecified and reserved
  addresses are refused always: no webhook lives there.
- We connect to the address that was checked (no second DNS lookup that could
  answer differently: DNS rebinding), send the host name in Host and TLS SNI, and
  verify the certificate against that name. Redirects are not followed (a 3xx is
  a failed attempt), so a receiver cannot bounce us to an internal address.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

USER_AGENT = "Plugboard-Webhooks/1"
# How much of a receiver's answer we keep (for the delivery log).
RESPONSE_EXCERPT_BYTES = 2048

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """The URL is refused by the policy above; the message says why."""


class OutboundError(Exception):
    """The request did not get an HTTP answer (DNS, connect, TLS, timeout)."""


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    body: str
    duration_ms: int


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str


def _parse(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"Not a valid URL: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme == "http" and not settings.WEBHOOK_ALLOW_HTTP:
        raise UnsafeUrl("The URL must start with https:// (plain http is not allowed).")
    if scheme not in ("https", "http"):
        raise UnsafeUrl("The URL must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("The URL must not contain a user name or password.")
    host = parts.hostname or ""
    if not host:
        raise UnsafeUrl("The URL has no host.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _address_problem(address: IpAddress) -> str:
    """Why we may not connect to `address` ("" when we may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _address_problem(address.ipv4_mapped)
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    if address.is_global:
        return ""
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return ""
    return "a loopback or private-network address"


def _literal_address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def url_check(url: str) -> None:
    """Refuse a URL that breaks the policy without a DNS lookup (when it is saved:
    the name may legitimately not resolve yet). The addresses a name resolves to
    are checked each time we send."""
    target = _parse(url)
    address = _literal_address(target.host)
    if address is not None and (problem := _address_problem(address)):
        raise UnsafeUrl(f"The URL's host {target.host} is {problem}.")
    name = target.host.lower().rstrip(".")
    is_local_name = name in ("localhost", "localhost.localdomain") or name.endswith(".localhost")
    if is_local_name and not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        raise UnsafeUrl(f"The URL's host {target.host} is this machine.")


def _resolve(target: _Target) -> IpAddress:
    """The address to connect to: the first of the host's addresses, once all of them
    passed the policy (one bad address refuses the host: we do not pick and choose
    among answers an attacker may control)."""
    literal = _literal_address(target.host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise OutboundError(f"DNS lookup of {target.host} failed: {exc}.") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise OutboundError(f"DNS lookup of {target.host} gave no address.")
    for address in addresses:
        if problem := _address_problem(address):
            raise UnsafeUrl(f"The URL's host {target.host} resolves to {address}, {problem}.")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, *, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def _tls_context() -> ssl.SSLContext:
    # WEBHOOK_CA_BUNDLE: extra trust for receivers behind a private CA (and tests).
    return ssl.create_default_context(cafile=settings.WEBHOOK_CA_BUNDLE or None)


def post_json(
    url: str, *, body: bytes, headers: dict[str, str], timeout: float
) -> OutboundResponse:
    """POST `body` as JSON to `url` under the policy above. Any HTTP answer is
    returned (the caller decides what counts as delivered); no answer raises
    OutboundError, a refused URL UnsafeUrl. `timeout` bounds the connect and each
    read."""
    target = _parse(url)
    address = str(_resolve(target))
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(
            target.host, target.port, address=address, timeout=timeout, context=_tls_context()
        )
    else:
        connection = _PinnedHTTPConnection(
            target.host, target.port, address=address, timeout=timeout
        )
    all_headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **headers,
    }
    started = time.monotonic()
    try:
        connection.request("POST", target.path, body=body, headers=all_headers)
        response = connection.getresponse()
        excerpt = response.read(RESPONSE_EXCERPT_BYTES)
        status = response.status
    except TimeoutError as exc:
        raise OutboundError(f"No answer within {timeout:g} s.") from exc
    except ssl.SSLError as exc:
        raise OutboundError(f"TLS error: {exc}.") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise OutboundError(f"Connection failed: {exc or type(exc).__name__}.") from exc
    finally:
        connection.close()
    duration_ms = int((time.monotonic() - started) * 1000)
    return OutboundResponse(
        status=status, body=excerpt.decode("utf-8", errors="replace"), duration_ms=duration_ms
    )
