"""OCPP 1.6J end to end: an `ocpp` package charge point (which validates each of our
answers against the 1.6 schema) on a real websocket against a running daphne.
Each test names the OCA CSMS test cases (conformance/ocpp16-csms-testcases.tsv)
whose central-system side it covers."""

from __future__ import annotations

import asyncio
import sys
import types
from datetime import timedelta
from decimal import Decimal

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone
from ocpp.v16 import call as c16

from apps.access.models import IdToken
from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    Connector,
    MeterSample,
    StatusChange,
)
from tests import factories
from tests.ocpp_consumer.conftest import run, wait_for
from tests.ocpp_consumer.stations import call, connect, exchange, station


def ts(minutes_ago: float = 0) -> str:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.fixture
def charger(ocpp_server):
    charger = factories.ChargerFactory(charge_point_id="CP16")
    factories.AccessPolicyFactory(zone=charger.zone)  # public: any valid token
    return charger


@pytest.fixture
def token(charger):
    return factories.IdTokenFactory(organization=charger.zone.property.organization, uid="TAG-OK")


def _url(ocpp_server) -> str:
    return ocpp_server.url("CP16")


def test_v16_boot_accepted_and_stored(ocpp_server, charger):
    """TC_001_CSMS Cold Boot Charge Point: BootNotification answered Accepted with
    the heartbeat interval; StatusNotification per connector; Heartbeat."""

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            boot = await cp.call(
                c16.BootNotification(
                    charge_point_vendor="Alfen",
                    charge_point_model="Eve Double",
                    charge_point_serial_number="SN-1",
                    firmware_version="6.1.0",
                ),
                suppress=False,
            )
            for connector in (0, 1, 2):
                await cp.call(
                    c16.StatusNotification(
                        connector_id=connector,
                        error_code="NoError",
                        status="Available",
                        timestamp=ts(),
                    ),
                    suppress=False,
                )
            beat = await cp.call(c16.Heartbeat(), suppress=False)
            return boot, beat

    boot, beat = run(talk())
    assert boot.status == "Accepted" and boot.interval == 300
    assert beat.current_time.endswith("Z")
    charger.refresh_from_db()
    assert (charger.vendor, charger.model, charger.serial_number, charger.firmware_version) == (
        "Alfen",
        "Eve Double",
        "SN-1",
        "6.1.0",
    )
    assert charger.ocpp_version == "1.6" and charger.last_boot_at and charger.last_seen_at
    assert ChargerEvent.objects.filter(charger=charger, kind=ChargerEvent.Kind.BOOT).count() == 1
    assert sorted(charger.connectors.values_list("connector_id", "status")) == [
        (1, "available"),
        (2, "available"),
    ]
    # Connector 0 is the whole charger: history only.
    assert StatusChange.objects.filter(charger=charger, connector=None).count() == 1


def test_v16_status_history_and_error_codes(ocpp_server, charger):
    """TC_024_CSMS / TC_030_CSMS (ConnectorLockFailure reported by StatusNotification),
    TC_048_1_CSMS Faulted: status and error codes are kept as history; an offline-queued
    older status does not overwrite a newer one."""

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            for status, error, minutes_ago in [
                ("Preparing", "NoError", 3),
                ("Faulted", "ConnectorLockFailure", 2),
                ("Available", "NoError", 10),  # queued while offline: older
            ]:
                await cp.call(
                    c16.StatusNotification(
                        connector_id=1,
                        error_code=error,
                        status=status,
                        timestamp=ts(minutes_ago),
                        vendor_error_code="E42" if error != "NoError" else None,
                    ),
                    suppress=False,
                )

    run(talk())
    connector = Connector.objects.get(charger=charger, connector_id=1)
    assert connector.status == Connector.Status.FAULTED
    assert connector.error_code == "ConnectorLockFailure" and connector.vendor_error_code == "E42"
    assert list(
        StatusChange.objects.filter(connector=connector)
        .order_by("reported_at")
        .values_list("status", "error_code")
    ) == [("available", ""), ("preparing", ""), ("faulted", "ConnectorLockFailure")]


@pytest.mark.parametrize(
    ("uid", "setup", "expected"),
    [
        ("TAG-OK", None, "Accepted"),
        ("TAG-UNKNOWN", None, "Invalid"),
        ("TAG-BLOCKED", {"status": IdToken.Status.BLOCKED}, "Blocked"),
        ("TAG-EXPIRED", {"expires_at": timezone.now() - timedelta(days=1)}, "Expired"),
    ],
)
def test_v16_authorize(ocpp_server, charger, token, uid, setup, expected):
    """TC_004_1_CSMS (Accepted), TC_023_1_CSMS invalid, TC_023_2_CSMS expired,
    TC_023_3_CSMS blocked; TC_007_CSMS relies on the same answer being cached."""
    if setup is not None:
        factories.IdTokenFactory(organization=charger.zone.property.organization, uid=uid, **setup)

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            return await cp.call(c16.Authorize(id_tag=uid), suppress=False)

    assert run(talk()).id_tag_info["status"] == expected


def test_v16_authorize_outside_the_zone_policy_is_invalid(ocpp_server, charger, token):
    """1.6 has no NotAtThisLocation: a token the zone's policy refuses is Invalid."""
    charger.zone.access_policies.all().delete()

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            return await cp.call(c16.Authorize(id_tag="TAG-OK"), suppress=False)

    assert run(talk()).id_tag_info["status"] == "Invalid"


def test_v16_full_session(ocpp_server, charger, token):
    """TC_003_CSMS plugin first, TC_004_1_CSMS identification first, TC_005_1_CSMS
    EV side disconnected, TC_010_CSMS / TC_011_1_CSMS / TC_012_CSMS (the session a
    remote start/stop produces), TC_046_CSMS / TC_053_CSMS (the transaction on a
    reserved connector): Authorize, StartTransaction, MeterValues during the session,
    StopTransaction with transaction data; energy is exactly stop − start."""
    started = ts(30)

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            await cp.call(c16.Authorize(id_tag="TAG-OK"), suppress=False)
            start = await cp.call(
                c16.StartTransaction(
                    connector_id=1, id_tag="TAG-OK", meter_start=12_345, timestamp=started
                ),
                suppress=False,
            )
            tx = start.transaction_id
            await cp.call(
                c16.MeterValues(
                    connector_id=1,
                    transaction_id=tx,
                    meter_value=[
                        {
                            "timestamp": ts(15),
                            "sampledValue": [
                                {
                                    "value": "15345",
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                    "context": "Sample.Periodic",
                                },
                                {
                                    "value": "7200.5",
                                    "measurand": "Power.Active.Import",
                                    "unit": "W",
                                },
                                {
                                    "value": "10.4",
                                    "measurand": "Current.Import",
                                    "unit": "A",
                                    "phase": "L1",
                                },
                                {
                                    "value": "10.6",
                                    "measurand": "Current.Import",
                                    "unit": "A",
                                    "phase": "L2",
                                },
                                {
                                    "value": "231.2",
                                    "measurand": "Voltage",
                                    "unit": "V",
                                    "phase": "L1-N",
                                },
                                {
                                    "value": "54",
                                    "measurand": "SoC",
                                    "unit": "Percent",
                                    "location": "EV",
                                },
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            stop = await cp.call(
                c16.StopTransaction(
                    meter_stop=19_000,
                    timestamp=ts(1),
                    transaction_id=tx,
                    id_tag="TAG-OK",
                    reason="EVDisconnected",
                    transaction_data=[
                        {
                            "timestamp": ts(1),
                            "sampledValue": [{"value": "19000", "context": "Transaction.End"}],
                        }
                    ],
                ),
                suppress=False,
            )
            return start, stop

    start, stop = run(talk())
    assert start.id_tag_info["status"] == "Accepted"
    assert stop.id_tag_info["status"] == "Accepted"
    session = ChargingSession.objects.get(ocpp_transaction_id=str(start.transaction_id))
    assert session.charger == charger and session.connector.connector_id == 1
    assert session.id_token == token and session.id_tag == "TAG-OK"
    assert session.state == ChargingSession.State.COMPLETED
    assert (session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (
        12_345,
        19_000,
        6_655,
    )
    assert session.stop_reason == "ev_disconnected"
    samples = {(s.measurand, s.phase): s for s in MeterSample.objects.filter(session=session)}
    assert samples[("SoC", "")].value == Decimal("54") and samples[("SoC", "")].location == "EV"
    assert samples[("Power.Active.Import", "")].value == Decimal("7200.5")
    assert samples[("Current.Import", "L2")].unit == "A"
    assert samples[("Voltage", "L1-N")].value == Decimal("231.2")
    assert ("Energy.Active.Import.Register", "") in samples
    assert MeterSample.objects.filter(session=session, context="Transaction.End").count() == 1


def _start(tx_id_tag="TAG-OK", meter=1000, at=None, connector=1):
    return c16.StartTransaction(
        connector_id=connector, id_tag=tx_id_tag, meter_start=meter, timestamp=at or ts(5)
    )


def test_v16_start_resent_gets_same_transaction_id(ocpp_server, charger, token):
    """A StartTransaction resent after its answer was lost gets the same transaction
    id and creates one session; a later, different start gets a new, never reused id."""
    at = ts(5)

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            first = await cp.call(_start(at=at), suppress=False)
        async with station(_url(ocpp_server)) as cp:  # reconnect, resend
            again = await cp.call(_start(at=at), suppress=False)
            await cp.call(
                c16.StopTransaction(
                    meter_stop=2000, timestamp=ts(2), transaction_id=again.transaction_id
                ),
                suppress=False,
            )
            other = await cp.call(_start(meter=2000, at=ts(1)), suppress=False)
        return first, again, other

    first, again, other = run(talk())
    assert first.transaction_id == again.transaction_id
    assert other.transaction_id > first.transaction_id
    assert ChargingSession.objects.filter(charger=charger).count() == 2


def test_v16_stop_resent_changes_nothing(ocpp_server, charger, token):
    """A StopTransaction resent (after a reconnect) is answered, changes nothing and
    never double counts: the session keeps its first stop; readings are stored once."""

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            start = await cp.call(_start(meter=500), suppress=False)
            stop = c16.StopTransaction(
                meter_stop=4500,
                timestamp=ts(1),
                transaction_id=start.transaction_id,
                transaction_data=[
                    {
                        "timestamp": ts(1),
                        "sampledValue": [{"value": "4500", "context": "Transaction.End"}],
                    }
                ],
            )
            await cp.call(stop, suppress=False)
        async with station(_url(ocpp_server)) as cp:
            again = await cp.call(stop, suppress=False)
            changed = c16.StopTransaction(
                meter_stop=9999, timestamp=ts(0), transaction_id=start.transaction_id
            )
            await cp.call(changed, suppress=False)
        return start, again

    start, again = run(talk())
    assert again is not None
    session = ChargingSession.objects.get(
        charger=charger, ocpp_transaction_id=str(start.transaction_id)
    )
    assert (session.meter_stop_wh, session.energy_wh) == (4500, 4000)
    assert MeterSample.objects.filter(session=session).count() == 1


def test_v16_stop_for_another_chargers_transaction_not_applied(ocpp_server, charger, token):
    """A transaction belongs to the charger that started it: another charger that
    sends its id gets an answer (never an error: it would resend forever), and the
    session is left alone."""
    other = factories.ChargingSessionFactory(
        connector=factories.ConnectorFactory(charger=factories.ChargerFactory(zone=charger.zone)),
        ocpp_transaction_id="777",
        meter_start_wh=100,
    )

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            return await cp.call(
                c16.StopTransaction(
                    meter_stop=99_999, timestamp=ts(0), transaction_id=777, id_tag="TAG-OK"
                ),
                suppress=False,
            )

    answer = run(talk())
    assert answer.id_tag_info["status"] == "Accepted"
    other.refresh_from_db()
    assert other.state == ChargingSession.State.ACTIVE and other.meter_stop_wh is None


def test_v16_invalid_tag_start_recorded_but_answered_invalid(ocpp_server, charger):
    """TC_037_3_CSMS Offline start with an invalid id tag: the transaction is recorded
    (energy may already flow), answered Invalid; its stop is accepted."""

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            start = await cp.call(_start(tx_id_tag="TAG-NOPE", meter=0, at=ts(20)), suppress=False)
            stop = await cp.call(
                c16.StopTransaction(
                    meter_stop=150,
                    timestamp=ts(19),
                    transaction_id=start.transaction_id,
                    reason="DeAuthorized",
                ),
                suppress=False,
            )
            return start, stop

    start, stop = run(talk())
    assert start.id_tag_info["status"] == "Invalid"
    session = ChargingSession.objects.get(ocpp_transaction_id=str(start.transaction_id))
    assert session.id_token is None and session.energy_wh == 150
    assert session.stop_reason == "de_authorized"


def test_v16_offline_transaction_keeps_charger_timestamps(ocpp_server, charger, token):
    """TC_037_1_CSMS offline start with a valid tag, TC_039_CSMS offline transaction:
    messages queued while offline arrive later with old timestamps and are stored at
    those timestamps."""
    start_at, mid_at, stop_at = ts(180), ts(150), ts(120)

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            start = await cp.call(_start(meter=10_000, at=start_at), suppress=False)
            await cp.call(
                c16.MeterValues(
                    connector_id=1,
                    transaction_id=start.transaction_id,
                    meter_value=[{"timestamp": mid_at, "sampledValue": [{"value": "11000"}]}],
                ),
                suppress=False,
            )
            await cp.call(
                c16.StopTransaction(
                    meter_stop=12_000, timestamp=stop_at, transaction_id=start.transaction_id
                ),
                suppress=False,
            )
            return start

    start = run(talk())
    session = ChargingSession.objects.get(ocpp_transaction_id=str(start.transaction_id))
    assert session.started_at.isoformat().startswith(start_at[:19])
    assert session.stopped_at.isoformat().startswith(stop_at[:19])
    sample = MeterSample.objects.get(session=session)
    assert sample.sampled_at.isoformat().startswith(mid_at[:19])
    assert session.energy_wh == 2000


def test_v16_power_failure_stop_after_reboot(ocpp_server, charger, token):
    """TC_032_1_CSMS: after a power failure the charger boots and stops the running
    transaction with reason PowerLoss."""

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            start = await cp.call(_start(meter=0, at=ts(60)), suppress=False)
        async with station(_url(ocpp_server)) as cp:
            await cp.call(
                c16.BootNotification(charge_point_vendor="V", charge_point_model="M"),
                suppress=False,
            )
            await cp.call(
                c16.StopTransaction(
                    meter_stop=3000,
                    timestamp=ts(30),
                    transaction_id=start.transaction_id,
                    reason="PowerLoss",
                ),
                suppress=False,
            )
            return start

    start = run(talk())
    session = ChargingSession.objects.get(ocpp_transaction_id=str(start.transaction_id))
    assert session.stop_reason == "power_loss" and session.energy_wh == 3000


def test_v16_clock_aligned_meter_values_without_transaction(ocpp_server, charger):
    """Meter values outside a transaction (clock-aligned, connector 0 = main meter)."""

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            await cp.call(
                c16.MeterValues(
                    connector_id=0,
                    meter_value=[
                        {
                            "timestamp": ts(5),
                            "sampledValue": [
                                {"value": "1.5", "unit": "kWh", "context": "Sample.Clock"}
                            ],
                        }
                    ],
                ),
                suppress=False,
            )

    run(talk())
    sample = MeterSample.objects.get(charger=charger)
    assert (sample.session, sample.connector_id, sample.value, sample.unit) == (
        None,
        0,
        Decimal("1.5"),
        "kWh",
    )


def test_v16_notifications_stored_and_acknowledged(ocpp_server, charger):
    """TC_044_1/2/3_CSMS firmware status, TC_045_1/2_CSMS diagnostics status,
    TC_077_CSMS / TC_078_CSMS security events, TC_079_CSMS log status (inbound side):
    each stored as a charger event before it is acknowledged."""

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            for status in (
                "Downloading",
                "Downloaded",
                "Installing",
                "Installed",
                "DownloadFailed",
                "InstallationFailed",
            ):
                await cp.call(c16.FirmwareStatusNotification(status=status), suppress=False)
            for status in ("Uploading", "Uploaded", "UploadFailed"):
                await cp.call(c16.DiagnosticsStatusNotification(status=status), suppress=False)
            await cp.call(
                c16.SecurityEventNotification(
                    type="InvalidCentralSystemCertificate", timestamp=ts(1), tech_info="x"
                ),
                suppress=False,
            )
            await cp.call(
                c16.LogStatusNotification(status="Uploaded", request_id=3), suppress=False
            )
            await cp.call(
                c16.SignedFirmwareStatusNotification(status="SignatureVerified", request_id=4),
                suppress=False,
            )

    run(talk())
    kinds = list(
        ChargerEvent.objects.filter(charger=charger)
        .exclude(kind="connection")
        .values_list("kind", flat=True)
    )
    assert kinds.count(ChargerEvent.Kind.FIRMWARE_STATUS) == 7
    assert kinds.count(ChargerEvent.Kind.DIAGNOSTICS_STATUS) == 4
    security = ChargerEvent.objects.get(charger=charger, kind=ChargerEvent.Kind.SECURITY_EVENT)
    assert security.payload["type"] == "InvalidCentralSystemCertificate"
    assert security.reported_at is not None


def test_v16_data_transfer_unknown_vendor(ocpp_server, charger):
    """Data transfer from the charger: kept verbatim, answered UnknownVendorId."""

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            return await cp.call(
                c16.DataTransfer(
                    vendor_id="com.example", message_id="Hello", data='{"someKey": 1}'
                ),
                suppress=False,
            )

    assert run(talk()).status == "UnknownVendorId"
    event = ChargerEvent.objects.get(charger=charger, kind=ChargerEvent.Kind.DATA_TRANSFER)
    assert event.payload == {
        "vendor_id": "com.example",
        "message_id": "Hello",
        "data": '{"someKey": 1}',
    }


def test_v16_pending_charger_may_not_start(ocpp_server, charger):
    """A charger answered Pending may not start a transaction (SecurityError, nothing
    recorded); its status reports are still stored."""
    Charger.objects.filter(pk=charger.pk).update(registration=Charger.Registration.PENDING)

    async def talk():
        async with connect(_url(ocpp_server)) as ws:
            boot = await call(
                ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
            )
            start = await call(
                ws,
                "StartTransaction",
                {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": ts()},
            )
            status = await call(
                ws,
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
            )
            return boot, start, status

    boot, start, status = run(talk())
    assert boot[2]["status"] == "Pending" and boot[2]["interval"] == 60
    assert start[0] == 4 and start[2] == "SecurityError"
    assert status[0] == 3
    assert not ChargingSession.objects.exists()


def test_v16_retransmitted_frame_same_message_id(ocpp_server, charger, token):
    """The same StartTransaction frame (same message id) sent twice, as a charger
    does when it did not see the answer: the same answer, one session."""
    frame = [
        2,
        "start-1",
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 7, "timestamp": ts(3)},
    ]

    async def talk():
        async with connect(_url(ocpp_server)) as ws:
            return await exchange(ws, frame), await exchange(ws, frame)

    first, second = run(talk())
    assert first == second
    assert ChargingSession.objects.count() == 1


@pytest.fixture
def fake_commands(monkeypatch):
    """A stand-in for apps/ocpp_consumer/commands.py's execute(): sends Reset and
    returns the answer, or makes the failure the test asks for."""

    async def execute(cp, ocpp_version, command, params):
        if command == "bad":
            raise ValueError("type must be Soft or Hard")
        if command == "silent":
            cp._response_timeout = 0.5
            await cp.call(c16.ClearCache(), suppress=False)
        if command == "refused":
            await cp.call(c16.ClearCache(), suppress=False)
        answer = await cp.call(c16.Reset(type=params["type"]), suppress=False)
        return {"status": answer.status, "version": ocpp_version}

    module = types.ModuleType("apps.ocpp_consumer.commands")
    module.execute = execute
    monkeypatch.setitem(sys.modules, "apps.ocpp_consumer.commands", module)


def _command(ocpp_server, channel: str, command: str, params: dict):
    async def send():
        layer = get_channel_layer()
        reply = await layer.new_channel()
        await layer.send(
            channel,
            {
                "type": "ocpp.command",
                "command_id": 42,
                "command": command,
                "params": params,
                "reply_channel": reply,
            },
        )
        return await asyncio.wait_for(layer.receive(reply), 10)

    return ocpp_server.on_server_loop(send(), timeout=15)


def test_v16_command_over_channel_layer(ocpp_server, charger, fake_commands):
    """TC_013_CSMS / TC_014_CSMS (the transport): a command message on the channel
    layer reaches the consumer holding the socket, the charger's answer goes back to
    the reply channel; a charger that never answers is a "timeout", one that answers
    CALLERROR a "call_error", bad parameters "bad_request"."""

    async def talk():
        async with station(_url(ocpp_server)) as cp:
            await cp.call(c16.Heartbeat(), suppress=False)
            channel = await asyncio.to_thread(
                lambda: Charger.objects.get(pk=charger.pk).channel_name
            )
            ok = await asyncio.to_thread(_command, ocpp_server, channel, "reset", {"type": "Soft"})
            refused = await asyncio.to_thread(
                _command, ocpp_server, channel, "refused", {"type": "Soft"}
            )
            bad = await asyncio.to_thread(_command, ocpp_server, channel, "bad", {})
        # A bare socket that never answers what it is sent.
        async with connect(_url(ocpp_server)) as ws:
            # The server records the new socket just after accepting it.
            first = channel
            channel = await asyncio.to_thread(
                wait_for,
                lambda: (c := Charger.objects.get(pk=charger.pk).channel_name) != first and c,
            )
            silent = await asyncio.to_thread(
                _command, ocpp_server, channel, "silent", {"type": "Soft"}
            )
            assert ws.state.name == "OPEN"
        return ok, refused, bad, silent

    ok, refused, bad, silent = run(talk())
    assert ok == {
        "type": "ocpp.command.result",
        "command_id": 42,
        "ok": True,
        "result": {"status": "Accepted", "version": "1.6"},
    }
    assert refused["ok"] is False and refused["error"] == "call_error"
    assert bad["ok"] is False and bad["error"] == "bad_request" and "Soft or Hard" in bad["message"]
    assert silent["ok"] is False and silent["error"] == "timeout"


def test_v16_stop_with_unreadable_reading_writes_nothing(ocpp_server, charger, token):
    """A StopTransaction whose transaction data holds a value that is no number is
    refused as a whole (PropertyConstraintViolation): the session is not half
    stopped, and the connection goes on."""

    async def talk():
        async with connect(_url(ocpp_server)) as ws:
            start = await call(
                ws,
                "StartTransaction",
                {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": ts(5)},
            )
            stop = await call(
                ws,
                "StopTransaction",
                {
                    "transactionId": start[2]["transactionId"],
                    "meterStop": 10,
                    "timestamp": ts(1),
                    "transactionData": [{"timestamp": ts(1), "sampledValue": [{"value": "ten"}]}],
                },
            )
            beat = await call(ws, "Heartbeat", {})
            return stop, beat

    stop, beat = run(talk())
    assert stop[0] == 4 and stop[2] == "PropertyConstraintViolation"
    assert beat[0] == 3
    session = ChargingSession.objects.get(charger=charger)
    assert session.state == ChargingSession.State.ACTIVE and session.meter_stop_wh is None


def test_v16_token_group_parent_id_tag_and_stop_by_the_group(ocpp_server, charger):
    """TC_053_CSMS Use a reserved Connector with parentIdTag (the CSMS's side: the
    idTagInfo of Authorize and StartTransaction carries the tag's parentIdTag, so
    the charge point can match a reservation made for the group), and a tag of the
    same group stopping the session (1.6: same parentIdTag may stop), accepted even
    where the zone's policy no longer admits it."""
    org = charger.zone.property.organization
    head = factories.IdTokenFactory(organization=org, uid="HOUSE-1")
    factories.IdTokenFactory(organization=org, uid="HOUSE-1-A", group=head)
    factories.IdTokenFactory(organization=org, uid="HOUSE-1-B", group=head)
    factories.IdTokenFactory(organization=org, uid="LONER")

    async def start():
        async with station(_url(ocpp_server)) as cp:
            authorized = await cp.call(c16.Authorize(id_tag="HOUSE-1-A"), suppress=False)
            loner = await cp.call(c16.Authorize(id_tag="LONER"), suppress=False)
            started = await cp.call(
                c16.StartTransaction(
                    connector_id=1, id_tag="HOUSE-1-A", meter_start=1_000, timestamp=ts(20)
                ),
                suppress=False,
            )
            return authorized, loner, started

    authorized, loner, started = run(start())
    assert authorized.id_tag_info == {"status": "Accepted", "parent_id_tag": "HOUSE-1"}
    assert loner.id_tag_info == {"status": "Accepted"}  # in no group: no parentIdTag
    assert started.id_tag_info == {"status": "Accepted", "parent_id_tag": "HOUSE-1"}

    # The zone stops admitting anyone: a sibling card still ends the household's session.
    charger.zone.access_policies.all().delete()

    async def stop():
        async with station(_url(ocpp_server)) as cp:
            return await cp.call(
                c16.StopTransaction(
                    meter_stop=3_000,
                    timestamp=ts(1),
                    transaction_id=started.transaction_id,
                    id_tag="HOUSE-1-B",
                ),
                suppress=False,
            )

    stopped = run(stop())
    assert stopped.id_tag_info == {"status": "Accepted", "parent_id_tag": "HOUSE-1"}
    session = ChargingSession.objects.get(ocpp_transaction_id=str(started.transaction_id))
    assert session.state == ChargingSession.State.COMPLETED
    assert session.id_tag == "HOUSE-1-A"  # the starter stays the session's tag
    assert session.meter_stop_wh == 3_000
