"""The raw OCPP message log (OcppMessage) over real sockets: every frame, both
directions, lands in the table, written in the background off the protocol path
(conftest.settle() drains the buffer after each conversation)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.test import override_settings
from ocpp.v16 import call as call16

from apps.chargers.commands import command_send
from apps.chargers.models import CommandLog, OcppMessage
from apps.ocpp_consumer.handlers.writers import FRAME_LOG_LIMIT, MessageLog
from tests import factories
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.stations import call, connect, exchange, station

IN, OUT = OcppMessage.Direction.IN, OcppMessage.Direction.OUT
CALL, RESULT, ERROR = (
    OcppMessage.MessageType.CALL,
    OcppMessage.MessageType.RESULT,
    OcppMessage.MessageType.ERROR,
)


def _log(charger: Any) -> list[tuple[Any, ...]]:
    return list(
        OcppMessage.objects.filter(charger=charger)
        .order_by("pk")
        .values_list("direction", "message_type", "action", "message_id")
    )


BOOT = {"chargePointVendor": "ACME", "chargePointModel": "One"}


def test_frames_of_both_directions_are_logged_with_the_calls_action(ocpp_server):
    charger = factories.ChargerFactory(charge_point_id="LOG-16")

    async def talk() -> list[Any]:
        async with connect(ocpp_server.url("LOG-16")) as ws:
            boot = await exchange(ws, [2, "b-1", "BootNotification", BOOT])
            bad = await exchange(ws, [2, "s-1", "StatusNotification", {"connectorId": 1}])
            beat = await exchange(ws, [2, "h-1", "Heartbeat", {}])
            return [boot, bad, beat]

    boot, bad, beat = run(talk())

    assert (boot[0], bad[0], beat[0]) == (3, 4, 3)
    assert _log(charger) == [
        (IN, CALL, "BootNotification", "b-1"),
        (OUT, RESULT, "BootNotification", "b-1"),
        (IN, CALL, "StatusNotification", "s-1"),
        (OUT, ERROR, "StatusNotification", "s-1"),
        (IN, CALL, "Heartbeat", "h-1"),
        (OUT, RESULT, "Heartbeat", "h-1"),
    ]
    rows = list(OcppMessage.objects.filter(charger=charger).order_by("pk"))
    # The frames themselves, as they went over the wire.
    assert json.loads(rows[0].frame) == [2, "b-1", "BootNotification", BOOT]
    assert json.loads(rows[1].frame) == boot
    assert json.loads(rows[3].frame) == bad
    assert all(r.at is not None for r in rows)
    assert rows[0].at <= rows[1].at <= rows[5].at


def test_a_command_and_the_chargers_answer_are_logged(ocpp_server):
    """Our call (out, CALL Reset) and the charger's answer (in, RESULT) logged
    under the command's action."""
    charger = factories.ChargerFactory(charge_point_id="LOG-CMD")

    async def talk() -> Any:
        async with station(ocpp_server.url("LOG-CMD"), "1.6", charge_point_id="LOG-CMD") as cp:
            await cp.call(call16.Heartbeat())
            # Sent from the server's loop, where the in-memory channel layer lives.
            return await asyncio.to_thread(
                ocpp_server.on_server_loop,
                command_send(
                    charger="LOG-CMD",
                    command="reset",
                    params={"type": "soft"},
                    source=CommandLog.Source.TASK,
                ),
                15,
            )

    result = run(talk())

    assert result.response["status"] == "Accepted"
    logged = _log(charger)
    assert logged[:2] == [
        (IN, CALL, "Heartbeat", logged[0][3]),
        (OUT, RESULT, "Heartbeat", logged[0][3]),
    ]
    reset_out = logged[2]
    assert reset_out[:3] == (OUT, CALL, "Reset")
    assert logged[3] == (IN, RESULT, "Reset", reset_out[3])
    assert len(logged) == 4


def test_unreadable_and_oversized_frames_are_logged_truncated(ocpp_server):
    charger = factories.ChargerFactory(charge_point_id="LOG-BAD")
    huge = json.dumps([2, "big-1", "DataTransfer", {"vendorId": "x", "data": "y" * 70_000}])

    async def talk() -> list[Any]:
        async with connect(ocpp_server.url("LOG-BAD")) as ws:
            garbage = await exchange(ws, "not json")
            too_big = await exchange(ws, huge)
            return [garbage, too_big]

    garbage, too_big = run(talk())

    assert garbage[0] == 4 and too_big[:2] == [4, "big-1"]
    rows = list(OcppMessage.objects.filter(charger=charger).order_by("pk"))
    assert [(r.direction, r.message_type, r.message_id) for r in rows] == [
        (IN, None, ""),
        (OUT, ERROR, "-1"),
        (IN, None, "big-1"),
        (OUT, ERROR, "big-1"),
    ]
    assert rows[0].frame == "not json"
    assert len(rows[2].frame) == FRAME_LOG_LIMIT and huge.startswith(rows[2].frame)


@override_settings(OCPP_MESSAGE_LOG=False)
def test_switched_off_nothing_is_logged(ocpp_server):
    charger = factories.ChargerFactory(charge_point_id="LOG-OFF")

    async def talk() -> list[Any]:
        async with connect(ocpp_server.url("LOG-OFF")) as ws:
            return await call(ws, "Heartbeat", {})

    assert run(talk())[0] == 3
    assert not OcppMessage.objects.filter(charger=charger).exists()


def test_a_full_buffer_drops_and_counts_instead_of_waiting():
    async def fill() -> tuple[int, int]:
        buffer = MessageLog(capacity=2, flush_rows=100, interval_s=60)
        for n in range(5):
            buffer.append(
                charger_id=1,
                direction=IN,
                message_type=CALL,
                action="Heartbeat",
                message_id=str(n),
                frame="[]",
                at=None,
            )
        return buffer.pending(), buffer.dropped

    assert asyncio.run(fill()) == (2, 3)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_both_versions_are_logged(ocpp_server, version):
    charger = factories.ChargerFactory(charge_point_id=f"LOG-{version}")
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"

    async def talk() -> Any:
        async with connect(ocpp_server.url(f"LOG-{version}"), subprotocol) as ws:
            return await exchange(ws, [2, "hb", "Heartbeat", {}])

    assert run(talk())[0] == 3
    assert _log(charger) == [(IN, CALL, "Heartbeat", "hb"), (OUT, RESULT, "Heartbeat", "hb")]
