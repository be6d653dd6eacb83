"""The production channel layer (channels-redis) against the real Redis."""

from __future__ import annotations

import asyncio

import pytest
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers

pytestmark = pytest.mark.redis


async def test_channel_layer_blocking_receive_outlives_redis_socket_timeout():
    # A consumer's read waits for as long as its charger is quiet. redis-py's
    # default 5 s socket timeout used to break that read (and drop the charger).
    # A layer of its own: the process-wide one may also serve the e2e tests'
    # daphne thread, on another event loop.
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    channel = await layer.new_channel()

    async def send_later() -> None:
        await asyncio.sleep(6)
        await layer.send(channel, {"type": "ocpp.ping", "n": 1})

    sender = asyncio.create_task(send_later())
    message = await asyncio.wait_for(layer.receive(channel), timeout=15)
    await sender
    assert message == {"type": "ocpp.ping", "n": 1}
    await layer.close_pools()
