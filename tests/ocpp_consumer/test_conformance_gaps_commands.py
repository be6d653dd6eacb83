"""The OCPP 2.0.1 commands and reports that closed issue 3's last conformance rows,
without a socket: the translation of set-network-profile and customer-information
(apps/ocpp_consumer/commands.py), their refusal for 1.6, the command log's masking
of network secrets, and the mapping of signed meter values (mappers.py). The same
flows run end to end in test_conformance_gaps_e2e.py."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from ocpp.v201 import call_result as result201

from apps.chargers import services
from apps.chargers.commands import command_send_sync
from apps.chargers.exceptions import ChargerOffline
from apps.chargers.models import CommandLog, MeterSample
from apps.ocpp_consumer import mappers
from apps.ocpp_consumer.commands import execute
from tests import factories
from tests.ocpp_consumer.test_commands import FakeChargePoint

PROFILE_2 = {
    "configuration_slot": 2,
    "ocpp_csms_url": "wss://csms.example.com/ocpp/",
    "security_profile": 2,
}


async def _charger(charge_point_id: str, *, password: str | None = None) -> None:
    def make() -> None:
        charger = factories.ChargerFactory(charge_point_id=charge_point_id, ocpp_version="2.0.1")
        if password:
            services.charger_set_password(charger=charger, password=password)

    await sync_to_async(make)()


# --- set-network-profile (TC_B_42, TC_B_44, TC_A_19) -----------------------------------


@pytest.mark.django_db(transaction=True)
async def test_set_network_profile_201_sends_the_profile_and_returns_the_answer():
    await _charger("NP-1", password="a-station-password-0001")
    cp = FakeChargePoint(result201.SetNetworkProfile(status="Accepted"), charge_point_id="NP-1")

    result = await execute(cp, "2.0.1", "set-network-profile", PROFILE_2)

    assert cp.action == "SetNetworkProfile"
    assert cp.payload == {
        "configurationSlot": 2,
        "connectionData": {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": "wss://csms.example.com/ocpp/",
            "messageTimeout": 30,
            "securityProfile": 2,
            "ocppInterface": "Wired0",
        },
    }
    assert result == {"status": "Accepted", "configuration_slot": 2}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            result201.SetNetworkProfile(status="Failed", status_info={"reason_code": "NoModem"}),
            {
                "status": "Failed",
                "status_info": {"reason_code": "NoModem"},
                "configuration_slot": 1,
            },
        ),
        (
            result201.SetNetworkProfile(status="Rejected"),
            {"status": "Rejected", "configuration_slot": 1},
        ),
    ],
)
async def test_set_network_profile_201_passes_failed_and_rejected_through(answer, expected):
    # Security profile 3: TLS client certificates, no password needed here.
    cp = FakeChargePoint(answer)
    params = {
        "configuration_slot": 1,
        "ocpp_csms_url": "wss://csms.example.com/ocpp",
        "security_profile": 3,
        "ocpp_interface": "wireless1",
        "message_timeout": 45,
        "apn": {
            "apn": "internet.example",
            "apn_password": "secret",
            "apn_authentication": "pap",
            "use_only_preferred_network": True,
        },
        "vpn": {"server": "vpn.example", "user": "u", "password": "p", "key": "k", "type": "IKEv2"},
    }

    result = await execute(cp, "2.0.1", "set-network-profile", params)

    connection = cp.payload["connectionData"]
    assert connection["ocppInterface"] == "Wireless1"
    assert connection["messageTimeout"] == 45
    assert connection["apn"] == {
        "apn": "internet.example",
        "apnPassword": "secret",
        "apnAuthentication": "PAP",
        "useOnlyPreferredNetwork": True,
    }
    assert connection["vpn"]["type"] == "IKEv2"
    assert result == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**PROFILE_2, "ocpp_csms_url": "ws://csms.example.com/"}, r"must start with wss://"),
        ({**PROFILE_2, "ocpp_csms_url": "https://csms.example.com/"}, r"websocket URL"),
        ({**PROFILE_2, "security_profile": 4}, r"security_profile must be at most 3"),
        ({**PROFILE_2, "configuration_slot": -1}, r"configuration_slot must be at least 0"),
        ({**PROFILE_2, "ocpp_interface": "fibre"}, r"ocpp_interface must be one of"),
        ({**PROFILE_2, "security_profile": 3, "vpn": {"server": "v"}}, r"vpn\.user is required"),
        ({"configuration_slot": 1, "security_profile": 3}, r"ocpp_csms_url is required"),
    ],
)
async def test_set_network_profile_refuses_bad_parameters_before_sending(params, message):
    cp = FakeChargePoint(result201.SetNetworkProfile(status="Accepted"))

    with pytest.raises(ValueError, match=message):
        await execute(cp, "2.0.1", "set-network-profile", params)

    assert cp.requests == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("security_profile", [1, 2])
async def test_set_network_profile_with_basic_auth_needs_the_chargers_password(
    security_profile,
):
    """A charger without a password here is admitted without one: upgrading it to a
    Basic-auth profile first needs a password rotation, or the upgrade is a sham."""
    await _charger("NP-NOPASS")
    cp = FakeChargePoint(
        result201.SetNetworkProfile(status="Accepted"), charge_point_id="NP-NOPASS"
    )
    params = {**PROFILE_2, "security_profile": security_profile}

    with pytest.raises(ValueError, match="has no OCPP password here: rotate"):
        await execute(cp, "2.0.1", "set-network-profile", params)

    assert cp.requests == []


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("set-network-profile", "SetNetworkProfile is OCPP 2.0.1 only"),
        ("customer-information", "CustomerInformation is OCPP 2.0.1 only"),
    ],
)
async def test_16_refuses_the_201_only_commands(command, message):
    cp = FakeChargePoint(result201.SetNetworkProfile(status="Accepted"))

    with pytest.raises(ValueError, match=message):
        await execute(cp, "1.6", command, PROFILE_2)

    assert cp.requests == []


@pytest.mark.django_db(transaction=True)
def test_set_network_profile_log_masks_the_network_secrets():
    factories.ChargerFactory(charge_point_id="NP-LOG", ocpp_version="2.0.1")
    params = {
        **PROFILE_2,
        "security_profile": 3,
        "apn": {"apn": "internet", "apn_password": "apn-secret", "sim_pin": 1234},
        "vpn": {"server": "v", "user": "u", "password": "vpn-secret", "key": "vpn-key"},
    }

    with pytest.raises(ChargerOffline):
        command_send_sync(
            charger="NP-LOG", command="set-network-profile", params=params, source="system"
        )

    logged = CommandLog.objects.get().params
    assert logged["apn"] == {"apn": "internet", "apn_password": "***", "sim_pin": "***"}
    assert logged["vpn"] == {"server": "v", "user": "u", "password": "***", "key": "***"}
    assert logged["ocpp_csms_url"] == PROFILE_2["ocpp_csms_url"]
    # The caller's dict is not changed: the charger gets the real values.
    assert params["apn"]["apn_password"] == "apn-secret"


# --- customer-information (TC_N_27..32, TC_N_62) ---------------------------------------


@pytest.mark.parametrize(
    ("params", "customer"),
    [
        ({"id_tag": "04A1B2C3"}, {"idToken": {"idToken": "04A1B2C3", "type": "ISO14443"}}),
        (
            {"id_tag": "app-user-7", "id_token_type": "app", "report": False, "clear": True},
            {"idToken": {"idToken": "app-user-7", "type": "Central"}},
        ),
        ({"customer_identifier": "NL-PBD-C12345"}, {"customerIdentifier": "NL-PBD-C12345"}),
        (
            {
                "customer_certificate": {
                    "hash_algorithm": "sha256",
                    "issuer_name_hash": "aa",
                    "issuer_key_hash": "bb",
                    "serial_number": "01",
                }
            },
            {
                "customerCertificate": {
                    "hashAlgorithm": "SHA256",
                    "issuerNameHash": "aa",
                    "issuerKeyHash": "bb",
                    "serialNumber": "01",
                }
            },
        ),
    ],
)
async def test_customer_information_201_names_the_customer_one_way(params, customer):
    cp = FakeChargePoint(result201.CustomerInformation(status="Accepted"))

    result = await execute(cp, "2.0.1", "customer-information", {**params, "request_id": 42})

    assert cp.action == "CustomerInformation"
    assert cp.payload == {
        "requestId": 42,
        "report": params.get("report", True),
        "clear": params.get("clear", False),
        **customer,
    }
    assert result == {"status": "Accepted", "request_id": 42}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "exactly one of customer_identifier, id_tag or customer_certificate"),
        ({"id_tag": "A", "customer_identifier": "B"}, "exactly one of"),
        ({"id_tag": "A", "report": False}, "a report, a clear, or both"),
        ({"id_tag": "A", "report": "yes"}, "report must be true or false"),
        ({"customer_identifier": "X" * 65}, "at most 64 characters"),
    ],
)
async def test_customer_information_refuses_bad_parameters_before_sending(params, message):
    cp = FakeChargePoint(result201.CustomerInformation(status="Accepted"))

    with pytest.raises(ValueError, match=message):
        await execute(cp, "2.0.1", "customer-information", params)

    assert cp.requests == []


# --- signed meter values (TC_J_04, TC_J_11) --------------------------------------------

SIGNED = {
    "signed_meter_data": "T0NNRnx7IlJEIjpbeyJSViI6MTIzNC41fV19fA==",
    "signing_method": "ECDSA-secp256r1-SHA256",
    "encoding_method": "OCMF",
    "public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
}


def test_samples_v201_keeps_the_signed_meter_value():
    samples = mappers.samples_v201(
        [
            {
                "timestamp": "2026-11-24T12:00:00Z",
                "sampled_value": [
                    {"value": 1234.5, "context": "Sample.Clock", "signed_meter_value": SIGNED},
                    {"value": 7.2, "measurand": "Power.Active.Import"},
                ],
            }
        ]
    )

    assert [(s.measurand, s.value, s.signed) for s in samples] == [
        ("Energy.Active.Import.Register", Decimal("1234.5"), SIGNED),
        ("Power.Active.Import", Decimal("7.2"), None),
    ]


def test_samples_v16_attaches_signed_data_to_its_plain_reading():
    samples = mappers.samples_v16(
        [
            {
                "timestamp": "2026-11-24T12:00:00Z",
                "sampled_value": [
                    {"value": "1234", "context": "Sample.Clock"},
                    {
                        "value": "OCMF|{...}|{...}",
                        "context": "Sample.Clock",
                        "format": "SignedData",
                    },
                    {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
                    # A signed reading without its plain twin: no number to store.
                    {"value": "blob", "measurand": "Current.Import", "format": "SignedData"},
                ],
            }
        ]
    )

    assert [(s.measurand, s.value, s.signed) for s in samples] == [
        (
            "Energy.Active.Import.Register",
            Decimal("1234"),
            {"signed_meter_data": "OCMF|{...}|{...}"},
        ),
        ("Power.Active.Import", Decimal("11000"), None),
    ]


@pytest.mark.django_db
def test_meter_samples_record_stores_the_signature():
    charger = factories.ChargerFactory(ocpp_version="2.0.1")
    at = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    services.meter_samples_record(
        charger=charger,
        connector_id=1,
        samples=[
            services.Sample(sampled_at=at, value=Decimal(1234), signed=SIGNED),
            services.Sample(sampled_at=at, value=Decimal(7), measurand="Power.Active.Import"),
        ],
    )

    stored = dict(MeterSample.objects.values_list("measurand", "signed_data"))
    assert stored == {"Energy.Active.Import.Register": SIGNED, "Power.Active.Import": None}
