"""Charge points for the end-to-end tests: the `ocpp` package's ChargePoint on a
`websockets` connection (it validates every answer of ours against the OCPP
schema), and raw-frame helpers for what a well-behaved client cannot send."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.client import ClientConnection


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@contextlib.asynccontextmanager
async def connect(
    url: str, subprotocol: str = "ocpp1.6", headers: dict[str, str] | None = None
) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(
        url,
        subprotocols=[subprotocol],  # type: ignore[list-item]
        additional_headers=headers or {},
        open_timeout=5,
        max_size=None,
    ) as ws:
        yield ws


async def refused_status(
    url: str, subprotocols: list[str] | None = None, headers: dict[str, str] | None = None
) -> int:
    """The HTTP status with which the server refuses the handshake (0 if accepted)."""
    try:
        async with websockets.connect(
            url,
            subprotocols=subprotocols if subprotocols is not None else ["ocpp1.6"],  # type: ignore[arg-type]
            additional_headers=headers or {},
            open_timeout=5,
        ):
            return 0
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


REPLY_TIMEOUT_S = 5


async def exchange(ws: ClientConnection, frame: Any) -> list[Any]:
    """Send one frame (a list is JSON-encoded, a str/bytes is sent as is) and return
    the next frame we get back, decoded."""
    await ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_S))


async def call(ws: ClientConnection, action: str, payload: dict[str, Any]) -> list[Any]:
    return await exchange(ws, [2, str(uuid.uuid4()), action, payload])


class Station16(Cp16):
    """A 1.6 charge point that answers a CSMS's Reset (for command tests)."""

    @on(Action16.reset)
    def on_reset(self, type: str, **_: Any) -> result16.Reset:
        return result16.Reset(status="Accepted")


class Station201(Cp201):
    @on(Action201.reset)
    def on_reset(self, type: str, **_: Any) -> result201.Reset:
        return result201.Reset(status="Accepted")


@contextlib.asynccontextmanager
async def station(
    url: str,
    version: str = "1.6",
    headers: dict[str, str] | None = None,
    charge_point_id: str = "station",
) -> AsyncIterator[Any]:
    """A running ocpp-package charge point on a fresh connection."""
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    async with connect(url, subprotocol, headers) as ws:
        cp = (Station16 if version == "1.6" else Station201)(charge_point_id, ws)
        reader = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
