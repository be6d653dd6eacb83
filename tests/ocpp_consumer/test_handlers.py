"""The protocol edge without a socket: framing, mapping, and the version handlers
fed frames directly (their answers land in a list instead of a websocket)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from ocpp.messages import Call, MessageType, get_validator

from apps.access.services import Decision
from apps.chargers.models import Charger, Connector
from apps.ocpp_consumer import frames, mappers
from apps.ocpp_consumer.handlers.v16 import Handler16
from apps.ocpp_consumer.handlers.v201 import Handler201
from tests import factories


class ListSocket:
    def __init__(self) -> None:
        self.sent: list[list] = []

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))


def test_frames_parse_reads_the_id_of_an_oversized_frame():
    text = json.dumps([2, "abc", "Heartbeat", {"x": "y" * 100}])
    with pytest.raises(frames.FrameError) as exc:
        frames.parse(text, max_bytes=50)
    assert (exc.value.code, exc.value.message_id) == (frames.FORMAT, "abc")


def test_frames_bad_responses_are_not_answered():
    with pytest.raises(frames.FrameError) as exc:
        frames.parse('[3, "id"]', max_bytes=1000)
    assert exc.value.reply is False


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("[2, 'single quotes']", "Frame is not valid JSON."),
        ("[" * 100_000 + "]" * 100_000, "Frame nests too deeply."),
        ('[2, "x", "Heartbeat", {}', "Frame is not valid JSON."),
        # Python reads these; JSON has no such values.
        ('[2, "n", "DataTransfer", {"vendorId": "V", "data": NaN}]', "Frame is not valid JSON."),
        (
            '[2, "i", "DataTransfer", {"vendorId": "V", "data": -Infinity}]',
            "Frame is not valid JSON.",
        ),
    ],
)
def test_frames_parse_errors_are_worded_as_before(text, description):
    with pytest.raises(frames.FrameError) as exc:
        frames.parse(text, max_bytes=10**7)
    assert (exc.value.code, exc.value.description) == ("RpcFrameworkError", description)


@pytest.mark.parametrize(
    ("action", "version", "payload"),
    [
        # Valid for both: the compiled validator lets them through at once.
        ("Heartbeat", "1.6", {}),
        (
            "StatusNotification",
            "1.6",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
        ),
        # The package's Draft 4 rules, which the compiled validator must share: 1.0
        # is not an integer, and a boolean is neither an integer nor a number.
        (
            "StatusNotification",
            "1.6",
            {"connectorId": 1.0, "errorCode": "NoError", "status": "Available"},
        ),
        (
            "StatusNotification",
            "1.6",
            {"connectorId": True, "errorCode": "NoError", "status": "Available"},
        ),
        # Formats are not checked, by either: a timestamp that is not one passes.
        ("Heartbeat", "2.0.1", {}),
        (
            "StatusNotification",
            "2.0.1",
            {
                "timestamp": "not a time",
                "connectorStatus": "Available",
                "evseId": 1,
                "connectorId": 1,
            },
        ),
        ("StatusNotification", "2.0.1", {"connectorStatus": "Available", "evseId": 1}),
        ("Authorize", "2.0.1", {"idToken": {"idToken": "X" * 37, "type": "ISO14443"}}),
    ],
)
def test_frames_compiled_validator_agrees_with_the_package(action, version, payload):
    package_says = get_validator(MessageType.Call, action, version).is_valid(payload)
    assert frames._fast_validator(action, version).is_valid(payload) is package_says
    call = Call("v-1", action, payload)
    if package_says:
        frames.validate(call, version)
    else:
        with pytest.raises(frames.FrameError):
            frames.validate(call, version)


def test_frames_spelling_per_version():
    assert frames.spell("1.6", frames.FORMAT) == "FormationViolation"
    assert frames.spell("2.0.1", frames.FORMAT) == "FormatViolation"
    assert frames.spell("1.6", "OccurrenceConstraintViolation") == "OccurenceConstraintViolation"
    assert frames.spell("1.6", "SecurityError") == "SecurityError"


def test_mappers_domain_words_and_statuses():
    assert mappers.domain_word("EVDisconnected") == "ev_disconnected"
    assert mappers.domain_word("SOCLimitReached") == "soc_limit_reached"
    assert mappers.domain_word("MeterValuePeriodic") == "meter_value_periodic"
    assert mappers.connector_status("SuspendedEV", "1.6") == Connector.Status.SUSPENDED_EV
    assert mappers.connector_status("Occupied", "2.0.1") == Connector.Status.OCCUPIED
    assert mappers.AUTHORIZATION_V16[Decision.NOT_AT_THIS_TIME] == "Invalid"
    assert mappers.AUTHORIZATION_V201[Decision.NOT_AT_THIS_TIME] == "NotAtThisTime"


def test_mappers_timestamps_and_samples():
    assert mappers.parse_timestamp("2026-01-02T03:04:05") == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    with pytest.raises(ValueError):
        mappers.parse_timestamp("yesterday")
    (sample,) = mappers.samples_v201(
        [
            {
                "timestamp": "2026-01-02T03:04:05Z",
                "sampled_value": [
                    {"value": 7.2, "unit_of_measure": {"unit": "kWh", "multiplier": 3}}
                ],
            }
        ]
    )
    assert (sample.value, sample.unit, sample.measurand) == (
        Decimal("7200"),
        "kWh",
        "Energy.Active.Import.Register",
    )
    signed = mappers.samples_v16(
        [
            {
                "timestamp": "2026-01-02T03:04:05Z",
                "sampled_value": [{"value": "AB==", "format": "SignedData"}],
            }
        ]
    )
    assert signed == []


@pytest.fixture
def charger(transactional_db):
    return factories.ChargerFactory(charge_point_id="CP-H")


async def test_handler16_answers_through_its_socket(charger):
    socket = ListSocket()
    cp = Handler16(charger, socket)
    await cp.route_message('[2,"1","Heartbeat",{}]', max_bytes=1000)
    await cp.route_message('[2,"2","Heartbeat",{"x":1}]', max_bytes=1000)
    await cp.route_message("nonsense", max_bytes=1000)
    assert socket.sent[0][:2] == [3, "1"] and "currentTime" in socket.sent[0][2]
    assert socket.sent[1][:3] == [4, "2", "FormationViolation"]
    assert socket.sent[2][:3] == [4, "-1", "FormationViolation"]


async def test_handler201_pending_gets_security_error(charger):
    charger.registration = Charger.Registration.PENDING
    socket = ListSocket()
    cp = Handler201(charger, socket)
    await cp.route_message('[2,"1","Heartbeat",{}]', max_bytes=1000)
    assert socket.sent[0][:3] == [4, "1", "SecurityError"]
