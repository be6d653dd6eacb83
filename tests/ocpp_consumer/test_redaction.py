"""The raw message log keeps no secret our commands carry (apps/ocpp_consumer/redaction.py)."""

from __future__ import annotations

import json

import pytest

from apps.ocpp_consumer.redaction import MASK, redact_call


def frame(action: str, payload: object) -> str:
    return json.dumps([2, "m-1", action, payload])


def test_redact_call_masks_the_16_authorization_key():
    text = frame("ChangeConfiguration", {"key": "AuthorizationKey", "value": "s3cret-pw-123456"})

    logged = json.loads(redact_call("ChangeConfiguration", text))

    assert logged == [2, "m-1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": MASK}]


def test_redact_call_leaves_other_configuration_keys_alone():
    text = frame("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "300"})

    assert redact_call("ChangeConfiguration", text) == text


def test_redact_call_masks_the_201_basic_auth_password_only():
    text = frame(
        "SetVariables",
        {
            "setVariableData": [
                {
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                    "attributeValue": "s3cret-pw-123456",
                },
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeValue": "300",
                },
            ]
        },
    )

    logged = json.loads(redact_call("SetVariables", text))[3]["setVariableData"]

    assert [item["attributeValue"] for item in logged] == [MASK, "300"]
    assert "s3cret" not in redact_call("SetVariables", text)


def test_redact_call_masks_network_profile_credentials():
    text = frame(
        "SetNetworkProfile",
        {
            "configurationSlot": 1,
            "connectionData": {
                "ocppCsmsUrl": "wss://csms.example/ocpp",
                "apn": {"apn": "internet", "apnPassword": "apn-pw", "simPin": 1234},
                "vpn": {"server": "vpn.example", "user": "u", "password": "vpn-pw", "key": "k"},
            },
        },
    )

    data = json.loads(redact_call("SetNetworkProfile", text))[3]["connectionData"]

    assert data["apn"] == {"apn": "internet", "apnPassword": MASK, "simPin": MASK}
    assert data["vpn"] == {"server": "vpn.example", "user": "u", "password": MASK, "key": MASK}
    assert data["ocppCsmsUrl"] == "wss://csms.example/ocpp"


@pytest.mark.parametrize("text", ["not json", "[2]", '[2, "m", "SetVariables"]'])
def test_redact_call_never_logs_an_unreadable_secret_bearing_frame(text):
    logged = redact_call("SetVariables", text)

    assert logged != text
    assert MASK in logged


def test_redact_call_passes_other_actions_through_unparsed():
    assert redact_call("Reset", "anything at all") == "anything at all"
