"""End to end: what an OCPP 1.6 charger reports on a real websocket is what the REST
API of the same running daphne shows: presence, and the connector's session in
progress with its energy so far, power and the vehicle's state of charge."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from ocpp.v16 import call as c16

from apps.chargers.models import ChargingSession
from apps.sites.services import api_token_create
from tests import factories
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.stations import station


def ts(minutes_ago: float = 0) -> str:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.fixture
def charger(ocpp_server, org_a):
    charger = factories.ChargerFactory(
        charge_point_id="LIVE16", zone__property__organization=org_a, ocpp_version="1.6"
    )
    factories.AccessPolicyFactory(zone=charger.zone)  # public: any valid token
    factories.IdTokenFactory(organization=org_a, uid="TAG-LIVE")
    return charger


@pytest.fixture
def token(ocpp_server, manager_a) -> str:
    _, raw = api_token_create(user=manager_a, name="e2e")
    return raw


def _get(url: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (a URL we built: http://127.0.0.1)
        url, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def _meter_values(tx: int) -> c16.MeterValues:
    return c16.MeterValues(
        connector_id=1,
        transaction_id=tx,
        meter_value=[
            {
                "timestamp": ts(10),
                "sampledValue": [
                    {"value": "13.0", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                    {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"},
                    {"value": "48", "measurand": "SoC", "unit": "Percent", "location": "EV"},
                ],
            },
            {
                "timestamp": ts(2),
                "sampledValue": [
                    {
                        "value": "14.2085",
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "kWh",
                    },
                    {
                        "value": "3.65",
                        "measurand": "Power.Active.Import",
                        "unit": "kW",
                        "phase": "L1",
                    },
                    {
                        "value": "3.61",
                        "measurand": "Power.Active.Import",
                        "unit": "kW",
                        "phase": "L2",
                    },
                    {
                        "value": "3.64",
                        "measurand": "Power.Active.Import",
                        "unit": "kW",
                        "phase": "L3",
                    },
                    {"value": "52", "measurand": "SoC", "unit": "Percent", "location": "EV"},
                ],
            },
        ],
    )


def test_v16_meter_values_show_in_the_api_detail_and_sessions(
    ocpp_server, charger, token, client, manager_a
):
    """TC_003_CSMS's MeterValues during a transaction, seen through the REST API."""
    base = f"http://127.0.0.1:{ocpp_server.port}"
    detail = reverse("api:charger_get", kwargs={"charge_point_id": "LIVE16"})

    async def talk() -> tuple[int, dict[str, Any]]:
        async with station(ocpp_server.url("LIVE16"), charge_point_id="LIVE16") as cp:
            await cp.call(
                c16.StatusNotification(connector_id=1, error_code="NoError", status="Charging"),
                suppress=False,
            )
            start = await cp.call(
                c16.StartTransaction(
                    connector_id=1, id_tag="TAG-LIVE", meter_start=12_345, timestamp=ts(20)
                ),
                suppress=False,
            )
            await cp.call(_meter_values(start.transaction_id), suppress=False)
            # Asked of the same server while the charger is still connected.
            status, body = await asyncio.to_thread(_get, base + detail, token)
            return start.transaction_id, {"status": status, "body": body}

    tx, answer = run(talk())

    assert answer["status"] == 200
    live = answer["body"]
    assert live["online"] is True
    assert live["last_heartbeat"] is not None  # the connection counts as heard from
    (connector,) = live["connectors"]
    assert connector["status"] == "charging"
    session_id = connector["current_session"]["id"]
    assert connector["current_session"] == {
        "id": session_id,
        # 14208.5 Wh rounds to 14209; minus the start reading 12345.
        "energy_kwh": 1.864,
        "soc_percent": 52.0,
        "power_kw": 10.9,  # 3.65 + 3.61 + 3.64 kW, the latest instant
    }

    # The socket is closed now: offline, and the session is still in progress.
    after = client.get(detail, HTTP_AUTHORIZATION=f"Bearer {token}").json()
    sessions = client.get(
        reverse("api:session_list"), {"charger": "LIVE16"}, HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    assert after["online"] is False
    assert after["connectors"][0]["current_session"]["energy_kwh"] == 1.864
    assert [(s["id"], s["status"], s["energy_kwh"]) for s in sessions] == [
        (session_id, "active", 1.864)
    ]
    assert sessions[0]["meter_start_wh"] == 12_345
    assert sessions[0]["id_tag"] == "TAG-LIVE"
    # The session shown is the transaction the charger was given.
    assert ChargingSession.objects.get(pk=session_id).ocpp_transaction_id == str(tx)
