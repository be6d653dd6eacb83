"""Bad input over a real socket: every frame gets a CALLERROR spelled in the
charger's version (or, for a bad response, nothing), and the connection stays
usable afterwards. The `ocpp` package alone would drop most of these silently.

1.6 (OCPP-J 1.6 §4.2.3) spells FormationViolation and OccurenceConstraintViolation;
2.0.1 (OCPP-J 2.0.1 §4.3) has FormatViolation, OccurrenceConstraintViolation,
RpcFrameworkError (frame not a valid RPC; message id "-1" when unreadable) and
MessageTypeNotSupported."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import override_settings

from apps.chargers.models import ChargingSession
from tests import factories
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.stations import connect, exchange, now

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
SPELLING = {
    "1.6": {
        "format": "FormationViolation",
        "rpc": "FormationViolation",
        "type": "FormationViolation",
        "occurrence": "OccurenceConstraintViolation",
    },
    "2.0.1": {
        "format": "FormatViolation",
        "rpc": "RpcFrameworkError",
        "type": "MessageTypeNotSupported",
        "occurrence": "OccurrenceConstraintViolation",
    },
}
HEARTBEAT = [2, "hb-after", "Heartbeat", {}]


@pytest.fixture
def charger(ocpp_server):
    return factories.ChargerFactory(charge_point_id="CP-BAD")


def _talk(ocpp_server, version: str, *frames) -> list[list]:
    """Send each frame, collect each answer, then check the socket still works."""

    async def talk():
        answers = []
        async with connect(ocpp_server.url("CP-BAD"), SUBPROTOCOL[version]) as ws:
            for frame in frames:
                answers.append(await exchange(ws, frame))
            after = await exchange(ws, HEARTBEAT)
        assert after[0] == 3 and after[1] == "hb-after", after
        return answers

    return run(talk())


def _error(answer: list) -> tuple[str, str]:
    assert answer[0] == 4 and len(answer) == 5, answer
    assert isinstance(answer[3], str) and isinstance(answer[4], dict)
    return answer[1], answer[2]


VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


@VERSIONS
def test_bad_input_not_json(ocpp_server, charger, version):
    (answer,) = _talk(ocpp_server, version, "this is not json")
    assert _error(answer) == ("-1", SPELLING[version]["rpc"])


@VERSIONS
def test_bad_input_nan_and_infinity_are_not_json(ocpp_server, charger, version):
    """Python's parser reads them; JSON has no such values. (Read, an infinite
    charging limit made the package's schema check raise OverflowError.)"""
    answers = _talk(
        ocpp_server,
        version,
        '[2, "nan-1", "DataTransfer", {"vendorId": "V", "data": NaN}]',
        '[2, "inf-1", "NotifyEVChargingSchedule", {"limit": Infinity}]',
    )
    for answer in answers:
        assert _error(answer) == ("-1", SPELLING[version]["rpc"])


@VERSIONS
def test_bad_input_not_a_list(ocpp_server, charger, version):
    a, b, c = _talk(ocpp_server, version, '{"a": 1}', "[]", "42")
    for answer in (a, b, c):
        assert _error(answer) == ("-1", SPELLING[version]["rpc"])


@VERSIONS
def test_bad_input_unknown_message_type(ocpp_server, charger, version):
    (answer,) = _talk(ocpp_server, version, [7, "m-7", "Heartbeat", {}])
    assert _error(answer) == ("m-7", SPELLING[version]["type"])


@VERSIONS
def test_bad_input_unreadable_message_id(ocpp_server, charger, version):
    a, b = _talk(ocpp_server, version, [2, 5, "Heartbeat", {}], [2, "x" * 37, "Heartbeat", {}])
    assert _error(a) == ("-1", SPELLING[version]["rpc"])
    assert _error(b) == ("-1", SPELLING[version]["rpc"])


@VERSIONS
def test_bad_input_missing_elements(ocpp_server, charger, version):
    a, b = _talk(ocpp_server, version, [2, "m-1", "Heartbeat"], [2, "m-2"])
    assert _error(a) == ("m-1", SPELLING[version]["rpc"])
    assert _error(b) == ("m-2", SPELLING[version]["rpc"])


@VERSIONS
def test_bad_input_payload_not_an_object(ocpp_server, charger, version):
    (answer,) = _talk(ocpp_server, version, [2, "m-3", "Heartbeat", []])
    assert _error(answer) == ("m-3", SPELLING[version]["format"])


@VERSIONS
def test_bad_input_unknown_action_not_implemented(ocpp_server, charger, version):
    (answer,) = _talk(ocpp_server, version, [2, "m-4", "MakeCoffee", {}])
    assert _error(answer) == ("m-4", "NotImplemented")


@VERSIONS
def test_bad_input_action_meant_for_the_charger_not_supported(ocpp_server, charger, version):
    """A real action of the version that a central system does not take (Reset goes
    the other way): NotSupported, the spec's meaning, not the package's swap."""
    (answer,) = _talk(ocpp_server, version, [2, "m-5", "Reset", {"type": "Soft"}])
    assert _error(answer) == ("m-5", "NotSupported")


def test_bad_input_schema_violations_v16(ocpp_server, charger):
    missing, wrong_type, bad_enum, extra, too_long = _talk(
        ocpp_server,
        "1.6",
        [2, "s-1", "BootNotification", {"chargePointVendor": "V"}],
        [
            2,
            "s-2",
            "StatusNotification",
            {"connectorId": "one", "errorCode": "NoError", "status": "Available"},
        ],
        [
            2,
            "s-3",
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"},
        ],
        [2, "s-4", "Heartbeat", {"extra": 1}],
        [2, "s-5", "Authorize", {"idTag": "X" * 21}],
    )
    assert _error(missing) == ("s-1", "OccurenceConstraintViolation")
    assert _error(wrong_type) == ("s-2", "TypeConstraintViolation")
    assert _error(bad_enum) == ("s-3", "PropertyConstraintViolation")
    assert _error(extra) == ("s-4", "FormationViolation")
    assert _error(too_long) == ("s-5", "PropertyConstraintViolation")


def test_bad_input_schema_violations_v201(ocpp_server, charger):
    missing, wrong_type, bad_enum, extra = _talk(
        ocpp_server,
        "2.0.1",
        [2, "s-1", "BootNotification", {"reason": "PowerUp"}],
        [2, "s-2", "Heartbeat", {"customData": "x"}],
        [
            2,
            "s-3",
            "BootNotification",
            {"reason": "Bored", "chargingStation": {"model": "M", "vendorName": "V"}},
        ],
        [2, "s-4", "Heartbeat", {"extra": 1}],
    )
    assert _error(missing) == ("s-1", "OccurrenceConstraintViolation")
    assert _error(wrong_type) == ("s-2", "TypeConstraintViolation")
    assert _error(bad_enum) == ("s-3", "PropertyConstraintViolation")
    assert _error(extra) == ("s-4", "FormatViolation")


@VERSIONS
def test_bad_input_timestamp_that_is_not_one(ocpp_server, charger, version):
    """The package does not check date-time formats; a handler that cannot read one
    answers PropertyConstraintViolation and stores nothing."""
    frame = (
        [
            2,
            "t-1",
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Available",
                "timestamp": "yesterday",
            },
        ]
        if version == "1.6"
        else [
            2,
            "t-1",
            "StatusNotification",
            {
                "timestamp": "yesterday",
                "connectorStatus": "Available",
                "evseId": 1,
                "connectorId": 1,
            },
        ]
    )
    (answer,) = _talk(ocpp_server, version, frame)
    assert _error(answer) == ("t-1", "PropertyConstraintViolation")
    assert not charger.status_changes.exists()


def test_bad_input_start_on_connector_zero_writes_nothing(ocpp_server, charger):
    frame = [
        2,
        "z-1",
        "StartTransaction",
        {"connectorId": 0, "idTag": "T", "meterStart": 0, "timestamp": now()},
    ]
    (answer,) = _talk(ocpp_server, "1.6", frame)
    assert _error(answer) == ("z-1", "PropertyConstraintViolation")
    assert not ChargingSession.objects.exists()


@VERSIONS
@override_settings(OCPP_MAX_FRAME_BYTES=1024)
def test_bad_input_oversized_frame(ocpp_server, charger, version):
    """Frames above OCPP_MAX_FRAME_BYTES get a CALLERROR (with the id when the
    frame's start shows it); the connection stays open."""
    big = json.dumps([2, "big-1", "DataTransfer", {"vendorId": "V", "data": "x" * 2000}])
    (answer,) = _talk(ocpp_server, version, big)
    assert _error(answer) == ("big-1", SPELLING[version]["format"])
    assert not charger.events.filter(kind="data_transfer").exists()


@VERSIONS
def test_bad_input_binary_frame_is_read_as_text(ocpp_server, charger, version):
    a, b = _talk(ocpp_server, version, b'[2,"bin-1","Heartbeat",{}]', b"\xff\xfe")
    assert a[0] == 3 and a[1] == "bin-1"
    assert _error(b) == ("-1", SPELLING[version]["rpc"])


@VERSIONS
def test_bad_input_duplicate_message_id_in_flight(ocpp_server, charger, version):
    """Two CALLs with one id sent back to back: both are answered."""

    async def talk():
        async with connect(ocpp_server.url("CP-BAD"), SUBPROTOCOL[version]) as ws:
            frame = json.dumps([2, "dup-1", "Heartbeat", {}])
            await ws.send(frame)
            await ws.send(frame)
            return [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]

    first, second = run(talk())
    assert first[:2] == [3, "dup-1"] and second[:2] == [3, "dup-1"]


@VERSIONS
def test_bad_input_stray_responses_get_no_answer(ocpp_server, charger, version):
    """A CALLRESULT or CALLERROR we did not ask for, or a malformed one, is dropped:
    a CALLERROR never answers a response. The next call is answered normally."""

    async def talk():
        async with connect(ocpp_server.url("CP-BAD"), SUBPROTOCOL[version]) as ws:
            await ws.send(json.dumps([3, "nobody-asked", {}]))
            await ws.send(json.dumps([4, "nobody-asked", "GenericError", "", {}]))
            await ws.send(json.dumps([3, "malformed"]))
            return await exchange(ws, HEARTBEAT)

    answer = run(talk())
    assert answer[:2] == [3, "hb-after"]
