"""A minimal websocket client for bench/ocpp_load.py: text frames, pings, close.

Why not the `websockets` package: measured on this 2-core VM, its asyncio client
cost ~280 µs of CPU per OCPP call (send, frame, assembler, futures, timeouts), which
at 2,000 MeterValues/s is more than half a core taken from the server under test.
This protocol writes a frame with one `transport.write` and hands a received text
frame straight to the waiting charger. It does what a benchmark charger needs and
no more: the opening handshake (with the Sec-WebSocket-Accept check), unfragmented
or fragmented text frames, answering pings, optional client pings, the closing
handshake; no extensions. Client frames are masked as RFC 6455 requires, with one
random key per connection (a real client draws one per frame; the server cannot
tell the difference and the benchmark saves the random draw).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEADER = 16 * 1024
MAX_MESSAGE = 64 * 1024


class HandshakeRefused(ConnectionError):
    """The server answered the upgrade with an HTTP status other than 101."""

    def __init__(self, status: int):
        super().__init__(f"server refused the websocket: HTTP {status}")
        self.status = status


class Closed(ConnectionError):
    """The connection is gone (closed by the server, or the TCP connection lost)."""


class Socket(asyncio.Protocol):
    def __init__(self, request: bytes, key: bytes, on_lost: Callable[[], None] | None):
        self.request = request
        self.accept = base64.b64encode(hashlib.sha1(key + GUID).digest())  # noqa: S324 (RFC 6455)
        self.on_lost = on_lost
        self.transport: Any = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.buffer = b""
        self.handshaking = True
        self.fragments: list[bytes] = []
        self.inbox: deque[str] = deque()
        self.waiter: asyncio.Future[str] | None = None
        self.closed = False
        mask = os.urandom(4)
        self.mask = mask
        self.mask_ints: dict[int, int] = {}  # length -> the key repeated to it, as an int
        self.pinger: asyncio.TimerHandle | None = None

    # --------------------------------------------------------------- asyncio

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        if self.handshaking:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                if len(buffer) > MAX_HEADER:
                    self.fail(Closed("handshake answer too long"))
                return
            self.handshake(buffer[:end])
            buffer = buffer[end + 4 :]
            if self.closed:
                return
        self.buffer = self.frames(buffer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(Closed(str(exc) if exc else "connection closed"))

    # ------------------------------------------------------------- receiving

    def handshake(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if status != 101:
            self.fail(HandshakeRefused(status))
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("sec-websocket-accept", "").encode() != self.accept:
            self.fail(Closed("bad Sec-WebSocket-Accept"))
            return
        self.handshaking = False
        if not self.opened.done():
            self.opened.set_result(None)

    def frames(self, buffer: bytes) -> bytes:
        """Handle every complete frame in buffer; return what is left over."""
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length, start = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    break
                length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if second & 0x80:  # servers do not mask
                self.fail(Closed("masked frame from the server"))
                return b""
            if length > MAX_MESSAGE:
                self.fail(Closed("frame too long"))
                return b""
            if len(buffer) < start + length:
                break
            payload = buffer[start : start + length]
            buffer = buffer[start + length :]
            self.frame(first & 0x80, first & 0x0F, payload)
            if self.closed:
                return b""
        return buffer

    def frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode in (0x1, 0x0):  # text, or a continuation of it
            if not fin:
                self.fragments.append(payload)
                return
            if self.fragments:
                payload = b"".join([*self.fragments, payload])
                self.fragments = []
            text = payload.decode()
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                self.waiter = None
                waiter.set_result(text)
            else:
                self.inbox.append(text)
        elif opcode == 0x9:  # ping
            self.write(0x8A, payload)
        elif opcode == 0x8:  # close: answer it, then the server closes TCP
            self.write(0x88, payload[:2])
            self.fail(Closed("closed by the server"))
        # pong (0xA) and binary frames are ignored

    async def recv(self) -> str:
        if self.inbox:
            return self.inbox.popleft()
        if self.closed:
            raise Closed("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        return await self.waiter

    # --------------------------------------------------------------- sending

    def write(self, opcode_byte: int, payload: bytes) -> None:
        if self.closed or self.transport is None:
            raise Closed("connection closed")
        n = len(payload)
        if n < 126:
            header = bytes((opcode_byte, 0x80 | n))
        elif n < 65536:
            header = struct.pack("!BBH", opcode_byte, 0xFE, n)
        else:
            header = struct.pack("!BBQ", opcode_byte, 0xFF, n)
        key = self.mask_ints.get(n)
        if key is None:
            key = int.from_bytes((self.mask * (n // 4 + 1))[:n], "big")
            if len(self.mask_ints) < 64:
                self.mask_ints[n] = key
        masked = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
        self.transport.write(header + self.mask + masked)

    def send(self, text: str) -> None:
        """Send one text frame (buffered by the transport: no await needed)."""
        self.write(0x81, text.encode())

    def start_pings(self, interval: float) -> None:
        loop = asyncio.get_running_loop()

        def ping() -> None:
            if not self.closed:
                self.write(0x89, b"")
                self.pinger = loop.call_later(interval, ping)

        self.pinger = loop.call_later(interval, ping)

    # --------------------------------------------------------------- closing

    def fail(self, exc: Exception) -> None:
        """The connection is over: wake whoever waits, close TCP, tell the charger."""
        if self.closed:
            return
        self.closed = True
        if self.pinger is not None:
            self.pinger.cancel()
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()
        if self.on_lost is not None:
            self.on_lost()

    def close(self) -> None:
        """Closing handshake, short form: send close 1000 and drop the TCP connection."""
        if not self.closed:
            self.write(0x88, struct.pack("!H", 1000))
            self.fail(Closed("closed by the client"))


async def open_socket(
    url: str,
    subprotocol: str,
    headers: dict[str, str],
    within_s: float,
    on_lost: Callable[[], None] | None = None,
) -> Socket:
    """Connect to ws://host:port/path and finish the opening handshake within within_s seconds.
    Raises HandshakeRefused (HTTP status), TimeoutError or OSError."""
    rest = url.removeprefix("ws://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    host = host.strip("[]") or hostport
    key = base64.b64encode(os.urandom(16))
    lines = [
        f"GET /{path} HTTP/1.1",
        f"Host: {hostport}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Protocol: {subprotocol}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(within_s):
        _, socket = await loop.create_connection(
            lambda: Socket(request, key, on_lost), host, int(port or 80)
        )
        try:
            await socket.opened
        except BaseException:
            socket.fail(Closed("handshake abandoned"))
            raise
    return socket
