"""Issue 3's last conformance rows, end to end: real HTTP to the REST API of a real
daphne server, the channel layer, and a charging station on a real websocket (the
2.0.1 simulator, or an `ocpp` package station that validates every request we
send against the OCPP schema).

OCA CSMS test cases (conformance/ocpp201-csms-testcases.tsv) covered here:
TC_A_19_CSMS (upgrade the security profile: SetNetworkProfile, SetVariables
NetworkConfigurationPriority, Reset, reconnection under the new profile),
TC_B_42_CSMS / TC_B_44_CSMS (SetNetworkProfile Accepted / Failed),
TC_J_04_CSMS / TC_J_11_CSMS (signed clock-aligned and sampled meter values kept and
returned), TC_N_27_CSMS..TC_N_32_CSMS and TC_N_62_CSMS (CustomerInformation: get,
clear, with and without data, refused; NotifyCustomerInformation collected)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action

from apps.chargers.models import Charger, ChargerEvent, CommandLog, MeterSample
from apps.chargers.services import charger_password_rotate, charger_set_password
from apps.ocpp_consumer.simulator import SimOptions, StationSpec, build_stations
from apps.ocpp_consumer.simulator.station import Station
from apps.sites.services import api_token_create
from tests import factories
from tests.ocpp_consumer.conftest import basic_auth, run, wait_for
from tests.ocpp_consumer.stations import connect, now, refused_status, station

SIM_PASSWORD = "simulator-password-0042"
KNOWN_TAG = "04A1B2C3"

# --- the API over real HTTP -----------------------------------------------------------


def _http(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (http://127.0.0.1, built here)
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Api:
    def __init__(self, port: int, token: str) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self.token = token

    async def command(self, charge_point_id: str, command: str, body: Any) -> tuple[int, Any]:
        url = f"{self.base}/chargers/{charge_point_id}/commands/{command}"
        return await asyncio.to_thread(_http, "POST", url, self.token, body)

    async def get(self, path: str) -> tuple[int, Any]:
        return await asyncio.to_thread(_http, "GET", f"{self.base}{path}", self.token)

    async def customer_information(self, charge_point_id: str, request_id: int) -> dict[str, Any]:
        """Poll the collected customer information until it is complete (or 10 s)."""
        path = f"/chargers/{charge_point_id}/customer-information/{request_id}"
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            status, body = await self.get(path)
            assert status == 200, body
            if body["complete"] or asyncio.get_running_loop().time() > deadline:
                return body
            await asyncio.sleep(0.05)


@pytest.fixture
def api(ocpp_server, manager_a) -> Api:
    _, token = api_token_create(user=manager_a, name="conformance")
    return Api(ocpp_server.port, token)


def _charger(org, charge_point_id: str, *, password: str | None = None) -> Charger:
    charger = factories.ChargerFactory(
        charge_point_id=charge_point_id,
        zone__property__organization=org,
        ocpp_version=Charger.OcppVersion.V201,
    )
    factories.ConnectorFactory(charger=charger, connector_id=1)
    if password:
        charger_set_password(charger=charger, password=password)
    return charger


# --- the 2.0.1 simulator --------------------------------------------------------------


def _simulator(ocpp_server, charge_point_id: str, *, password: str | None = None) -> Station:
    options = SimOptions(
        url=f"ws://127.0.0.1:{ocpp_server.port}",
        ocpp="2.0.1",
        password=password,
        id_tags=[KNOWN_TAG],
        auto_sessions=False,
        tick_s=0.1,
        backoff_base_s=0.1,
        backoff_cap_s=0.5,
    )
    [sim] = build_stations([StationSpec(charge_point_id)], options, seed=3)
    return sim


@contextlib.asynccontextmanager
async def simulated(sim: Station) -> AsyncIterator[Station]:
    task = asyncio.create_task(sim.run())
    try:
        await asyncio.wait_for(sim.online.wait(), 10)
        yield sim
    finally:
        sim.stop()
        await asyncio.wait_for(task, 20)


# --- network profiles (TC_B_42, TC_B_44) ----------------------------------------------


def test_set_network_profile_accepted_failed_rejected(api, org_a, ocpp_server):
    """TC_B_42_CSMS (Accepted) and TC_B_44_CSMS (Failed), plus the station's refusals
    (an invalid slot, a downgrade): the CSMS sends the profile, passes the answer on,
    and the station keeps an accepted profile for its NetworkConfigurationPriority."""
    _charger(org_a, "NP-SIM", password=SIM_PASSWORD)
    sim = _simulator(ocpp_server, "NP-SIM", password=SIM_PASSWORD)
    tls = {"ocpp_csms_url": "wss://csms.example.com/ocpp", "security_profile": 2}

    async def scenario() -> list[tuple[int, Any]]:
        async with simulated(sim):
            return [
                await api.command(
                    "NP-SIM", "set-network-profile", {"configuration_slot": 2, **tls}
                ),
                await api.command(
                    "NP-SIM",
                    "set-network-profile",
                    {"configuration_slot": 3, "ocpp_interface": "wireless0", **tls},
                ),
                await api.command(
                    "NP-SIM", "set-network-profile", {"configuration_slot": 9, **tls}
                ),
                await api.command(
                    "NP-SIM",
                    "set-network-profile",
                    {
                        "configuration_slot": 3,
                        "ocpp_csms_url": "ws://csms.example.com/ocpp",
                        "security_profile": 0,
                    },
                ),
                await api.command(
                    "NP-SIM",
                    "change-configuration",
                    {"key": "OCPPCommCtrlr.NetworkConfigurationPriority", "value": "2,1"},
                ),
                await api.command(
                    "NP-SIM",
                    "change-configuration",
                    {"key": "OCPPCommCtrlr.NetworkConfigurationPriority", "value": "3,1"},
                ),
            ]

    accepted, failed, bad_slot, downgrade, priority, unknown_priority = run(scenario(), 40)

    assert accepted[0] == 200, accepted
    assert (accepted[1]["status"], accepted[1]["configuration_slot"]) == ("Accepted", 2)
    assert failed[0] == 200
    assert (failed[1]["status"], failed[1]["status_info"]["reason_code"]) == (
        "Failed",
        "NoWirelessInterface",
    )
    assert (bad_slot[1]["status"], bad_slot[1]["status_info"]["reason_code"]) == (
        "Rejected",
        "InvalidSlot",
    )
    assert (downgrade[1]["status"], downgrade[1]["status_info"]["reason_code"]) == (
        "Rejected",
        "NoDowngrade",
    )
    assert (priority[0], priority[1]["status"]) == (200, "Accepted")
    # Slot 3 never took a profile: the station refuses to prefer it.
    assert unknown_priority[1]["status"] == "Rejected"
    stored = json.loads(sim.config[("NetworkConfiguration", "2")])
    assert stored["ocpp_csms_url"] == "wss://csms.example.com/ocpp"
    assert stored["security_profile"] == 2
    assert ("NetworkConfiguration", "3") not in sim.config
    logs = CommandLog.objects.filter(command="set-network-profile").order_by("pk")
    assert [log.status for log in logs] == ["Accepted", "Failed", "Rejected", "Rejected"]
    assert all(log.outcome == "answered" for log in logs)


def test_set_network_profile_refusals_before_anything_is_sent(api, org_a, ocpp_server):
    """What the CSMS refuses itself (422, nothing sent): a 1.6 charger (no such
    message), a TLS profile on ws://, Basic auth for a charger without a password
    here; and another organization's charger is not found (404)."""
    factories.ChargerFactory(
        charge_point_id="NP-16", zone__property__organization=org_a, ocpp_version="1.6"
    )
    _charger(org_a, "NP-NOPW")
    other = factories.OrganizationFactory(slug="np-other")
    _charger(other, "NP-B")
    profile = {"configuration_slot": 2, "ocpp_csms_url": "ws://x.example/ocpp"}

    async def scenario() -> dict[str, tuple[int, Any]]:
        answers = {}
        async with station(ocpp_server.url("NP-16"), "1.6", charge_point_id="NP-16"):
            assert await asyncio.to_thread(wait_for, lambda: _online("NP-16"))
            answers["1.6"] = await api.command(
                "NP-16", "set-network-profile", {**profile, "security_profile": 0}
            )
            answers["1.6 customer"] = await api.command(
                "NP-16", "customer-information", {"id_tag": KNOWN_TAG}
            )
        async with station(ocpp_server.url("NP-NOPW"), "2.0.1", charge_point_id="NP-NOPW"):
            assert await asyncio.to_thread(wait_for, lambda: _online("NP-NOPW"))
            answers["ws tls"] = await api.command(
                "NP-NOPW", "set-network-profile", {**profile, "security_profile": 2}
            )
            answers["no password"] = await api.command(
                "NP-NOPW", "set-network-profile", {**profile, "security_profile": 1}
            )
            answers["bad body"] = await api.command(
                "NP-NOPW", "set-network-profile", {**profile, "security_profile": 7}
            )
            answers["customer twice"] = await api.command(
                "NP-NOPW", "customer-information", {"id_tag": "A", "customer_identifier": "B"}
            )
        async with station(ocpp_server.url("NP-B"), "2.0.1", charge_point_id="NP-B"):
            assert await asyncio.to_thread(wait_for, lambda: _online("NP-B"))
            answers["other org"] = await api.command(
                "NP-B", "set-network-profile", {**profile, "security_profile": 0}
            )
        return answers

    answers = run(scenario(), 40)

    assert answers["1.6"][0] == 422
    assert "SetNetworkProfile is OCPP 2.0.1 only" in answers["1.6"][1]["detail"]
    assert answers["1.6 customer"][0] == 422
    assert "CustomerInformation is OCPP 2.0.1 only" in answers["1.6 customer"][1]["detail"]
    assert answers["ws tls"][0] == 422
    assert "must start with wss://" in answers["ws tls"][1]["detail"]
    assert answers["no password"][0] == 422
    assert "no OCPP password here" in answers["no password"][1]["detail"]
    assert answers["bad body"][0] == 422
    assert answers["bad body"][1]["errors"][0]["field"] == "security_profile"
    assert answers["customer twice"][0] == 422
    assert "exactly one of" in answers["customer twice"][1]["detail"]
    assert answers["other org"][0] == 404
    # Refused before sending: logged as errors, never answered by a charger.
    assert not CommandLog.objects.filter(outcome="answered").exists()
    assert not CommandLog.objects.filter(charger__charge_point_id="NP-B").exists()


def _online(charge_point_id: str) -> bool:
    from django.db import connection

    try:
        return (
            Charger.objects.filter(charge_point_id=charge_point_id)
            .exclude(channel_name="")
            .exists()
        )
    finally:
        connection.close()


# --- upgrading the security profile (TC_A_19) ----------------------------------------


class _Memory:
    """What a station keeps across reboots: its password, profiles and priority."""

    def __init__(self) -> None:
        self.password: str | None = None
        self.profiles: dict[int, dict[str, Any]] = {}
        self.priority = "1"
        self.reset = asyncio.Event()
        self.received: list[str] = []


class UpgradingStation(Cp201):
    """A 2.0.1 station that takes a new password and network profile and reboots on
    Reset; the package checks each request we send against the OCPP schema."""

    def __init__(self, charge_point_id: str, ws: Any, memory: _Memory) -> None:
        super().__init__(charge_point_id, ws)
        self.memory = memory

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in set_variable_data:
            name = (item["component"]["name"], item["variable"]["name"])
            self.memory.received.append(f"SetVariables {name[0]}.{name[1]}")
            if name == ("SecurityCtrlr", "BasicAuthPassword"):
                self.memory.password = item["attribute_value"]
            elif name == ("OCPPCommCtrlr", "NetworkConfigurationPriority"):
                self.memory.priority = item["attribute_value"]
            results.append(
                {
                    "attribute_status": "Accepted",
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return result201.SetVariables(set_variable_result=results)

    @on(Action.set_network_profile)
    def on_set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any], **_: Any
    ) -> Any:
        self.memory.received.append("SetNetworkProfile")
        self.memory.profiles[configuration_slot] = connection_data
        return result201.SetNetworkProfile(status="Accepted")

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> Any:  # noqa: A002 (the OCPP field)
        self.memory.received.append(f"Reset {type}")
        self.memory.reset.set()
        return result201.Reset(status="Accepted")


BOOT = {"model": "Upgrader", "vendor_name": "Plugboard Test"}


def test_upgrade_security_profile_accepted(api, org_a, ocpp_server):
    """TC_A_19_CSMS Upgrade Charging Station Security Profile - Accepted, from profile
    0 (no auth, trusted network) to profile 1 (HTTP Basic auth): the CSMS refuses to
    send a Basic-auth profile before the charger has a password here, sets one
    (SetVariables BasicAuthPassword), sends SetNetworkProfile, puts its slot first
    (SetVariables NetworkConfigurationPriority), resets the station; the station
    reconnects to the profile's URL with the password and boots; without the
    password it is refused from then on. (Profiles 2 and 3 add TLS, which the
    reverse proxy terminates: docs/deployment.md; the CSMS's steps are the same.)"""
    charger = _charger(org_a, "UP-1")
    memory = _Memory()
    csms_url = f"ws://127.0.0.1:{ocpp_server.port}/ocpp/"
    upgraded_profile = {"configuration_slot": 2, "ocpp_csms_url": csms_url, "security_profile": 1}

    async def before_upgrade() -> dict[str, Any]:
        answers: dict[str, Any] = {}
        async with connect(ocpp_server.url("UP-1"), "ocpp2.0.1") as ws:
            cp = UpgradingStation("UP-1", ws, memory)
            reader = asyncio.create_task(cp.start())
            try:
                boot = await cp.call(c201.BootNotification(charging_station=BOOT, reason="PowerUp"))
                assert boot.status == "Accepted"
                assert await asyncio.to_thread(wait_for, lambda: _online("UP-1"))
                answers["too early"] = await api.command(
                    "UP-1", "set-network-profile", upgraded_profile
                )
                answers["rotation"] = await asyncio.to_thread(
                    ocpp_server.on_server_loop,
                    charger_password_rotate(charger="UP-1", source="system"),
                    30,
                )
                answers["profile"] = await api.command(
                    "UP-1", "set-network-profile", upgraded_profile
                )
                answers["priority"] = await api.command(
                    "UP-1",
                    "change-configuration",
                    {"key": "OCPPCommCtrlr.NetworkConfigurationPriority", "value": "2,1"},
                )
                answers["reset"] = await api.command("UP-1", "reset", {"type": "soft"})
                await asyncio.wait_for(memory.reset.wait(), 5)
            finally:
                reader.cancel()
        return answers

    answers = run(before_upgrade(), 60)

    assert answers["too early"][0] == 422
    assert "rotate its password first" in answers["too early"][1]["detail"]
    assert answers["rotation"].rotated
    assert answers["profile"] == (
        200,
        {
            "status": "Accepted",
            "configuration_slot": 2,
            "command_id": answers["profile"][1]["command_id"],
        },
    )
    assert (answers["priority"][0], answers["priority"][1]["status"]) == (200, "Accepted")
    assert (answers["reset"][0], answers["reset"][1]["status"]) == (200, "Accepted")
    assert memory.received == [
        "SetVariables SecurityCtrlr.BasicAuthPassword",
        "SetNetworkProfile",
        "SetVariables OCPPCommCtrlr.NetworkConfigurationPriority",
        "Reset OnIdle",
    ]
    assert memory.profiles[2]["security_profile"] == 1
    assert memory.profiles[2]["ocpp_version"] == "OCPP20"

    # The station reboots onto the first slot of its priority list.
    first_slot = int(memory.priority.split(",")[0])
    url = memory.profiles[first_slot]["ocpp_csms_url"].rstrip("/") + "/UP-1"
    assert memory.password is not None

    async def after_upgrade() -> tuple[int, str]:
        without_password = await refused_status(url, ["ocpp2.0.1"])
        async with connect(url, "ocpp2.0.1", basic_auth("UP-1", memory.password or "")) as ws:
            cp = UpgradingStation("UP-1", ws, memory)
            reader = asyncio.create_task(cp.start())
            try:
                boot = await cp.call(
                    c201.BootNotification(charging_station=BOOT, reason="RemoteReset")
                )
            finally:
                reader.cancel()
        return without_password, boot.status

    without_password, boot_status = run(after_upgrade(), 30)

    assert without_password != 0, "a station without the password got in after the upgrade"
    assert boot_status == "Accepted"
    charger.refresh_from_db()
    assert charger.password_hash
    boots = ChargerEvent.objects.filter(charger=charger, kind=ChargerEvent.Kind.BOOT)
    assert [e.payload["reason"] for e in boots.order_by("pk")] == ["PowerUp", "RemoteReset"]


# --- customer information (TC_N_27..TC_N_32, TC_N_62) -------------------------------


def test_get_customer_information_with_and_without_data(api, org_a, ocpp_server):
    """TC_N_27_CSMS (Accepted + data: two NotifyCustomerInformation parts, collected in
    order) and TC_N_28_CSMS (Accepted + no data: one empty part)."""
    _charger(org_a, "CI-SIM")
    sim = _simulator(ocpp_server, "CI-SIM")

    async def scenario() -> tuple[Any, ...]:
        async with simulated(sim):
            known = await api.command("CI-SIM", "customer-information", {"id_tag": KNOWN_TAG})
            known_info = await api.customer_information("CI-SIM", known[1]["request_id"])
            unknown = await api.command("CI-SIM", "customer-information", {"id_tag": "NOBODY"})
            unknown_info = await api.customer_information("CI-SIM", unknown[1]["request_id"])
            return known, known_info, unknown, unknown_info

    known, known_info, unknown, unknown_info = run(scenario(), 40)

    assert known[0] == 200
    assert known[1]["status"] == "Accepted"
    # The request id is the command's id: the reports lead back to the command.
    assert known[1]["request_id"] == known[1]["command_id"]
    assert known_info["complete"] is True
    assert [(p["seq_no"], p["tbc"]) for p in known_info["parts"]] == [(0, True), (1, False)]
    assert known_info["parts"][0]["data"] == f"idToken {KNOWN_TAG}: known at CI-SIM"
    assert known_info["data"] == f"idToken {KNOWN_TAG}: known at CI-SIMno transaction in progress"
    assert (known_info["status"], known_info["report"], known_info["clear"]) == (
        "Accepted",
        True,
        False,
    )
    assert unknown[1]["status"] == "Accepted"
    assert unknown_info["complete"] is True
    assert [(p["seq_no"], p["tbc"], p["data"]) for p in unknown_info["parts"]] == [(0, False, "")]
    # Stored durably, as the station sent them.
    events = ChargerEvent.objects.filter(summary="NotifyCustomerInformation")
    assert sorted(e.payload["requestId"] for e in events) == sorted(
        [known[1]["request_id"]] * 2 + [unknown[1]["request_id"]]
    )


def test_get_customer_information_not_accepted(api, org_a, ocpp_server):
    """TC_N_29_CSMS Get Customer Information - Not Accepted: the station refuses (here:
    a certificate it cannot look up); no report follows and the read says so."""
    _charger(org_a, "CI-REJ")
    sim = _simulator(ocpp_server, "CI-REJ")
    certificate = {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": "a" * 64,
        "issuer_key_hash": "b" * 64,
        "serial_number": "0A1B",
    }

    async def scenario() -> tuple[Any, Any]:
        async with simulated(sim):
            answer = await api.command(
                "CI-REJ", "customer-information", {"customer_certificate": certificate}
            )
            await asyncio.sleep(0.3)  # a report would have arrived by now
            info = await api.customer_information("CI-REJ", answer[1]["request_id"])
            return answer, info

    answer, info = run(scenario(), 30)

    assert answer[0] == 200
    assert (answer[1]["status"], answer[1]["status_info"]["reason_code"]) == (
        "Rejected",
        "NoCertificates",
    )
    assert (info["status"], info["complete"], info["parts"]) == ("Rejected", True, [])
    assert not ChargerEvent.objects.filter(summary="NotifyCustomerInformation").exists()


def test_clear_customer_information_and_report(api, org_a, ocpp_server):
    """TC_N_30_CSMS (clear and report, with data: the report shows the data before it
    is cleared), TC_N_31_CSMS (clear and report, no data: the same customer again,
    now forgotten) and TC_N_62_CSMS (clear and report by customerIdentifier)."""
    _charger(org_a, "CI-CLR")
    sim = _simulator(ocpp_server, "CI-CLR")
    sim.options.id_tags.append("NL-PBD-C00042")

    async def scenario() -> list[dict[str, Any]]:
        infos = []
        async with simulated(sim):
            for body in (
                {"id_tag": KNOWN_TAG, "clear": True},
                {"id_tag": KNOWN_TAG, "clear": True},
                {"customer_identifier": "NL-PBD-C00042", "clear": True},
            ):
                status, answer = await api.command("CI-CLR", "customer-information", body)
                assert (status, answer["status"]) == (200, "Accepted"), answer
                infos.append(await api.customer_information("CI-CLR", answer["request_id"]))
        return infos

    with_data, no_data, by_identifier = run(scenario(), 40)

    assert (with_data["clear"], with_data["report"], with_data["complete"]) == (True, True, True)
    assert len(with_data["parts"]) == 2
    assert with_data["data"].startswith(f"idToken {KNOWN_TAG}")
    assert (no_data["complete"], no_data["data"], len(no_data["parts"])) == (True, "", 1)
    assert by_identifier["complete"] is True
    assert by_identifier["data"].startswith("idToken NL-PBD-C00042")
    logged = CommandLog.objects.filter(command="customer-information").order_by("pk")
    assert [log.params.get("customer_identifier") for log in logged] == [
        None,
        None,
        "NL-PBD-C00042",
    ]


def test_clear_customer_information_without_report(api, org_a, ocpp_server):
    """TC_N_32_CSMS Clear Customer Information - Clear and no report: Accepted, no
    NotifyCustomerInformation, the read is complete at once; a report asked for
    afterwards finds nothing left."""
    _charger(org_a, "CI-NOREP")
    sim = _simulator(ocpp_server, "CI-NOREP")

    async def scenario() -> tuple[Any, Any, Any]:
        async with simulated(sim):
            status, cleared = await api.command(
                "CI-NOREP",
                "customer-information",
                {"id_tag": KNOWN_TAG, "report": False, "clear": True},
            )
            assert status == 200, cleared
            await asyncio.sleep(0.3)  # a report, if one came, would be here by now
            info = await api.customer_information("CI-NOREP", cleared["request_id"])
            _, later = await api.command("CI-NOREP", "customer-information", {"id_tag": KNOWN_TAG})
            later_info = await api.customer_information("CI-NOREP", later["request_id"])
            return cleared, info, later_info

    cleared, info, later_info = run(scenario(), 40)

    assert cleared["status"] == "Accepted"
    assert (info["report"], info["clear"], info["complete"], info["parts"]) == (
        False,
        True,
        True,
        [],
    )
    assert (later_info["complete"], later_info["data"]) == (True, "")
    requests = {
        e.payload["requestId"]
        for e in ChargerEvent.objects.filter(summary="NotifyCustomerInformation")
    }
    assert cleared["request_id"] not in requests


# --- signed meter values (TC_J_04, TC_J_11) -------------------------------------------

SIGNED_201 = {
    "signedMeterData": "T0NNRnx7IkZWIjoiMS4wIiwiUkQiOlt7IlJWIjoxMjM0NS42fV19fA==",
    "signingMethod": "ECDSA-secp256r1-SHA256",
    "encodingMethod": "OCMF",
    "publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEpublic",
}
SIGNED_DOMAIN = {
    "signed_meter_data": SIGNED_201["signedMeterData"],
    "signing_method": SIGNED_201["signingMethod"],
    "encoding_method": SIGNED_201["encodingMethod"],
    "public_key": SIGNED_201["publicKey"],
}


def test_signed_meter_values_are_kept_and_returned(api, org_a, ocpp_server):
    """TC_J_04_CSMS Clock-aligned Meter Values - Signed (MeterValues outside a
    transaction) and TC_J_11_CSMS Sampled Meter Values - Signed (in a transaction):
    the reading is stored with the meter's signature, and the session's meter samples
    come back with it from the API."""
    charger = _charger(org_a, "SIGN-1")
    factories.AccessPolicyFactory(zone=charger.zone)
    signed_value = {
        "value": 12345.6,
        "context": "Sample.Clock",
        "measurand": "Energy.Active.Import.Register",
        "unitOfMeasure": {"unit": "Wh"},
        "signedMeterValue": SIGNED_201,
    }

    async def talk() -> None:
        async with station(ocpp_server.url("SIGN-1"), "2.0.1", charge_point_id="SIGN-1") as cp:
            await cp.call(
                c201.MeterValues(
                    evse_id=1,
                    meter_value=[{"timestamp": now(), "sampled_value": [_snake(signed_value)]}],
                ),
                suppress=False,
            )
            sampled = {**_snake(signed_value), "context": "Sample.Periodic", "value": 12400.0}
            await cp.call(
                c201.TransactionEvent(
                    event_type="Started",
                    timestamp=now(),
                    trigger_reason="CablePluggedIn",
                    seq_no=0,
                    transaction_info={"transaction_id": "SIGNED-TX"},
                    evse={"id": 1, "connector_id": 1},
                    meter_value=[{"timestamp": now(), "sampled_value": [sampled]}],
                ),
                suppress=False,
            )

    run(talk())

    clock = MeterSample.objects.get(charger=charger, context="Sample.Clock")
    assert (clock.value, clock.session, clock.signed_data) == (
        Decimal("12345.6"),
        None,
        SIGNED_DOMAIN,
    )
    in_session = MeterSample.objects.get(charger=charger, context="Sample.Periodic")
    assert in_session.session is not None
    assert in_session.signed_data == SIGNED_DOMAIN

    async def read() -> tuple[int, Any]:
        return await api.get(f"/sessions/{in_session.session.pk}/meter-samples")

    status, samples = run(read())
    assert status == 200, samples
    assert [(s["value"], s["context"], s["signed"]) for s in samples] == [
        (12400.0, "Sample.Periodic", SIGNED_DOMAIN)
    ]


def test_signed_meter_values_16_kept_with_their_plain_reading(ocpp_server, org_a):
    """1.6 signed readings (format SignedData, e.g. OCMF): the blob is kept as the
    signature of the plain reading of the same measurand in the same meter value."""
    charger = factories.ChargerFactory(
        charge_point_id="SIGN-16", zone__property__organization=org_a, ocpp_version="1.6"
    )
    blob = "OCMF|" + json.dumps({"FV": "1.0", "RD": [{"RV": 1.234, "RU": "kWh"}]}) + "|{}"

    async def talk() -> None:
        async with station(ocpp_server.url("SIGN-16"), "1.6", charge_point_id="SIGN-16") as cp:
            await cp.call(
                c16.MeterValues(
                    connector_id=1,
                    meter_value=[
                        {
                            "timestamp": now(),
                            "sampled_value": [
                                {"value": "1234", "context": "Sample.Clock"},
                                {"value": blob, "context": "Sample.Clock", "format": "SignedData"},
                            ],
                        }
                    ],
                ),
                suppress=False,
            )

    run(talk())

    sample = MeterSample.objects.get(charger=charger)
    assert (sample.value, sample.signed_data) == (Decimal("1234"), {"signed_meter_data": blob})


def _snake(value: dict[str, Any]) -> dict[str, Any]:
    """A camelCase sampled value as the package's dataclasses take it (snake_case)."""
    from ocpp.charge_point import camel_to_snake_case

    return camel_to_snake_case(value)
