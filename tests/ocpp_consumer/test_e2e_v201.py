"""OCPP 2.0.1 end to end: an `ocpp` package charging station (validating each of our
answers against the 2.0.1 schema) on a real websocket against a running daphne.
Each test names the OCA CSMS test cases (conformance/ocpp201-csms-testcases.tsv)
whose central-system side it covers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from ocpp.v201 import call as c201

from apps.access.models import IdToken
from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    Connector,
    MeterSample,
    SessionEvent,
    StatusChange,
)
from apps.ocpp_consumer import mappers
from tests import factories
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.stations import call, connect, station


def ts(minutes_ago: float = 0) -> str:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def charger(ocpp_server):
    charger = factories.ChargerFactory(
        charge_point_id="CS201", ocpp_version=Charger.OcppVersion.V201
    )
    factories.AccessPolicyFactory(zone=charger.zone)
    return charger


@pytest.fixture
def token(charger):
    return factories.IdTokenFactory(organization=charger.zone.property.organization, uid="TOK-OK")


def _url(ocpp_server) -> str:
    return ocpp_server.url("CS201")


BOOT = c201.BootNotification(
    charging_station={
        "model": "Terra AC",
        "vendor_name": "ABB",
        "serial_number": "SN-201",
        "firmware_version": "2.3",
    },
    reason="PowerUp",
)


def _id_token(uid: str = "TOK-OK") -> dict:
    return {"id_token": uid, "type": "ISO14443"}


def _energy(value: float, context: str, minutes_ago: float = 0, **extra) -> dict:
    return {
        "timestamp": ts(minutes_ago),
        "sampled_value": [{"value": value, "context": context, **extra}],
    }


def _event(event_type, seq_no, tx="TX-1", minutes_ago=0.0, trigger="Authorized", **kw):
    info = {"transaction_id": tx}
    info.update(kw.pop("info", {}))
    return c201.TransactionEvent(
        event_type=event_type,
        timestamp=ts(minutes_ago),
        trigger_reason=trigger,
        seq_no=seq_no,
        transaction_info=info,
        **kw,
    )


def test_v201_boot_accepted(ocpp_server, charger):
    """TC_B_01_CSMS Cold Boot Charging Station - Accepted: BootNotification, then
    StatusNotification per connector, then Heartbeat."""

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            boot = await cp.call(BOOT, suppress=False)
            await cp.call(
                c201.StatusNotification(
                    timestamp=ts(), connector_status="Available", evse_id=1, connector_id=1
                ),
                suppress=False,
            )
            beat = await cp.call(c201.Heartbeat(), suppress=False)
            return boot, beat

    boot, beat = run(talk())
    assert boot.status == "Accepted" and boot.interval == 300
    assert beat.current_time
    charger.refresh_from_db()
    assert (charger.vendor, charger.model, charger.serial_number, charger.firmware_version) == (
        "ABB",
        "Terra AC",
        "SN-201",
        "2.3",
    )
    assert charger.connectors.get().status == Connector.Status.AVAILABLE
    boot_event = ChargerEvent.objects.get(charger=charger, kind=ChargerEvent.Kind.BOOT)
    assert boot_event.payload["reason"] == "PowerUp"


def test_v201_pending_boot_and_security_error(ocpp_server, charger):
    """TC_B_02_CSMS Pending, TC_B_30_CSMS Pending - SecurityError: a pending station
    is answered Pending; any other message but a security event gets SecurityError
    until it is accepted; after approval its next boot is Accepted."""
    Charger.objects.filter(pk=charger.pk).update(registration=Charger.Registration.PENDING)

    async def pending():
        async with connect(_url(ocpp_server), "ocpp2.0.1") as ws:
            boot = await call(
                ws,
                "BootNotification",
                {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
            )
            beat = await call(ws, "Heartbeat", {})
            event = await call(
                ws,
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": ts(),
                    "triggerReason": "Authorized",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": "X"},
                },
            )
            security = await call(
                ws, "SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": ts()}
            )
            return boot, beat, event, security

    boot, beat, event, security = run(pending())
    assert boot[2]["status"] == "Pending" and boot[2]["interval"] == 60
    assert beat[0] == 4 and beat[2] == "SecurityError"
    assert event[0] == 4 and event[2] == "SecurityError"
    assert security[0] == 3
    assert not ChargingSession.objects.exists()

    Charger.objects.filter(pk=charger.pk).update(registration=Charger.Registration.ACCEPTED)

    async def approved():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            return await cp.call(BOOT, suppress=False), await cp.call(
                c201.Heartbeat(), suppress=False
            )

    boot, beat = run(approved())
    assert boot.status == "Accepted" and beat.current_time


@pytest.mark.parametrize(
    ("uid", "setup", "expected"),
    [
        ("TOK-OK", None, "Accepted"),
        ("TOK-UNKNOWN", None, "Invalid"),
        ("TOK-BLOCKED", {"status": IdToken.Status.BLOCKED}, "Blocked"),
        ("TOK-EXPIRED", {"expires_at": timezone.now() - timedelta(days=1)}, "Expired"),
    ],
)
def test_v201_authorize(ocpp_server, charger, token, uid, setup, expected):
    """TC_C_02_CSMS invalid/unknown, TC_C_06_CSMS blocked, TC_C_07_CSMS expired,
    TC_E_04_CSMS / TC_C_08_CSMS accepted (and cached by the station)."""
    if setup is not None:
        factories.IdTokenFactory(organization=charger.zone.property.organization, uid=uid, **setup)

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            return await cp.call(c201.Authorize(id_token=_id_token(uid)), suppress=False)

    assert run(talk()).id_token_info["status"] == expected


def test_v201_authorize_not_at_this_location(ocpp_server, charger, token):
    """2.0.1 says why: a token the zone's policies refuse is NotAtThisLocation."""
    charger.zone.access_policies.all().delete()

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            return await cp.call(c201.Authorize(id_token=_id_token()), suppress=False)

    assert run(talk()).id_token_info["status"] == "NotAtThisLocation"


def test_v201_session_started_updated_ended(ocpp_server, charger, token):
    """TC_E_03_CSMS cable plugin first, TC_E_04_CSMS authorization first, TC_E_09_CSMS
    EVConnected, TC_E_01/02_CSMS, TC_E_15_CSMS StopAuthorized, TC_E_14/20_CSMS
    EVDisconnected, TC_J_07_CSMS Started with meter values, TC_J_09_CSMS Updated,
    TC_J_10_CSMS Ended, TC_F_01/02/03_CSMS (the session a remote start produces):
    the session, every sample, energy exactly end − begin."""

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            started = await cp.call(
                _event(
                    "Started",
                    0,
                    minutes_ago=30,
                    trigger="CablePluggedIn",
                    evse={"id": 1, "connector_id": 1},
                    info={"charging_state": "EVConnected"},
                    meter_value=[_energy(10_000, "Transaction.Begin", 30)],
                ),
                suppress=False,
            )
            updated = await cp.call(
                _event(
                    "Updated",
                    1,
                    minutes_ago=29,
                    trigger="Authorized",
                    id_token=_id_token(),
                    info={"charging_state": "Charging"},
                ),
                suppress=False,
            )
            await cp.call(
                _event(
                    "Updated",
                    2,
                    minutes_ago=15,
                    trigger="MeterValuePeriodic",
                    meter_value=[
                        {
                            "timestamp": ts(15),
                            "sampled_value": [
                                {
                                    "value": 12.5,
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit_of_measure": {"unit": "kWh"},
                                },
                                {
                                    "value": 7.2,
                                    "measurand": "Power.Active.Import",
                                    "unit_of_measure": {"unit": "W", "multiplier": 3},
                                },
                                {
                                    "value": 61,
                                    "measurand": "SoC",
                                    "unit_of_measure": {"unit": "Percent"},
                                },
                                {
                                    "value": 16.1,
                                    "measurand": "Current.Import",
                                    "phase": "L3",
                                    "unit_of_measure": {"unit": "A"},
                                },
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            ended = await cp.call(
                _event(
                    "Ended",
                    3,
                    minutes_ago=1,
                    trigger="StopAuthorized",
                    id_token=_id_token(),
                    info={"stopped_reason": "Local", "charging_state": "Idle"},
                    meter_value=[_energy(15_250, "Transaction.End", 1)],
                ),
                suppress=False,
            )
            return started, updated, ended

    started, updated, ended = run(talk())
    assert started.id_token_info is None
    assert updated.id_token_info["status"] == "Accepted"
    assert ended.id_token_info["status"] == "Accepted"
    session = ChargingSession.objects.get(charger=charger, ocpp_transaction_id="TX-1")
    assert session.connector.connector_id == 1 and session.id_token == token
    assert (session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (
        10_000,
        15_250,
        5_250,
    )
    assert session.state == ChargingSession.State.COMPLETED and session.stop_reason == "local"
    assert session.last_seq_no == 3 and not session.had_offline_events
    assert list(session.events.order_by("seq_no").values_list("kind", "trigger")) == [
        ("started", "cable_plugged_in"),
        ("updated", "authorized"),
        ("updated", "meter_value_periodic"),
        ("ended", "stop_authorized"),
    ]
    samples = {s.measurand: s for s in MeterSample.objects.filter(session=session, context="")}
    assert (
        samples["Power.Active.Import"].value == Decimal("7200")
        and samples["Power.Active.Import"].unit == "W"
    )
    assert samples["SoC"].value == Decimal("61")
    assert samples["Energy.Active.Import.Register"].unit == "kWh"
    assert MeterSample.objects.get(session=session, phase="L3").value == Decimal("16.1")


def test_v201_ended_resent_is_idempotent(ocpp_server, charger, token):
    """TC_E_31_CSMS-style replay after a reconnect: the same Ended (same seqNo) sent
    again is acknowledged, changes nothing and counts nothing twice."""
    ended = _event(
        "Ended",
        1,
        minutes_ago=1,
        trigger="EVCommunicationLost",
        info={"stopped_reason": "EVDisconnected"},
        meter_value=[_energy(2_000, "Transaction.End", 1)],
    )

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            await cp.call(
                _event(
                    "Started",
                    0,
                    minutes_ago=10,
                    evse={"id": 1},
                    id_token=_id_token(),
                    meter_value=[_energy(500, "Transaction.Begin", 10)],
                ),
                suppress=False,
            )
            await cp.call(ended, suppress=False)
        async with station(_url(ocpp_server), "2.0.1") as cp:
            return await cp.call(ended, suppress=False)

    again = run(talk())
    assert again.id_token_info is None
    session = ChargingSession.objects.get(ocpp_transaction_id="TX-1")
    assert session.energy_wh == 1_500
    assert session.events.count() == 2
    assert MeterSample.objects.filter(session=session).count() == 2


def test_v201_offline_events_with_gap_and_late_started(ocpp_server, charger, token):
    """TC_E_29/30/33_CSMS (messages queued while offline), TC_J_08_CSMS (EVSE given
    only later): offline events keep their own timestamps, are flagged, and an Updated
    that arrives before its Started (lost) still creates the session — a
    TransactionEvent is never rejected."""

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            await cp.call(
                _event(
                    "Updated",
                    2,
                    tx="TX-OFF",
                    minutes_ago=90,
                    trigger="MeterValuePeriodic",
                    offline=True,
                    evse={"id": 2},
                    meter_value=[_energy(3_000, "Sample.Periodic", 90)],
                ),
                suppress=False,
            )
            await cp.call(
                _event(
                    "Ended",
                    3,
                    tx="TX-OFF",
                    minutes_ago=80,
                    trigger="EVDeparted",
                    offline=True,
                    info={"stopped_reason": "EVDisconnected"},
                    meter_value=[_energy(4_000, "Transaction.End", 80)],
                ),
                suppress=False,
            )

    run(talk())
    session = ChargingSession.objects.get(ocpp_transaction_id="TX-OFF")
    assert session.had_offline_events and session.last_seq_no == 3
    assert session.connector.connector_id == 2
    # No begin reading was ever reported: the energy stays unknown, never invented.
    assert session.meter_start_wh is None and session.meter_stop_wh == 4_000
    assert session.energy_wh is None
    assert session.state == ChargingSession.State.COMPLETED
    stamps = sorted(
        MeterSample.objects.filter(session=session).values_list("sampled_at", flat=True)
    )
    assert (timezone.now() - stamps[0]) > timedelta(minutes=85)
    assert SessionEvent.objects.filter(session=session, offline=True).count() == 2


def test_v201_seq_no_restarts_at_zero_per_transaction(ocpp_server, charger, token):
    """TC_E_53_CSMS: seqNo 0 at the start of each transaction is accepted."""

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            for tx in ("TX-A", "TX-B"):
                await cp.call(
                    _event(
                        "Started",
                        0,
                        tx=tx,
                        evse={"id": 1},
                        meter_value=[_energy(0, "Transaction.Begin")],
                    ),
                    suppress=False,
                )
                await cp.call(
                    _event("Ended", 1, tx=tx, meter_value=[_energy(100, "Transaction.End")]),
                    suppress=False,
                )

    run(talk())
    assert sorted(ChargingSession.objects.values_list("ocpp_transaction_id", "energy_wh")) == [
        ("TX-A", 100),
        ("TX-B", 100),
    ]


def test_v201_meter_values_outside_transaction(ocpp_server, charger):
    """TC_J_01_CSMS clock-aligned meter values without a transaction; TC_F_11/12_CSMS
    (the MeterValues a trigger produces)."""

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            await cp.call(
                c201.MeterValues(
                    evse_id=0,
                    meter_value=[
                        _energy(
                            123_456, "Sample.Clock", 5, measurand="Energy.Active.Import.Register"
                        )
                    ],
                ),
                suppress=False,
            )

    run(talk())
    sample = MeterSample.objects.get(charger=charger)
    assert (sample.session, sample.connector_id, sample.value, sample.unit) == (
        None,
        0,
        Decimal("123456"),
        "Wh",
    )


def test_v201_status_notification_history(ocpp_server, charger):
    """TC_G_20_CSMS (status after a lock failure), TC_F_23/24_CSMS (the
    StatusNotification a trigger produces): kept as history."""

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            for status, minutes_ago in (("Occupied", 5), ("Faulted", 4), ("Available", 1)):
                await cp.call(
                    c201.StatusNotification(
                        timestamp=ts(minutes_ago),
                        connector_status=status,
                        evse_id=1,
                        connector_id=1,
                    ),
                    suppress=False,
                )

    run(talk())
    assert charger.connectors.get().status == Connector.Status.AVAILABLE
    assert StatusChange.objects.filter(charger=charger).count() == 3


def test_v201_notifications_stored_and_acknowledged(ocpp_server, charger):
    """TC_B_12_CSMS / TC_B_13_CSMS (NotifyReport of a base report), TC_N_25_CSMS /
    TC_N_35_CSMS (LogStatusNotification), TC_L_01..L_11_CSMS (FirmwareStatusNotification),
    TC_A_09_CSMS-style security events, NotifyEvent, TC_P_02_CSMS DataTransfer
    (UnknownVendorId), TC_P_03_CSMS customData accepted."""

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            await cp.call(
                c201.NotifyReport(
                    request_id=7,
                    generated_at=ts(),
                    seq_no=0,
                    tbc=False,
                    report_data=[
                        {
                            "component": {"name": "ChargingStation"},
                            "variable": {"name": "Model"},
                            "variable_attribute": [{"value": "Terra AC"}],
                        }
                    ],
                ),
                suppress=False,
            )
            await cp.call(
                c201.NotifyEvent(
                    generated_at=ts(),
                    seq_no=0,
                    event_data=[
                        {
                            "event_id": 1,
                            "timestamp": ts(),
                            "trigger": "Delta",
                            "actual_value": "Faulted",
                            "event_notification_type": "HardWiredNotification",
                            "component": {"name": "Connector"},
                            "variable": {"name": "AvailabilityState"},
                        }
                    ],
                ),
                suppress=False,
            )
            for status in ("Uploading", "Uploaded"):
                await cp.call(
                    c201.LogStatusNotification(status=status, request_id=3), suppress=False
                )
            for status in ("Downloading", "Installed"):
                await cp.call(
                    c201.FirmwareStatusNotification(status=status, request_id=4), suppress=False
                )
            await cp.call(
                c201.SecurityEventNotification(type="SettingSystemTime", timestamp=ts()),
                suppress=False,
            )
            await cp.call(
                c201.ReservationStatusUpdate(reservation_id=5, reservation_update_status="Expired"),
                suppress=False,
            )
            transfer = await cp.call(
                c201.DataTransfer(
                    vendor_id="com.example",
                    message_id="m",
                    data={"anyKey": [1, 2]},
                    custom_data={"vendorId": "com.example", "extra": 1},
                ),
                suppress=False,
            )
            beat = await cp.call(
                c201.Heartbeat(custom_data={"vendorId": "com.example"}), suppress=False
            )
            return transfer, beat

    transfer, beat = run(talk())
    assert transfer.status == "UnknownVendorId" and beat.current_time
    kinds = list(
        ChargerEvent.objects.filter(charger=charger)
        .exclude(kind="connection")
        .values_list("kind", flat=True)
    )
    for kind, count in [
        (ChargerEvent.Kind.NOTIFY_REPORT, 1),
        (ChargerEvent.Kind.NOTIFY_EVENT, 1),
        (ChargerEvent.Kind.DIAGNOSTICS_STATUS, 2),
        (ChargerEvent.Kind.FIRMWARE_STATUS, 2),
        (ChargerEvent.Kind.SECURITY_EVENT, 1),
        (ChargerEvent.Kind.OTHER, 1),
        (ChargerEvent.Kind.DATA_TRANSFER, 1),
    ]:
        assert kinds.count(kind) == count, kind
    report = ChargerEvent.objects.get(charger=charger, kind=ChargerEvent.Kind.NOTIFY_REPORT)
    # Kept as the station sent it (camelCase), not as the package rewrote it.
    assert report.payload["reportData"][0]["variableAttribute"] == [{"value": "Terra AC"}]
    transfer_event = ChargerEvent.objects.get(charger=charger, kind=ChargerEvent.Kind.DATA_TRANSFER)
    assert transfer_event.payload["data"] == {"anyKey": [1, 2]}
    event = ChargerEvent.objects.get(charger=charger, kind=ChargerEvent.Kind.NOTIFY_EVENT)
    assert "AvailabilityState = Faulted" in event.summary


# (OCA case, Started trigger, Ended trigger, stoppedReason): the start and stop
# options a station may be configured with. The central system's part is the same
# for each (store, answer, never reject); each is played through once.
START_STOP_OPTIONS = [
    ("TC_E_01_CSMS", "ChargingStateChanged", "StopAuthorized", "Local"),
    ("TC_E_02_CSMS", "ChargingStateChanged", "StopAuthorized", "Local"),
    ("TC_E_09_CSMS", "CablePluggedIn", "EVCommunicationLost", "EVDisconnected"),
    ("TC_E_10_CSMS", "Authorized", "StopAuthorized", "Local"),
    ("TC_E_11_CSMS", "SignedDataReceived", "StopAuthorized", "Local"),
    ("TC_E_12_CSMS", "EVDetected", "EVDeparted", "Local"),
    ("TC_E_38_CSMS", "CablePluggedIn", "EVCommunicationLost", "EVDisconnected"),
    ("TC_E_07_CSMS", "Authorized", "StopAuthorized", "Local"),
    ("TC_E_08_CSMS", "Authorized", "StopAuthorized", "Local"),
    ("TC_E_14_CSMS", "Authorized", "EVCommunicationLost", "EVDisconnected"),
    ("TC_E_15_CSMS", "Authorized", "StopAuthorized", "Local"),
    ("TC_E_16_CSMS", "Authorized", "Deauthorized", "DeAuthorized"),
    ("TC_E_17_CSMS", "Authorized", "Deauthorized", "EVDisconnected"),
    ("TC_E_19_CSMS", "Authorized", "EVDeparted", "Local"),
    ("TC_E_20_CSMS", "Authorized", "EVCommunicationLost", "EVDisconnected"),
    ("TC_E_21_CSMS", "RemoteStart", "RemoteStop", "Remote"),
    ("TC_E_22_CSMS", "Authorized", "ChargingStateChanged", "StoppedByEV"),
    ("TC_E_26_CSMS", "Authorized", "EVCommunicationLost", "EVDisconnected"),
    ("TC_E_39_CSMS", "Authorized", "EVConnectTimeout", "Timeout"),
]


@pytest.mark.parametrize(
    ("case", "start_trigger", "stop_trigger", "reason"),
    START_STOP_OPTIONS,
    ids=[c[0] for c in START_STOP_OPTIONS],
)
def test_v201_start_and_stop_options(
    ocpp_server, charger, token, case, start_trigger, stop_trigger, reason
):
    """TC_E_01/02/07/08/09/10/11/12/14/15/16/17/19/20/21/22/26/38/39_CSMS: every
    start/stop option is stored with its trigger and reason and answered."""

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            await cp.call(
                _event(
                    "Started",
                    0,
                    tx=case,
                    minutes_ago=5,
                    trigger=start_trigger,
                    evse={"id": 1, "connector_id": 1},
                    id_token=_id_token(),
                    meter_value=[_energy(100, "Transaction.Begin", 5)],
                ),
                suppress=False,
            )
            return await cp.call(
                _event(
                    "Ended",
                    1,
                    tx=case,
                    minutes_ago=1,
                    trigger=stop_trigger,
                    info={"stopped_reason": reason},
                    meter_value=[_energy(600, "Transaction.End", 1)],
                ),
                suppress=False,
            )

    run(talk())
    session = ChargingSession.objects.get(ocpp_transaction_id=case)
    assert session.state == ChargingSession.State.COMPLETED and session.energy_wh == 500
    assert session.stop_reason == mappers.domain_word(reason)
    assert list(session.events.order_by("seq_no").values_list("trigger", flat=True)) == [
        mappers.domain_word(start_trigger),
        mappers.domain_word(stop_trigger),
    ]


def test_v201_authorize_by_group_id(ocpp_server, charger):
    """TC_C_39_CSMS Authorization by GroupId - Success: idTokenInfo carries the
    token's groupIdToken (type Central), in the Authorize answer and in the
    TransactionEvent answer; a token in no group gets none."""
    org = charger.zone.property.organization
    head = factories.IdTokenFactory(organization=org, uid="COMPANY-7")
    factories.IdTokenFactory(organization=org, uid="COMPANY-7-CAR", group=head)
    factories.IdTokenFactory(organization=org, uid="LONER")
    group = {"id_token": "COMPANY-7", "type": "Central"}

    async def talk():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            member = await cp.call(
                c201.Authorize(id_token=_id_token("COMPANY-7-CAR")), suppress=False
            )
            own = await cp.call(c201.Authorize(id_token=_id_token("COMPANY-7")), suppress=False)
            loner = await cp.call(c201.Authorize(id_token=_id_token("LONER")), suppress=False)
            started = await cp.call(
                _event(
                    "Started",
                    0,
                    tx="TX-GROUP",
                    evse={"id": 1, "connector_id": 1},
                    id_token=_id_token("COMPANY-7-CAR"),
                ),
                suppress=False,
            )
            return member, own, loner, started

    member, own, loner, started = run(talk())
    assert member.id_token_info == {"status": "Accepted", "group_id_token": group}
    assert own.id_token_info == {"status": "Accepted", "group_id_token": group}
    assert loner.id_token_info == {"status": "Accepted"}
    assert started.id_token_info == {"status": "Accepted", "group_id_token": group}


@pytest.mark.parametrize(
    "case",
    ["TC_C_47_CSMS", "TC_C_48_CSMS", "TC_C_49_CSMS"],
)
def test_v201_master_pass_stops_transactions(ocpp_server, charger, case):
    """TC_C_47_CSMS (with UI, all transactions), TC_C_48_CSMS (with UI, specific
    transactions), TC_C_49_CSMS (without UI: all). The station is configured with
    AuthCtrlr.MasterPassGroupId = the organization's master pass group; the CSMS
    answers the master pass token's Authorize Accepted with that group as
    groupIdToken, then accepts the TransactionEvent(Ended, StopAuthorized,
    MasterPass) of each transaction the station stops with it, even though the
    zone's policy does not admit the master pass for charging. Which transactions
    to stop (all, or those chosen on the station's UI) is the station's choice."""
    org = charger.zone.property.organization
    master = factories.IdTokenFactory(organization=org, uid="MASTER", is_master_pass_group=True)
    factories.IdTokenFactory(organization=org, uid="SECURITY-1", group=master)
    factories.IdTokenFactory(organization=org, uid="DRIVER-1")
    factories.IdTokenFactory(organization=org, uid="DRIVER-2")
    group = {"id_token": "MASTER", "type": "Central"}
    stopped_txs = ["TX-M1"] if case == "TC_C_48_CSMS" else ["TX-M1", "TX-M2"]

    async def start():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            for evse, (tx, uid) in enumerate([("TX-M1", "DRIVER-1"), ("TX-M2", "DRIVER-2")], 1):
                await cp.call(
                    _event(
                        "Started",
                        0,
                        tx=tx,
                        minutes_ago=10,
                        evse={"id": evse, "connector_id": 1},
                        id_token=_id_token(uid),
                    ),
                    suppress=False,
                )

    run(start())
    # Only drivers charge here now: the master pass is no charging card.
    charger.zone.access_policies.all().delete()
    factories.AccessPolicyFactory(zone=charger.zone, admits="residents")

    async def master_pass():
        async with station(_url(ocpp_server), "2.0.1") as cp:
            authorized = await cp.call(
                c201.Authorize(id_token=_id_token("SECURITY-1")), suppress=False
            )
            ended = [
                await cp.call(
                    _event(
                        "Ended",
                        1,
                        tx=tx,
                        trigger="StopAuthorized",
                        id_token=_id_token("SECURITY-1"),
                        info={"stopped_reason": "MasterPass"},
                    ),
                    suppress=False,
                )
                for tx in stopped_txs
            ]
            return authorized, ended

    authorized, ended = run(master_pass())
    # Authorize: Accepted although no policy admits it to charge here, with its group,
    # which is how the station recognises the master pass (it never starts with one).
    assert authorized.id_token_info == {"status": "Accepted", "group_id_token": group}
    assert all(e.id_token_info == {"status": "Accepted", "group_id_token": group} for e in ended)
    sessions = {s.ocpp_transaction_id: s for s in ChargingSession.objects.filter(charger=charger)}
    for tx in ["TX-M1", "TX-M2"]:
        expected = (
            ChargingSession.State.COMPLETED if tx in stopped_txs else ChargingSession.State.ACTIVE
        )
        assert sessions[tx].state == expected
    assert {sessions[tx].stop_reason for tx in stopped_txs} == {"master_pass"}
    assert sessions["TX-M1"].id_tag == "DRIVER-1"  # the starter stays the session's tag
