"""The charger simulator (apps/ocpp_consumer/simulator): the vehicle/battery model
and charging-profile arithmetic without a socket, then one 1.6 and one 2.0.1
simulated charger against the real daphne server (conftest.py), checked in the
database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from apps.access.models import AccessPolicy
from apps.chargers.models import ChargerEvent, ChargingSession, MeterSample
from apps.ocpp_consumer.simulator import SimOptions, StationSpec, build_stations, run_stations
from apps.ocpp_consumer.simulator.profiles import Profile, ProfileStore
from apps.ocpp_consumer.simulator.station import ConnectorState
from apps.ocpp_consumer.simulator.vehicle import TAPER_START, Meter, Vehicle, charge
from tests import factories
from tests.ocpp_consumer.conftest import run, wait_for

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _profile_16(
    limit: float,
    *,
    unit: str = "W",
    purpose: str = "TxDefaultProfile",
    stack_level: int = 0,
    profile_id: int = 1,
    periods: list[tuple[int, float]] | None = None,
    kind: str = "Absolute",
    start: datetime | None = T0,
    **extra: object,
) -> dict[str, object]:
    """A SetChargingProfile csChargingProfiles payload as the ocpp package hands it
    to a handler (snake_case)."""
    schedule: dict[str, object] = {
        "charging_rate_unit": unit,
        "charging_schedule_period": [
            {"start_period": s, "limit": v} for s, v in (periods or [(0, limit)])
        ],
    }
    if start is not None:
        schedule["start_schedule"] = start.isoformat()
    return {
        "charging_profile_id": profile_id,
        "stack_level": stack_level,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": kind,
        "charging_schedule": schedule,
        **extra,
    }


# ------------------------------------------------------------ vehicle model


def test_vehicle_accepts_full_power_until_80_percent_then_tapers():
    ev = Vehicle(capacity_wh=75_000, soc=0.2, max_power_w=11_000)
    assert ev.acceptance_w() == 11_000
    ev.soc = TAPER_START - 0.001
    assert ev.acceptance_w() == 11_000
    tapered = []
    for soc in (0.82, 0.86, 0.90, 0.95, 0.99):
        ev.soc = soc
        tapered.append(ev.acceptance_w())
    assert all(a > b for a, b in zip(tapered, tapered[1:], strict=False))
    assert tapered[0] < 11_000
    assert tapered[-1] > 0  # a trickle, never zero: the charge ends


def test_charge_follows_constant_power_then_taper_and_stops_full():
    ev = Vehicle(capacity_wh=60_000, soc=0.3, max_power_w=7_400, target_soc=1.0)
    meter = Meter(register_wh=1_000_000, phases=1)
    powers_below, powers_above, registers = [], [], [meter.register_int_wh]
    for _ in range(24 * 60):  # one-minute steps, at most a day
        soc_before = ev.soc
        step = charge(ev, meter, offered_w=11_000, seconds=60)
        registers.append(meter.register_int_wh)
        (powers_below if soc_before < TAPER_START - 0.01 else powers_above).append(step.power_w)
        if ev.full:
            break
    assert ev.full
    assert ev.soc == pytest.approx(1.0, abs=0.002)
    # Constant power (the vehicle's limit, below the offer) until ~80 % ...
    assert powers_below and all(p == pytest.approx(7_400) for p in powers_below)
    # ... then falling minute after minute.
    tail = [p for p in powers_above if p > 0]
    assert len(tail) > 10
    assert all(a >= b for a, b in zip(tail, tail[1:], strict=False))
    assert tail[-1] < 0.2 * 7_400
    # The register never goes back, and the energy is what went into the battery
    # plus the charging losses.
    assert all(a <= b for a, b in zip(registers, registers[1:], strict=False))
    delivered = meter.register_wh - 1_000_000
    assert delivered * 0.92 == pytest.approx(0.7 * 60_000, rel=0.01)


def test_charge_never_exceeds_the_offered_power():
    ev = Vehicle(capacity_wh=75_000, soc=0.1, max_power_w=11_000)
    meter = Meter()
    for offered in (0.0, 1_380.0, 4_140.0, 6_000.0, 20_000.0):
        step = charge(ev, meter, offered_w=offered, seconds=300)
        assert step.power_w <= offered + 1e-9
        assert step.energy_wh == pytest.approx(step.power_w * 300 / 3600)


def test_charge_without_vehicle_or_power_meters_nothing():
    meter = Meter(register_wh=500.0)
    assert charge(None, meter, offered_w=11_000, seconds=60).energy_wh == 0
    ev = Vehicle(capacity_wh=50_000, soc=0.5, max_power_w=11_000)
    assert charge(ev, meter, offered_w=0, seconds=60).energy_wh == 0
    assert meter.register_wh == 500.0 and meter.power_w == 0


def test_meter_current_per_phase_from_power():
    meter = Meter(voltage_v=230, phases=3, power_w=11_040)
    assert meter.current_per_phase_a() == pytest.approx(16.0)
    with pytest.raises(ValueError):
        meter.add(-1, 0)


# ---------------------------------------------------------- charging profiles


def test_profile_highest_stack_level_wins_and_amps_convert_to_watts():
    store = ProfileStore()
    store.install(Profile.from_v16(1, _profile_16(16, unit="A", stack_level=0, profile_id=1)))
    store.install(Profile.from_v16(1, _profile_16(10, unit="A", stack_level=2, profile_id=2)))
    limit = store.connector_limit_w(
        1,
        T0 + timedelta(minutes=5),
        tx_started_at=None,
        transaction_id=None,
        voltage_v=230,
        phases=3,
    )
    assert limit == pytest.approx(10 * 230 * 3)


def test_profile_periods_and_tx_profile_override_default():
    store = ProfileStore()
    store.install(
        Profile.from_v16(1, _profile_16(0, periods=[(0, 11_000), (3600, 3_000)], profile_id=1))
    )
    kw = {"tx_started_at": T0, "voltage_v": 230, "phases": 3}
    assert (
        store.connector_limit_w(1, T0 + timedelta(minutes=30), transaction_id="7", **kw) == 11_000
    )
    assert store.connector_limit_w(1, T0 + timedelta(minutes=90), transaction_id="7", **kw) == 3_000
    tx = _profile_16(
        1_500, purpose="TxProfile", profile_id=9, kind="Relative", start=None, transaction_id=7
    )
    store.install(Profile.from_v16(1, tx))
    assert store.connector_limit_w(1, T0 + timedelta(minutes=30), transaction_id="7", **kw) == 1_500
    # Another transaction is not governed by it; when the transaction ends, it goes.
    assert (
        store.connector_limit_w(1, T0 + timedelta(minutes=30), transaction_id="8", **kw) == 11_000
    )
    store.drop_transaction("7")
    assert (
        store.connector_limit_w(1, T0 + timedelta(minutes=30), transaction_id="7", **kw) == 11_000
    )


def test_profile_clear_by_criteria_and_recurring_daily():
    store = ProfileStore()
    daily = _profile_16(
        0,
        periods=[(0, 2_000), (8 * 3600, 7_000)],
        kind="Recurring",
        recurrency_kind="Daily",
        profile_id=3,
    )
    store.install(Profile.from_v16(0, daily))
    kw = {"tx_started_at": None, "transaction_id": None, "voltage_v": 230, "phases": 3}
    # Two days later, the same hours of the day carry the same limits.
    assert store.connector_limit_w(1, T0 + timedelta(days=2, hours=1), **kw) == 2_000
    assert store.connector_limit_w(1, T0 + timedelta(days=2, hours=9), **kw) == 7_000
    assert store.clear(purpose="TxProfile") == 0
    assert store.clear(purpose="TxDefaultProfile", stack_level=0) == 1
    assert store.connector_limit_w(1, T0, **kw) is None


def test_station_power_follows_profile_limit_and_is_shared(monkeypatch):
    """The power a charging vehicle draws never exceeds the profile's limit; the
    station-wide maximum is shared between active connectors."""
    [station] = build_stations(
        [StationSpec("CP-PROFILE", connectors=2, max_power_w=22_000, phases=3)],
        SimOptions(ocpp="1.6"),
        seed=3,
    )
    c1, c2 = station.connectors[1], station.connectors[2]
    for c, tx in ((c1, "1"), (c2, "2")):
        c.transaction_id, c.tx_started_at = tx, T0
        c.vehicle = Vehicle(capacity_wh=75_000, soc=0.2, max_power_w=11_000)
    assert station.offered_power_w(c1, T0) == 11_000  # the 22 kW station shared by two
    station.profiles.install(Profile.from_v16(1, _profile_16(8, unit="A")))  # 8 A x 3 x 230 V
    station.profiles.install(
        Profile.from_v16(0, _profile_16(12_000, purpose="ChargePointMaxProfile", profile_id=5))
    )
    now = T0 + timedelta(minutes=1)
    assert station.offered_power_w(c1, now) == pytest.approx(5_520)
    assert station.offered_power_w(c2, now) == pytest.approx(6_000)
    for c in (c1, c2):
        offered = station.offered_power_w(c, now)
        step = charge(c.vehicle, c.meter, offered_w=offered, seconds=600)
        assert step.power_w <= offered + 1e-9
        assert c.meter.power_w <= offered + 1e-9


def test_composite_schedule_combines_connector_and_station_limits():
    store = ProfileStore()
    store.install(Profile.from_v16(1, _profile_16(0, periods=[(0, 11_000), (1800, 4_000)])))
    store.install(
        Profile.from_v16(0, _profile_16(7_000, purpose="ChargePointMaxProfile", profile_id=2))
    )
    periods = store.composite(
        1, T0, 3600, tx_started_at=None, transaction_id=None, voltage_v=230, phases=3
    )
    assert periods == [(0, 7_000.0), (1800, 4_000.0)]


# ------------------------------------------------------------ station logic


def test_same_seed_same_vehicles_and_tags():
    def draws(seed: int) -> list[tuple[str, float, str]]:
        options = SimOptions(id_tags=["A", "B", "C", "D"])
        [station] = build_stations([StationSpec("CP-SEED")], options, seed=seed)
        c = station.connectors[1]
        return [
            (v.name, round(v.soc, 6), station._pick_tag(c))
            for v in (station._new_vehicle() for _ in range(5))
        ]

    assert draws(42) == draws(42)
    assert draws(42) != draws(43)


def test_local_list_versions():
    [station] = build_stations([StationSpec("CP-LIST")], SimOptions(), seed=1)
    full = [
        {"id_tag": "A", "id_tag_info": {"status": "Accepted"}},
        {"id_tag": "B", "id_tag_info": {"status": "Blocked"}},
    ]
    assert station.apply_local_list(3, "Full", full) == "Accepted"
    assert station.apply_local_list(3, "Differential", []) == "VersionMismatch"
    assert station.apply_local_list(4, "Differential", [{"id_tag": "B"}]) == "Accepted"
    assert set(station.local_list) == {"A"} and station.local_list_version == 4


def test_availability_is_scheduled_during_a_transaction():
    [station] = build_stations([StationSpec("CP-AV", connectors=2)], SimOptions(), seed=1)
    busy: ConnectorState = station.connectors[1]
    busy.transaction_id = "5"
    assert station.set_availability(0, operative=False) == "Scheduled"
    assert busy.operative and busy.inoperative_pending
    assert not station.connectors[2].operative
    assert station.set_availability(0, operative=True) == "Accepted"
    assert station.set_availability(9, operative=True) == "Rejected"


# ------------------------------------------------- against the real server


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_simulator_charges_against_the_server(ocpp_server, version):
    """A simulated charger boots, authorizes, charges a vehicle (compressed time)
    and stops on shutdown; the server stored the session and its meter samples."""
    zone = factories.ZoneFactory()
    factories.AccessPolicyFactory(zone=zone, admits=AccessPolicy.Admits.PUBLIC)
    token = factories.IdTokenFactory(organization=zone.property.organization)
    charger = factories.ChargerFactory(
        charge_point_id=f"CP-SIM-{version}", zone=zone, max_power_w=11_000
    )
    factories.ConnectorFactory(charger=charger, connector_id=1)
    options = SimOptions(
        url=f"ws://127.0.0.1:{ocpp_server.port}",
        ocpp=version,
        id_tags=[token.uid],
        meter_interval_s=0.5,
        speed=600.0,  # ten simulated minutes per second
        arrival_s=(0.0, 0.0),
        tick_s=0.1,
    )
    stations = build_stations(
        [StationSpec(charger.charge_point_id, max_power_w=11_000)], options, seed=7
    )
    run(run_stations(stations, duration_s=4, handle_signals=False), timeout=40)

    def completed() -> list[ChargingSession]:
        return list(ChargingSession.objects.filter(charger=charger, state="completed"))

    sessions = wait_for(completed)
    assert sessions, "no completed session stored"
    session = sessions[0]
    assert session.id_tag == token.uid
    assert session.energy_wh == session.meter_stop_wh - session.meter_start_wh > 0
    samples = MeterSample.objects.filter(session=session).order_by("sampled_at", "pk")
    measurands = set(samples.values_list("measurand", flat=True))
    assert {"Energy.Active.Import.Register", "Power.Active.Import", "Current.Import"} <= measurands
    assert {"Voltage", "SoC"} <= measurands
    registers = [
        s.value
        for s in samples.filter(
            measurand="Energy.Active.Import.Register", context="Sample.Periodic"
        )
    ]
    assert registers == sorted(registers) and len(registers) >= 2
    socs = [s.value for s in samples.filter(measurand="SoC")]
    assert socs == sorted(socs) and socs[-1] > socs[0]
    powers = [s.value for s in samples.filter(measurand="Power.Active.Import")]
    assert max(powers) <= 11_000
    assert stations[0].stats["call_errors"] == 0


def test_simulator_reconnects_after_the_server_drops_it(ocpp_server):
    """Back-off and reconnect: a station whose socket is closed comes back and boots."""
    zone = factories.ZoneFactory()
    charger = factories.ChargerFactory(charge_point_id="CP-SIM-RECONNECT", zone=zone)
    factories.ConnectorFactory(charger=charger, connector_id=1)
    options = SimOptions(
        url=f"ws://127.0.0.1:{ocpp_server.port}",
        auto_sessions=False,
        backoff_base_s=0.1,
        backoff_cap_s=0.5,
    )
    [station] = build_stations([StationSpec(charger.charge_point_id)], options, seed=1)

    async def scenario() -> int:
        task = asyncio.create_task(station.run())
        await asyncio.wait_for(station.online.wait(), 10)
        station.reconnect.set()  # as if the network dropped the socket
        await asyncio.sleep(0.2)
        await asyncio.wait_for(station.online.wait(), 10)
        station.stop()
        await asyncio.wait_for(task, 20)
        return station.stats["connects"]

    assert run(scenario(), timeout=40) >= 2
    charger.refresh_from_db()
    assert charger.last_boot_at is not None


def _send(ocpp_server, charge_point_id: str, command: str, params: dict) -> tuple[str, dict]:
    """Issue a command the way the API does (domain service, channel layer) on the
    server's loop; returns (status, response)."""
    from apps.chargers.commands import command_send

    result = ocpp_server.on_server_loop(
        command_send(charger=charge_point_id, command=command, params=params, source="system"),
        timeout=30,
    )
    return result.status, result.response


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_simulator_obeys_remote_commands(ocpp_server, version):
    """Every command of the API reaches a simulated charger, which answers it and acts
    on it: a charging profile caps the power it reports, remote start/stop make a
    session, a firmware update reports its progress, a reset makes it boot again."""
    zone = factories.ZoneFactory()
    factories.AccessPolicyFactory(zone=zone, admits=AccessPolicy.Admits.PUBLIC)
    token = factories.IdTokenFactory(organization=zone.property.organization)
    cp_id = f"CP-SIM-CMD-{version}"
    charger = factories.ChargerFactory(charge_point_id=cp_id, zone=zone, max_power_w=11_000)
    factories.ConnectorFactory(charger=charger, connector_id=1)
    options = SimOptions(
        url=f"ws://127.0.0.1:{ocpp_server.port}",
        ocpp=version,
        id_tags=[token.uid],
        meter_interval_s=0.3,
        speed=600.0,
        auto_sessions=False,
        tick_s=0.1,
        backoff_base_s=0.1,
        backoff_cap_s=0.5,
    )
    [station] = build_stations([StationSpec(cp_id, max_power_w=11_000)], options, seed=5)
    c = station.connectors[1]
    answers: dict[str, tuple[str, dict]] = {}
    expiry = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()

    async def command(name: str, params: dict) -> tuple[str, dict]:
        answer = await asyncio.to_thread(_send, ocpp_server, cp_id, name, params)
        answers[name] = answer
        return answer

    async def until(predicate, seconds: float = 10) -> None:
        for _ in range(int(seconds / 0.05)):
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("condition not reached")

    async def scenario() -> None:
        task = asyncio.create_task(station.run())
        await asyncio.wait_for(station.online.wait(), 10)
        assert (await command("get-configuration", {}))[0]
        assert (await command("clear-cache", {}))[0] == "Accepted"
        assert (await command("data-transfer", {"vendor_id": "Plugboard.Simulator", "data": "hi"}))[
            0
        ] == "Accepted"
        assert (await command("data-transfer", {"vendor_id": "Nobody"}))[0] == "UnknownVendorId"
        assert (
            await command("send-local-list", {"version": 3, "entries": [{"id_tag": token.uid}]})
        )[0] == "Accepted"
        assert station.local_list_version == 3
        await command("get-local-list-version", {})
        profile = {
            "id": 5,
            "purpose": "tx_default",
            "schedule": {"rate_unit": "W", "periods": [{"start_period": 0, "limit": 3000}]},
        }
        assert (await command("set-charging-profile", {"connector_id": 1, "profile": profile}))[
            0
        ] == "Accepted"
        status, schedule = await command(
            "get-composite-schedule", {"connector_id": 1, "duration": 600, "rate_unit": "W"}
        )
        assert status == "Accepted" and "3000" in str(schedule)
        assert (
            await command(
                "reserve-now",
                {"connector_id": 1, "expiry_at": expiry, "id_tag": token.uid, "reservation_id": 77},
            )
        )[0] == "Accepted"
        await until(lambda: c.status == "Reserved")
        assert (await command("cancel-reservation", {"reservation_id": 77}))[0] == "Accepted"
        assert (await command("remote-start", {"connector_id": 1, "id_tag": token.uid}))[
            0
        ] == "Accepted"
        await until(lambda: c.in_transaction and c.status == "Charging")
        await asyncio.sleep(1.5)  # meter values under the profile
        assert (await command("trigger-message", {"message": "MeterValues", "connector_id": 1}))[
            0
        ] == "Accepted"
        assert (await command("change-availability", {"connector_id": 1, "available": False}))[
            0
        ] == "Scheduled"
        session_id = await asyncio.to_thread(
            lambda: ChargingSession.objects.get(charger__charge_point_id=cp_id, state="active").pk
        )
        assert (await command("remote-stop", {"session_id": session_id}))[0] == "Accepted"
        await until(lambda: not c.in_transaction and c.status == "Unavailable")
        assert (await command("change-availability", {"connector_id": 1, "available": True}))[
            0
        ] == "Accepted"
        await until(lambda: c.status == "Available")
        assert (await command("unlock-connector", {"connector_id": 1}))[0] == "Unlocked"
        assert (await command("clear-charging-profile", {"profile_id": 5}))[0] == "Accepted"
        assert not station.profiles.profiles
        await command("get-diagnostics", {"location": "ftp://diagnostics.example.invalid/"})
        await command("update-firmware", {"location": "https://fw.example.invalid/sim-2.0.bin"})
        await until(
            lambda: station.firmware_version == "sim-2.0" and station.stats["connects"] >= 2, 20
        )
        await until(lambda: station.online.is_set())
        assert (await command("reset", {"type": "soft"}))[0] == "Accepted"
        await until(lambda: station.stats["connects"] >= 3 and station.online.is_set(), 20)
        station.stop()
        await asyncio.wait_for(task, 30)

    run(scenario(), timeout=120)

    session = ChargingSession.objects.get(charger=charger)
    assert session.state == "completed" and session.id_tag == token.uid
    powers = MeterSample.objects.filter(session=session, measurand="Power.Active.Import")
    assert powers.exists()
    assert max(p.value for p in powers) <= 3000
    assert station.stats["call_errors"] == 0
    # The firmware update and the log upload reported their progress.
    events = ChargerEvent.objects.filter(charger=charger)
    firmware = " ".join(
        events.filter(kind=ChargerEvent.Kind.FIRMWARE_STATUS).values_list("summary", flat=True)
    )
    for step in ("Downloading", "Downloaded", "Installing", "Installed"):
        assert step in firmware
    uploads = " ".join(
        events.filter(kind=ChargerEvent.Kind.DIAGNOSTICS_STATUS).values_list("summary", flat=True)
    )
    # The simulator uploads for real, over HTTP(S) only: an ftp:// location fails,
    # and says so (1.6 UploadFailed, 2.0.1 UploadFailure). A successful upload to
    # Plugboard's own endpoint: tests/monitoring/maintenance.
    assert "UploadFailed" in uploads or "UploadFailure" in uploads


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_simulator_queues_transaction_messages_while_offline(ocpp_server, version):
    """A connection lost during a session: the meter values sampled while offline are
    queued and delivered after the reconnect, and the server stores them at the
    station's own (earlier) timestamps. Part of what TC_039_CSMS (Offline Transaction)
    exercises; the simulator only queues messages of a transaction started online."""
    zone = factories.ZoneFactory()
    factories.AccessPolicyFactory(zone=zone, admits=AccessPolicy.Admits.PUBLIC)
    token = factories.IdTokenFactory(organization=zone.property.organization)
    cp_id = f"CP-SIM-OFFLINE-{version}"
    charger = factories.ChargerFactory(charge_point_id=cp_id, zone=zone, max_power_w=11_000)
    factories.ConnectorFactory(charger=charger, connector_id=1)
    options = SimOptions(
        url=f"ws://127.0.0.1:{ocpp_server.port}",
        ocpp=version,
        id_tags=[token.uid],
        meter_interval_s=0.2,
        speed=600.0,
        auto_sessions=False,
        tick_s=0.05,
        backoff_base_s=1.0,  # offline for 0.5 to 1.5 s
        backoff_cap_s=1.0,
    )
    [station] = build_stations([StationSpec(cp_id, max_power_w=11_000)], options, seed=9)
    c = station.connectors[1]
    marks: dict[str, datetime] = {}

    async def scenario() -> None:
        task = asyncio.create_task(station.run())
        await asyncio.wait_for(station.online.wait(), 10)
        assert station.request_start(c, token.uid)
        for _ in range(200):
            if c.status == "Charging":
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.6)
        marks["dropped"] = datetime.now(UTC)
        station.reconnect.set()  # the network drops the socket
        for _ in range(100):
            if not station.online.is_set():
                break
            await asyncio.sleep(0.01)
        await asyncio.wait_for(station.online.wait(), 10)
        marks["back"] = datetime.now(UTC)
        for _ in range(100):
            if not station.tx_queue:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        station.stop()
        await asyncio.wait_for(task, 30)

    run(scenario(), timeout=60)

    session = wait_for(
        lambda: ChargingSession.objects.filter(charger=charger, state="completed").first()
    )
    assert session is not None
    registers = MeterSample.objects.filter(
        session=session, measurand="Energy.Active.Import.Register"
    )
    offline = registers.filter(sampled_at__gt=marks["dropped"], sampled_at__lt=marks["back"])
    assert offline.exists(), "no reading sampled while offline was stored"
    values = [s.value for s in registers.order_by("sampled_at", "pk")]
    assert values == sorted(values)
    assert not station.tx_queue
    assert station.stats["connects"] >= 2 and station.stats["call_errors"] == 0


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_simulator_basic_auth_and_password_rotation(ocpp_server, version):
    """Security profile 1: the simulator connects with its password, takes the new one
    the server sends (AuthorizationKey / BasicAuthPassword) and reconnects with it;
    a station with a wrong password never gets in."""
    from apps.chargers.services import charger_password_rotate, charger_set_password

    zone = factories.ZoneFactory()
    cp_id = f"CP-SIM-AUTH-{version}"
    charger = factories.ChargerFactory(charge_point_id=cp_id, zone=zone)
    factories.ConnectorFactory(charger=charger, connector_id=1)
    charger_set_password(charger=charger, password="first-password-0123456789")
    base = {
        "url": f"ws://127.0.0.1:{ocpp_server.port}",
        "ocpp": version,
        "auto_sessions": False,
        "backoff_base_s": 0.2,
        "backoff_cap_s": 0.5,
    }
    [good] = build_stations(
        [StationSpec(cp_id)], SimOptions(password="first-password-0123456789", **base), seed=1
    )
    [bad] = build_stations(
        [StationSpec(cp_id)], SimOptions(password="wrong-password-0123456789", **base), seed=1
    )

    async def wrong() -> int:
        task = asyncio.create_task(bad.run())
        await asyncio.sleep(1.5)
        online = bad.online.is_set()
        bad.stop()
        await asyncio.wait_for(task, 20)
        assert not online
        return bad.stats["connects"]

    assert run(wrong(), timeout=30) == 0

    async def rotate() -> None:
        task = asyncio.create_task(good.run())
        await asyncio.wait_for(good.online.wait(), 10)
        rotation = await asyncio.to_thread(
            ocpp_server.on_server_loop,
            charger_password_rotate(charger=cp_id, source="system"),
            30,
        )
        assert rotation is not None
        for _ in range(200):
            if good.stats["connects"] >= 2 and good.online.is_set():
                break
            await asyncio.sleep(0.05)
        good.stop()
        await asyncio.wait_for(task, 20)

    run(rotate(), timeout=60)
    assert good.password != "first-password-0123456789"
    assert good.stats["connects"] >= 2, "did not reconnect with the new password"
