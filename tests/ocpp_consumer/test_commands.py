"""Translation of domain commands to OCPP 1.6 / 2.0.1 requests and of the answers
back (apps/ocpp_consumer/commands.py), against a ChargePoint stand-in whose
`call()` records the request and returns a canned answer. Every request is also
checked against the OCPP JSON schema by `execute()` itself; the end-to-end tests
(test_commands_e2e.py) send the same commands to a charger over a real socket."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.v16 import call_result as result16
from ocpp.v201 import call_result as result201

from apps.chargers.commands import COMMAND_NAMES
from apps.chargers.models import ChargingSession
from apps.ocpp_consumer.commands import execute
from tests import factories


class FakeChargePoint:
    """Records what would be sent and answers with `answer`."""

    def __init__(self, answer: Any = None, charge_point_id: str = "CP-1") -> None:
        self.id = charge_point_id
        self.answer = answer
        self.requests: list[Any] = []
        self.suppress: list[bool] = []

    async def call(self, request: Any, suppress: bool = True, **kwargs: Any) -> Any:
        self.requests.append(request)
        self.suppress.append(suppress)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    @property
    def action(self) -> str:
        return type(self.requests[-1]).__name__

    @property
    def payload(self) -> dict[str, Any]:
        """The request as it goes on the wire (camelCase, no nulls)."""
        return remove_nones(snake_to_camel_case(serialize_as_dict(self.requests[-1])))


PROFILE = {
    "id": 7,
    "stack_level": 1,
    "purpose": "tx_default",
    "schedule": {
        "rate_unit": "A",
        "periods": [{"start_period": 0, "limit": 16}, {"start_period": 3600, "limit": 10.04}],
    },
}

# (command, params, OCPP action, request payload, canned answer, domain answer)
CASES_16 = [
    (
        "reset",
        {"type": "Soft"},
        "Reset",
        {"type": "Soft"},
        result16.Reset(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "reset",
        {"type": "hard"},
        "Reset",
        {"type": "Hard"},
        result16.Reset(status="Rejected"),
        {"status": "Rejected"},
    ),
    (
        "remote-start",
        {"connector_id": 1, "id_tag": "TAG1", "request_id": 5},
        "RemoteStartTransaction",
        {"connectorId": 1, "idTag": "TAG1"},
        result16.RemoteStartTransaction(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "remote-start",
        {
            "id_tag": "TAG1",
            "charging_profile": {
                "id": 2,
                "schedule": {"rate_unit": "W", "periods": [{"start_period": 0, "limit": 3680}]},
            },
        },
        "RemoteStartTransaction",
        {
            "idTag": "TAG1",
            "chargingProfile": {
                "chargingProfileId": 2,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 3680}],
                },
            },
        },
        result16.RemoteStartTransaction(status="Rejected"),
        {"status": "Rejected"},
    ),
    (
        "unlock-connector",
        {"connector_id": 2},
        "UnlockConnector",
        {"connectorId": 2},
        result16.UnlockConnector(status="Unlocked"),
        {"status": "Unlocked"},
    ),
    (
        "change-availability",
        {"available": False},
        "ChangeAvailability",
        {"connectorId": 0, "type": "Inoperative"},
        result16.ChangeAvailability(status="Scheduled"),
        {"status": "Scheduled"},
    ),
    (
        "trigger-message",
        {"message": "StatusNotification", "connector_id": 1},
        "TriggerMessage",
        {"requestedMessage": "StatusNotification", "connectorId": 1},
        result16.TriggerMessage(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "trigger-message",
        {"message": "LogStatusNotification"},
        "TriggerMessage",
        {"requestedMessage": "DiagnosticsStatusNotification"},
        result16.TriggerMessage(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "get-configuration",
        {"keys": ["HeartbeatInterval", "Nope"], "request_id": 3},
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "Nope"]},
        result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            unknown_key=["Nope"],
        ),
        {
            "status": "Accepted",
            "configuration": [{"key": "HeartbeatInterval", "value": "300", "readonly": False}],
            "unknown_keys": ["Nope"],
        },
    ),
    (
        "get-configuration",
        {},
        "GetConfiguration",
        {},
        result16.GetConfiguration(configuration_key=[]),
        {"status": "Accepted", "configuration": [], "unknown_keys": []},
    ),
    (
        "change-configuration",
        {"key": "HeartbeatInterval", "value": 60},
        "ChangeConfiguration",
        {"key": "HeartbeatInterval", "value": "60"},
        result16.ChangeConfiguration(status="RebootRequired"),
        {"status": "RebootRequired"},
    ),
    (
        "clear-cache",
        {},
        "ClearCache",
        {},
        result16.ClearCache(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "send-local-list",
        {
            "version": 3,
            "update_type": "differential",
            "entries": [
                {"id_tag": "A1", "status": "blocked", "expiry_at": "2030-01-01T00:00:00+01:00"},
                {"id_tag": "B2"},
            ],
        },
        "SendLocalList",
        {
            "listVersion": 3,
            "updateType": "Differential",
            "localAuthorizationList": [
                {
                    "idTag": "A1",
                    "idTagInfo": {"status": "Blocked", "expiryDate": "2029-12-31T23:00:00Z"},
                },
                {"idTag": "B2"},
            ],
        },
        result16.SendLocalList(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "get-local-list-version",
        {},
        "GetLocalListVersion",
        {},
        result16.GetLocalListVersion(list_version=-1),
        {"status": "NotSupported", "version": -1},
    ),
    (
        "reserve-now",
        {
            "connector_id": 1,
            "id_tag": "TAG1",
            "expiry_at": "2030-01-01T10:00:00Z",
            "request_id": 41,
        },
        "ReserveNow",
        {
            "connectorId": 1,
            "idTag": "TAG1",
            "expiryDate": "2030-01-01T10:00:00Z",
            "reservationId": 41,
        },
        result16.ReserveNow(status="Occupied"),
        {"status": "Occupied", "reservation_id": 41},
    ),
    (
        "cancel-reservation",
        {"reservation_id": 41},
        "CancelReservation",
        {"reservationId": 41},
        result16.CancelReservation(status="Rejected"),
        {"status": "Rejected"},
    ),
    (
        "set-charging-profile",
        {"connector_id": 1, "profile": PROFILE},
        "SetChargingProfile",
        {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 7,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 16},
                        {"startPeriod": 3600, "limit": 10.0},
                    ],
                },
            },
        },
        result16.SetChargingProfile(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "clear-charging-profile",
        {"purpose": "TxDefaultProfile", "connector_id": 1},
        "ClearChargingProfile",
        {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile"},
        result16.ClearChargingProfile(status="Unknown"),
        {"status": "Unknown"},
    ),
    (
        "get-composite-schedule",
        {"connector_id": 1, "duration": 3600, "rate_unit": "W"},
        "GetCompositeSchedule",
        {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"},
        result16.GetCompositeSchedule(
            status="Accepted",
            connector_id=1,
            schedule_start="2030-01-01T00:00:00Z",
            charging_schedule={
                "duration": 3600,
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 7400.0}],
            },
        ),
        {
            "status": "Accepted",
            "schedule": {
                "connector_id": 1,
                "start_at": "2030-01-01T00:00:00Z",
                "duration": 3600,
                "rate_unit": "W",
                "periods": [{"start_period": 0, "limit": 7400.0}],
            },
        },
    ),
    (
        "update-firmware",
        {"location": "https://fw.example/v2.bin", "retrieve_at": "2030-01-01T00:00:00Z"},
        "UpdateFirmware",
        {"location": "https://fw.example/v2.bin", "retrieveDate": "2030-01-01T00:00:00Z"},
        result16.UpdateFirmware(),
        {"status": "Accepted"},
    ),
    (
        "get-diagnostics",
        {"location": "ftp://logs.example/up", "request_id": 9},
        "GetDiagnostics",
        {"location": "ftp://logs.example/up"},
        result16.GetDiagnostics(file_name="diag.zip"),
        {"status": "Accepted", "file_name": "diag.zip"},
    ),
    (
        "data-transfer",
        {"vendor_id": "com.acme", "message_id": "ping", "data": {"a": 1}},
        "DataTransfer",
        {"vendorId": "com.acme", "messageId": "ping", "data": '{"a":1}'},
        result16.DataTransfer(status="Accepted", data="pong"),
        {"status": "Accepted", "data": "pong"},
    ),
]

CASES_201 = [
    (
        "reset",
        {"type": "soft"},
        "Reset",
        {"type": "OnIdle"},
        result201.Reset(status="Scheduled"),
        {"status": "Scheduled"},
    ),
    (
        "reset",
        {"type": "Hard"},
        "Reset",
        {"type": "Immediate"},
        result201.Reset(
            status="Rejected", status_info={"reason_code": "Busy", "additional_info": "x"}
        ),
        {"status": "Rejected", "status_info": {"reason_code": "Busy", "additional_info": "x"}},
    ),
    (
        "remote-start",
        {"connector_id": 2, "id_tag": "TAG1", "request_id": 77},
        "RequestStartTransaction",
        {"idToken": {"idToken": "TAG1", "type": "Central"}, "remoteStartId": 77, "evseId": 2},
        result201.RequestStartTransaction(status="Accepted", transaction_id="tx-9"),
        {"status": "Accepted", "remote_start_id": 77, "transaction_id": "tx-9"},
    ),
    (
        "unlock-connector",
        {"connector_id": 2},
        "UnlockConnector",
        {"evseId": 2, "connectorId": 1},
        result201.UnlockConnector(status="UnlockFailed"),
        {"status": "UnlockFailed"},
    ),
    (
        "change-availability",
        {"connector_id": 1, "available": True},
        "ChangeAvailability",
        {"operationalStatus": "Operative", "evse": {"id": 1}},
        result201.ChangeAvailability(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "trigger-message",
        {"message": "status_notification", "connector_id": 1},
        "TriggerMessage",
        {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
        result201.TriggerMessage(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "trigger-message",
        {"message": "DiagnosticsStatusNotification"},
        "TriggerMessage",
        {"requestedMessage": "LogStatusNotification"},
        result201.TriggerMessage(status="NotImplemented"),
        {"status": "NotImplemented"},
    ),
    (
        "get-configuration",
        {"keys": ["HeartbeatInterval", "EVSE[2].Power", "Foo.Bar"], "request_id": 3},
        "GetVariables",
        {
            "getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                {"component": {"name": "EVSE", "instance": "2"}, "variable": {"name": "Power"}},
                {"component": {"name": "Foo"}, "variable": {"name": "Bar"}},
            ]
        },
        result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "300",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                },
                {
                    "attribute_status": "Rejected",
                    "component": {"name": "EVSE", "instance": "2"},
                    "variable": {"name": "Power"},
                },
                {
                    "attribute_status": "UnknownComponent",
                    "component": {"name": "Foo"},
                    "variable": {"name": "Bar"},
                },
            ]
        ),
        {
            "status": "Accepted",
            "configuration": [
                {
                    "key": "OCPPCommCtrlr.HeartbeatInterval",
                    "value": "300",
                    "attribute_status": "Accepted",
                },
                {"key": "EVSE[2].Power", "value": None, "attribute_status": "Rejected"},
            ],
            "unknown_keys": ["Foo.Bar"],
        },
    ),
    (
        "get-configuration",
        {"request_id": 12},
        "GetBaseReport",
        {"requestId": 12, "reportBase": "ConfigurationInventory"},
        result201.GetBaseReport(status="Accepted"),
        {"status": "Accepted", "report_request_id": 12},
    ),
    (
        "change-configuration",
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60"},
        "SetVariables",
        {
            "setVariableData": [
                {
                    "attributeValue": "60",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
        result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        ),
        {"status": "Accepted", "ocpp_status": "Accepted", "key": "OCPPCommCtrlr.HeartbeatInterval"},
    ),
    (
        "change-configuration",
        {"component": "AuthCtrlr", "variable": "Enabled", "value": True},
        "SetVariables",
        {
            "setVariableData": [
                {
                    "attributeValue": "true",
                    "component": {"name": "AuthCtrlr"},
                    "variable": {"name": "Enabled"},
                }
            ]
        },
        result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": "UnknownVariable",
                    "component": {"name": "AuthCtrlr"},
                    "variable": {"name": "Enabled"},
                }
            ]
        ),
        {"status": "NotSupported", "ocpp_status": "UnknownVariable", "key": "AuthCtrlr.Enabled"},
    ),
    (
        "clear-cache",
        {},
        "ClearCache",
        {},
        result201.ClearCache(status="Rejected"),
        {"status": "Rejected"},
    ),
    (
        "send-local-list",
        {"version": 2, "entries": [{"id_tag": "A1", "id_token_type": "rfid"}]},
        "SendLocalList",
        {
            "versionNumber": 2,
            "updateType": "Full",
            "localAuthorizationList": [
                {
                    "idToken": {"idToken": "A1", "type": "ISO14443"},
                    "idTokenInfo": {"status": "Accepted"},
                }
            ],
        },
        result201.SendLocalList(status="VersionMismatch"),
        {"status": "VersionMismatch"},
    ),
    (
        "get-local-list-version",
        {},
        "GetLocalListVersion",
        {},
        result201.GetLocalListVersion(version_number=4),
        {"status": "Accepted", "version": 4},
    ),
    (
        "reserve-now",
        {"id_tag": "TAG1", "expiry_at": "2030-01-01T10:00:00Z", "reservation_id": 5},
        "ReserveNow",
        {
            "id": 5,
            "expiryDateTime": "2030-01-01T10:00:00Z",
            "idToken": {"idToken": "TAG1", "type": "ISO14443"},
        },
        result201.ReserveNow(status="Accepted"),
        {"status": "Accepted", "reservation_id": 5},
    ),
    (
        "cancel-reservation",
        {"reservation_id": 5},
        "CancelReservation",
        {"reservationId": 5},
        result201.CancelReservation(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "set-charging-profile",
        {"connector_id": 1, "profile": PROFILE},
        "SetChargingProfile",
        {
            "evseId": 1,
            "chargingProfile": {
                "id": 7,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 7,
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [
                            {"startPeriod": 0, "limit": 16},
                            {"startPeriod": 3600, "limit": 10.0},
                        ],
                    }
                ],
            },
        },
        result201.SetChargingProfile(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "set-charging-profile",
        {
            "profile": {
                "id": 1,
                "purpose": "ChargePointMaxProfile",
                "kind": "recurring",
                "recurrency_kind": "daily",
                "schedule": {
                    "rate_unit": "w",
                    "start_at": "2030-01-01T00:00:00Z",
                    "duration": 86400,
                    "periods": [{"start_period": 0, "limit": 22000, "number_phases": 3}],
                },
            }
        },
        "SetChargingProfile",
        {
            "evseId": 0,
            "chargingProfile": {
                "id": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "ChargingStationMaxProfile",
                "chargingProfileKind": "Recurring",
                "recurrencyKind": "Daily",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "startSchedule": "2030-01-01T00:00:00Z",
                        "duration": 86400,
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [
                            {"startPeriod": 0, "limit": 22000, "numberPhases": 3}
                        ],
                    }
                ],
            },
        },
        result201.SetChargingProfile(status="Rejected"),
        {"status": "Rejected"},
    ),
    (
        "clear-charging-profile",
        {"profile_id": 7},
        "ClearChargingProfile",
        {"chargingProfileId": 7},
        result201.ClearChargingProfile(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "clear-charging-profile",
        {"connector_id": 1, "purpose": "tx_default", "stack_level": 0},
        "ClearChargingProfile",
        {
            "chargingProfileCriteria": {
                "evseId": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "stackLevel": 0,
            }
        },
        result201.ClearChargingProfile(status="Unknown"),
        {"status": "Unknown"},
    ),
    (
        "get-composite-schedule",
        {"connector_id": 1, "duration": 600},
        "GetCompositeSchedule",
        {"evseId": 1, "duration": 600},
        result201.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": 1,
                "duration": 600,
                "schedule_start": "2030-01-01T00:00:00Z",
                "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
            },
        ),
        {
            "status": "Accepted",
            "schedule": {
                "connector_id": 1,
                "start_at": "2030-01-01T00:00:00Z",
                "duration": 600,
                "rate_unit": "A",
                "periods": [{"start_period": 0, "limit": 16.0}],
            },
        },
    ),
    (
        "update-firmware",
        {
            "location": "https://fw.example/v2.bin",
            "retrieve_at": "2030-01-01T00:00:00Z",
            "request_id": 8,
        },
        "UpdateFirmware",
        {
            "requestId": 8,
            "firmware": {
                "location": "https://fw.example/v2.bin",
                "retrieveDateTime": "2030-01-01T00:00:00Z",
            },
        },
        result201.UpdateFirmware(status="Accepted"),
        {"status": "Accepted", "request_id": 8},
    ),
    (
        "get-diagnostics",
        {
            "location": "https://logs.example/up",
            "start_at": "2030-01-01T00:00:00Z",
            "request_id": 9,
        },
        "GetLog",
        {
            "log": {
                "remoteLocation": "https://logs.example/up",
                "oldestTimestamp": "2030-01-01T00:00:00Z",
            },
            "logType": "DiagnosticsLog",
            "requestId": 9,
        },
        result201.GetLog(status="Accepted", filename="log.tgz"),
        {"status": "Accepted", "file_name": "log.tgz", "request_id": 9},
    ),
    (
        "data-transfer",
        {"vendor_id": "com.acme", "data": {"a": 1}},
        "DataTransfer",
        {"vendorId": "com.acme", "data": {"a": 1}},
        result201.DataTransfer(status="UnknownVendorId"),
        {"status": "UnknownVendorId"},
    ),
]


CASES_201 += [
    (
        "reset",
        {"type": "soft", "connector_id": 2},
        "Reset",
        {"type": "OnIdle", "evseId": 2},
        result201.Reset(status="Accepted"),
        {"status": "Accepted"},
    ),
    (
        "get-configuration",
        {"report": "full", "request_id": 13},
        "GetBaseReport",
        {"requestId": 13, "reportBase": "FullInventory"},
        result201.GetBaseReport(status="NotSupported"),
        {"status": "NotSupported", "report_request_id": 13},
    ),
    (
        "change-configuration",
        {"values": {"HeartbeatInterval": 60, "AuthCtrlr.Enabled": False}},
        "SetVariables",
        {
            "setVariableData": [
                {
                    "attributeValue": "60",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                },
                {
                    "attributeValue": "false",
                    "component": {"name": "AuthCtrlr"},
                    "variable": {"name": "Enabled"},
                },
            ]
        },
        result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                },
                {
                    "attribute_status": "Rejected",
                    "attribute_status_info": {"reason_code": "ReadOnly"},
                    "component": {"name": "AuthCtrlr"},
                    "variable": {"name": "Enabled"},
                },
            ]
        ),
        {
            "status": "PartiallyAccepted",
            "results": [
                {
                    "key": "OCPPCommCtrlr.HeartbeatInterval",
                    "status": "Accepted",
                    "ocpp_status": "Accepted",
                },
                {
                    "key": "AuthCtrlr.Enabled",
                    "status": "Rejected",
                    "ocpp_status": "Rejected",
                    "status_info": {"reason_code": "ReadOnly"},
                },
            ],
        },
    ),
]


CASES_201 += [
    (
        "get-transaction-status",
        {},
        "GetTransactionStatus",
        {},
        result201.GetTransactionStatus(messages_in_queue=True),
        {"status": "Accepted", "ongoing_indicator": None, "messages_in_queue": True},
    ),
    (
        "get-transaction-status",
        {},
        "GetTransactionStatus",
        {},
        result201.GetTransactionStatus(messages_in_queue=False),
        {"status": "Accepted", "ongoing_indicator": None, "messages_in_queue": False},
    ),
]


def _case_id(case: tuple) -> str:
    return f"{case[0]}-{case[2]}"


def test_translations_cover_every_domain_command():
    # remote-stop needs a session in the database (its own tests below);
    # get-transaction-status does not exist in 1.6 (refused, tested below).
    # set-network-profile and customer-information (2.0.1 only): their own tests in
    # test_conformance_gaps_commands.py.
    only_201 = {"set-network-profile", "customer-information"}
    commands16 = {case[0] for case in CASES_16} | {"remote-stop", "get-transaction-status"}
    commands16 |= only_201
    commands201 = {case[0] for case in CASES_201} | {"remote-stop"} | only_201
    assert commands16 == set(COMMAND_NAMES)
    assert commands201 == set(COMMAND_NAMES)


@pytest.mark.parametrize(
    ("command", "params", "action", "payload", "answer", "expected"),
    CASES_16,
    ids=[_case_id(c) for c in CASES_16],
)
async def test_execute_16_translates_request_and_answer(
    command, params, action, payload, answer, expected
):
    cp = FakeChargePoint(answer)

    result = await execute(cp, "1.6", command, params)

    assert cp.action == action
    assert cp.payload == payload
    assert result == expected
    # CALLERRORs must raise, not vanish (the library's default suppresses them).
    assert cp.suppress == [False]


@pytest.mark.parametrize(
    ("command", "params", "action", "payload", "answer", "expected"),
    CASES_201,
    ids=[_case_id(c) for c in CASES_201],
)
async def test_execute_201_translates_request_and_answer(
    command, params, action, payload, answer, expected
):
    cp = FakeChargePoint(answer)

    result = await execute(cp, "2.0.1", command, params)

    assert cp.action == action
    assert cp.payload == payload
    assert result == expected
    assert cp.suppress == [False]


async def test_execute_201_remote_start_without_request_id_invents_one():
    cp = FakeChargePoint(result201.RequestStartTransaction(status="Accepted"))

    result = await execute(cp, "2.0.1", "remote-start", {"id_tag": "TAG1"})

    assert 1 <= cp.payload["remoteStartId"] < 2**31
    assert result["remote_start_id"] == cp.payload["remoteStartId"]


async def test_execute_16_update_firmware_defaults_retrieve_date_to_now():
    cp = FakeChargePoint(result16.UpdateFirmware())

    await execute(cp, "1.6", "update-firmware", {"location": "https://fw.example/a.bin"})

    assert cp.payload["retrieveDate"].endswith("Z")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("version", "transaction_id", "answer", "action", "payload"),
    [
        (
            "1.6",
            "42",
            result16.RemoteStopTransaction(status="Accepted"),
            "RemoteStopTransaction",
            {"transactionId": 42},
        ),
        (
            "2.0.1",
            "c0ffee-1",
            result201.RequestStopTransaction(status="Accepted"),
            "RequestStopTransaction",
            {"transactionId": "c0ffee-1"},
        ),
    ],
)
async def test_execute_remote_stop_sends_the_sessions_transaction_id(
    version, transaction_id, answer, action, payload
):
    session = await _session(charge_point_id="CP-1", ocpp_transaction_id=transaction_id)
    cp = FakeChargePoint(answer, charge_point_id="CP-1")

    result = await execute(cp, version, "remote-stop", {"session_id": session.pk})

    assert cp.action == action
    assert cp.payload == payload
    assert result == {"status": "Accepted"}


@pytest.mark.django_db(transaction=True)
async def test_execute_remote_stop_refuses_another_chargers_session():
    """A session id is not a capability: one charger's stop must not reach another's
    transaction (SteVe #1296)."""
    other = await _session(charge_point_id="CP-OTHER", ocpp_transaction_id="7")
    cp = FakeChargePoint(result16.RemoteStopTransaction(status="Accepted"), "CP-1")

    with pytest.raises(ValueError, match="has no session"):
        await execute(cp, "1.6", "remote-stop", {"session_id": other.pk})

    assert cp.requests == []


@pytest.mark.django_db(transaction=True)
async def test_execute_remote_stop_refuses_an_ended_session():
    session = await _session(charge_point_id="CP-1", ocpp_transaction_id="8", ended=True)
    cp = FakeChargePoint(result16.RemoteStopTransaction(status="Accepted"), "CP-1")

    with pytest.raises(ValueError, match="already ended"):
        await execute(cp, "1.6", "remote-stop", {"session_id": session.pk})


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("ended", "answer", "expected"),
    [
        # Ongoing, its messages still queued (TC_E_29) or all delivered (TC_E_30).
        (
            False,
            result201.GetTransactionStatus(messages_in_queue=True, ongoing_indicator=True),
            {"status": "Accepted", "ongoing_indicator": True, "messages_in_queue": True},
        ),
        (
            False,
            result201.GetTransactionStatus(messages_in_queue=False, ongoing_indicator=True),
            {"status": "Accepted", "ongoing_indicator": True, "messages_in_queue": False},
        ),
        # Ended here, its last events still queued at the charger (TC_E_31).
        (
            True,
            result201.GetTransactionStatus(messages_in_queue=True, ongoing_indicator=False),
            {"status": "Accepted", "ongoing_indicator": False, "messages_in_queue": True},
        ),
    ],
)
async def test_execute_201_get_transaction_status_asks_about_the_sessions_transaction(
    ended, answer, expected
):
    session = await _session(charge_point_id="CP-1", ocpp_transaction_id="tx-77", ended=ended)
    cp = FakeChargePoint(answer, charge_point_id="CP-1")

    result = await execute(cp, "2.0.1", "get-transaction-status", {"session_id": session.pk})

    assert cp.action == "GetTransactionStatus"
    assert cp.payload == {"transactionId": "tx-77"}
    assert result == expected


@pytest.mark.django_db(transaction=True)
async def test_execute_get_transaction_status_refuses_another_chargers_session():
    """Another charger's transaction id is not this charger's to be asked about."""
    other = await _session(charge_point_id="CP-OTHER", ocpp_transaction_id="tx-o")
    cp = FakeChargePoint(result201.GetTransactionStatus(messages_in_queue=False), "CP-1")

    with pytest.raises(ValueError, match="has no session"):
        await execute(cp, "2.0.1", "get-transaction-status", {"session_id": other.pk})

    assert cp.requests == []


@pytest.mark.parametrize("params", [{}, {"session_id": 1}])
async def test_execute_16_refuses_get_transaction_status(params):
    cp = FakeChargePoint(result16.Reset(status="Accepted"))

    with pytest.raises(ValueError, match="GetTransactionStatus is OCPP 2.0.1 only"):
        await execute(cp, "1.6", "get-transaction-status", params)

    assert cp.requests == []


@pytest.mark.parametrize(
    ("version", "command", "params", "message"),
    [
        ("1.6", "reset", {}, r"type is required"),
        ("1.6", "reset", {"type": "warm"}, r"type must be one of 'soft', 'hard'"),
        ("1.6", "reset", {"type": "soft", "delay": 3}, r"unknown parameter\(s\): delay"),
        ("2.0.1", "remote-start", {"connector_id": 1}, r"id_tag is required"),
        ("1.6", "remote-start", {"id_tag": "X" * 21}, r"at most 20 characters"),
        ("1.6", "unlock-connector", {"connector_id": "one"}, r"must be an integer"),
        ("1.6", "unlock-connector", {"connector_id": 0}, r"at least 1"),
        ("1.6", "change-availability", {"available": "yes"}, r"true or false"),
        ("1.6", "trigger-message", {"message": "TransactionEvent"}, r"must be one of"),
        ("2.0.1", "change-configuration", {"key": "NoDot", "value": "1"}, r"not a 2.0.1 key"),
        ("1.6", "change-configuration", {"key": "K"}, r"value is required"),
        ("1.6", "reserve-now", {"id_tag": "T", "expiry_at": "tomorrow"}, r"ISO 8601"),
        ("1.6", "reserve-now", {"id_tag": "T", "expiry_at": "2030-01-01T00:00:00"}, "time zone"),
        ("1.6", "set-charging-profile", {"profile": {"id": 1}}, r"purpose is required"),
        (
            "1.6",
            "set-charging-profile",
            {"profile": {**PROFILE, "schedule": {"rate_unit": "A", "periods": []}}},
            r"at least one period",
        ),
        (
            "2.0.1",
            "set-charging-profile",
            {"profile": {**PROFILE, "schedule": {"rate_unit": "A", "periods": [{"limit": 1}]}}},
            r"profile\.schedule\.periods\[0\]\.start_period is required",
        ),
        ("1.6", "get-composite-schedule", {}, r"duration is required"),
        ("1.6", "data-transfer", {"vendor_id": ""}, r"vendor_id is required"),
        ("1.6", "flash-lights", {}, r"Unknown command 'flash-lights'"),
        ("1.5", "reset", {"type": "soft"}, r"Unsupported OCPP version"),
        (
            "1.6",
            "remote-start",
            {"id_tag": "T", "charging_profile": {**PROFILE, "purpose": "tx_default"}},
            r"purpose must be tx",
        ),
        ("1.6", "reset", {"type": "soft", "connector_id": 1}, r"resets as a whole"),
        ("1.6", "change-configuration", {"values": {"A": "1"}}, r"one key at a time"),
        (
            "2.0.1",
            "change-configuration",
            {"values": {"A.B": "1"}, "key": "C.D"},
            r"either values or one key",
        ),
        ("2.0.1", "get-configuration", {"report": "everything"}, r"report must be one of"),
        ("1.6", "reset", ["soft"], r"must be a JSON object"),
        ("2.0.1", "get-transaction-status", {"session_id": 0}, r"session_id must be at least 1"),
        (
            "2.0.1",
            "get-transaction-status",
            {"transaction_id": "tx-1"},
            r"unknown parameter\(s\): transaction_id",
        ),
    ],
)
async def test_execute_refuses_bad_parameters_before_sending(version, command, params, message):
    cp = FakeChargePoint(result16.Reset(status="Accepted"))

    with pytest.raises(ValueError, match=message):
        await execute(cp, version, command, params)

    assert cp.requests == []


async def test_execute_refuses_a_request_the_ocpp_schema_rejects():
    # 1.6 DataTransfer.messageId is at most 50 characters; the schema check names it.
    cp = FakeChargePoint(result16.DataTransfer(status="Accepted"))

    with pytest.raises(ValueError, match="at most 50 characters"):
        await execute(cp, "1.6", "data-transfer", {"vendor_id": "v", "message_id": "m" * 51})

    assert cp.requests == []


async def test_execute_answers_in_plain_json_numbers():
    """The package validates 1.6 schedules with Decimal limits; the answer must still
    cross the channel layer and land in a JSONField."""
    answer = result16.GetCompositeSchedule(
        status="Accepted",
        charging_schedule={
            "charging_rate_unit": "A",
            "charging_schedule_period": [
                {"start_period": 0, "limit": Decimal("16.0")},
                {"start_period": 60, "limit": Decimal("6.5")},
            ],
        },
    )
    cp = FakeChargePoint(answer)

    result = await execute(cp, "1.6", "get-composite-schedule", {"duration": 60})

    periods = result["schedule"]["periods"]
    assert periods == [{"start_period": 0, "limit": 16}, {"start_period": 60, "limit": 6.5}]
    assert [type(p["limit"]) for p in periods] == [int, float]


async def test_execute_lets_a_call_error_through():
    """The consumer reports an OCPPError as "call_error": execute must not swallow it."""
    cp = FakeChargePoint(OcppNotImplemented(description="No handler for Reset"))

    with pytest.raises(OcppNotImplemented):
        await execute(cp, "1.6", "reset", {"type": "soft"})


async def test_execute_lets_a_timeout_through():
    cp = FakeChargePoint(TimeoutError("Waited 30s"))

    with pytest.raises(TimeoutError):
        await execute(cp, "2.0.1", "clear-cache", {})


async def _session(
    *, charge_point_id: str, ocpp_transaction_id: str, ended: bool = False
) -> ChargingSession:
    from asgiref.sync import sync_to_async
    from django.utils import timezone

    def create() -> ChargingSession:
        charger = factories.ChargerFactory(charge_point_id=charge_point_id)
        connector = factories.ConnectorFactory(charger=charger)
        now = timezone.now()
        extra: dict[str, Any] = {"started_at": now - timedelta(hours=1)}
        if ended:
            extra.update(state="completed", stopped_at=now, meter_stop_wh=2000)
        return factories.ChargingSessionFactory(
            connector=connector, ocpp_transaction_id=ocpp_transaction_id, **extra
        )

    return await sync_to_async(create)()


async def test_execute_21_uses_the_201_translations_with_21_schemas():
    # The consumer does not negotiate ocpp2.1 yet; the translations are ready for it.
    from ocpp.v21 import call_result as result21

    cp = FakeChargePoint(result21.Reset(status="Accepted"))

    result = await execute(cp, "2.1", "reset", {"type": "soft"})

    assert type(cp.requests[-1]).__module__ == "ocpp.v21.call"
    assert cp.payload == {"type": "OnIdle"}
    assert result == {"status": "Accepted"}
