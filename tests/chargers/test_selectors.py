"""The chargers selectors: live figures of sessions in progress from stored meter
samples, the session list's filters, tenancy, and a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.chargers import selectors
from apps.chargers.models import ChargingSession
from apps.sites.exceptions import NotFound
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


DEFAULT_UNITS = {ENERGY: "Wh", POWER: "W", "SoC": "Percent"}


def sample(session, minutes, value, measurand=ENERGY, unit=None, **fields):
    if unit is None:
        unit = DEFAULT_UNITS.get(measurand, "")
    return factories.MeterSampleFactory(
        session=session,
        connector_id=session.connector.connector_id,
        sampled_at=at(minutes),
        measurand=measurand,
        value=Decimal(value),
        unit=unit,
        **fields,
    )


@pytest.fixture
def zone_a(org_a):
    return factories.ZoneFactory(property__organization=org_a)


@pytest.fixture
def connector(zone_a):
    return factories.ConnectorFactory(charger__zone=zone_a, charger__charge_point_id="A-1")


@pytest.fixture
def active(connector):
    return factories.ChargingSessionFactory(
        connector=connector, meter_start_wh=10_000, started_at=at(0)
    )


def live_of(user, connector) -> selectors.LiveSession | None:
    charger = selectors.charger_get(user=user, charge_point_id=connector.charger.charge_point_id)
    (found,) = [c for c in charger.connectors.all() if c.pk == connector.pk]
    return found.current_session


# --- energy so far --------------------------------------------------------------------


def test_live_energy_is_the_latest_register_minus_start_in_whole_wh(manager_a, active, connector):
    sample(active, 0, "10000", context="Transaction.Begin")
    sample(active, 5, "11.5", unit="kWh")
    sample(active, 10, "12.9876", unit="kWh")  # 12987.6 Wh: rounds to 12988

    live = live_of(manager_a, connector)

    assert live == selectors.LiveSession(
        id=active.pk, energy_wh=2_988, power_w=None, soc_percent=None
    )


def test_live_energy_register_without_unit_is_wh(manager_a, active, connector):
    sample(active, 3, "10450", unit="")

    assert live_of(manager_a, connector).energy_wh == 450


def test_live_energy_ignores_per_phase_registers_and_other_measurands(manager_a, active, connector):
    sample(active, 3, "10200")
    # Later, but per phase or not the import register: not the session's total.
    sample(active, 4, "5000", phase="L1")
    sample(active, 5, "99999", measurand="Energy.Active.Export.Register")

    assert live_of(manager_a, connector).energy_wh == 200


def test_live_energy_unknown_without_a_start_reading(manager_a, connector):
    # An OCPP 2.0.1 station need not report the start reading: nothing is invented.
    session = factories.ChargingSessionFactory(connector=connector, meter_start_wh=None)
    sample(session, 3, "15000")

    live = live_of(manager_a, connector)

    assert live.id == session.pk
    assert live.energy_wh is None


def test_live_energy_unknown_when_the_register_went_below_the_start(manager_a, active, connector):
    sample(active, 3, "400")  # a replaced meter

    assert live_of(manager_a, connector).energy_wh is None


def test_live_figures_come_only_from_the_active_sessions_samples(manager_a, connector):
    earlier = factories.ChargingSessionFactory(
        connector=connector,
        meter_start_wh=0,
        started_at=at(-120),
        state=ChargingSession.State.COMPLETED,
        stopped_at=at(-60),
        meter_stop_wh=9_000,
    )
    sample(earlier, -61, "9000")
    sample(earlier, -61, "55", measurand="SoC", unit="Percent")
    active = factories.ChargingSessionFactory(
        connector=connector, meter_start_wh=10_000, started_at=at(0)
    )
    # A reading of the connector sent without a transaction id: not the session's.
    factories.MeterSampleFactory(
        session=None,
        charger=connector.charger,
        connector_id=1,
        sampled_at=at(5),
        value=Decimal(12_000),
    )

    assert live_of(manager_a, connector) == selectors.LiveSession(
        id=active.pk, energy_wh=None, power_w=None, soc_percent=None
    )


def test_connector_without_an_active_session_has_none(manager_a, connector):
    factories.ChargingSessionFactory(
        connector=connector,
        state=ChargingSession.State.COMPLETED,
        started_at=at(-60),
        stopped_at=at(-1),
    )

    assert live_of(manager_a, connector) is None


# --- power ----------------------------------------------------------------------------


def test_live_power_sums_the_phases_of_the_latest_instant(manager_a, active, connector):
    sample(active, 1, "22000", measurand=POWER, unit="W")  # older total: superseded
    sample(active, 2, "3.7", measurand=POWER, unit="kW", phase="L1")
    sample(active, 2, "3.68", measurand=POWER, unit="kW", phase="L2")
    sample(active, 2, "3710", measurand=POWER, unit="W", phase="L3")
    # Not a line's share: neither summed nor double-counted.
    sample(active, 2, "40", measurand=POWER, unit="W", phase="N")
    sample(active, 2, "6400", measurand=POWER, unit="W", phase="L1-L2")

    assert live_of(manager_a, connector).power_w == Decimal("11090")


def test_live_power_prefers_the_total_at_the_same_instant(manager_a, active, connector):
    sample(active, 2, "7200.5", measurand=POWER, unit="W")
    sample(active, 2, "2400", measurand=POWER, unit="W", phase="L1")

    assert live_of(manager_a, connector).power_w == Decimal("7200.5")


def test_live_power_counts_a_line_reported_twice_once(manager_a, active, connector):
    sample(active, 2, "3600", measurand=POWER, phase="L1")
    sample(active, 2, "3600", measurand=POWER, phase="L1-N")
    sample(active, 2, "3500", measurand=POWER, phase="L2-N")

    assert live_of(manager_a, connector).power_w == Decimal("7100")


def test_live_power_at_the_outlet_wins_over_the_inlet(manager_a, active, connector):
    sample(active, 2, "7600", measurand=POWER, location="Inlet")
    sample(active, 2, "7400", measurand=POWER, location="Outlet")

    assert live_of(manager_a, connector).power_w == Decimal("7400")


def test_live_power_in_an_unknown_unit_is_not_guessed(manager_a, active, connector):
    sample(active, 2, "11", measurand=POWER, unit="kvar")

    assert live_of(manager_a, connector).power_w is None


# --- state of charge ------------------------------------------------------------------


def test_live_soc_is_the_latest_report(manager_a, active, connector):
    sample(active, 1, "40", measurand="SoC", unit="Percent", location="EV")
    sample(active, 9, "54.5", measurand="SoC", unit="Percent", location="EV")
    sample(active, 5, "47", measurand="SoC", unit="Percent", location="EV")

    assert live_of(manager_a, connector).soc_percent == Decimal("54.5")


def test_live_figures_of_different_instants_together(manager_a, active, connector):
    # Chargers sample each measurand on its own schedule: each figure is its latest.
    sample(active, 10, "10500")
    sample(active, 11, "7000", measurand=POWER)
    sample(active, 12, "61", measurand="SoC", unit="Percent")
    sample(active, 12, "230", measurand="Voltage", unit="V", phase="L1-N")

    assert live_of(manager_a, connector) == selectors.LiveSession(
        id=active.pk, energy_wh=500, power_w=Decimal(7000), soc_percent=Decimal(61)
    )


# --- queries --------------------------------------------------------------------------


def _charger_with_live_connectors(zone, charge_point_id: str, count: int):
    charger = factories.ChargerFactory(zone=zone, charge_point_id=charge_point_id)
    for n in range(1, count + 1):
        connector = factories.ConnectorFactory(charger=charger, connector_id=n)
        session = factories.ChargingSessionFactory(
            connector=connector, meter_start_wh=0, started_at=at(0)
        )
        sample(session, 1, str(1000 * n))
        sample(session, 1, "3700", measurand=POWER, phase="L1")
        sample(session, 1, "3700", measurand=POWER, phase="L2")
        sample(session, 1, str(20 + n), measurand="SoC", unit="Percent")
    return charger


@pytest.mark.parametrize("connectors", [1, 6])
def test_charger_get_takes_the_same_queries_for_any_number_of_connectors(
    manager_a, zone_a, connectors, django_assert_num_queries
):
    _charger_with_live_connectors(zone_a, "MANY", connectors)

    # memberships, the charger, its connectors (with their sessions' latest
    # instants), the latest samples
    with django_assert_num_queries(4):
        charger = selectors.charger_get(user=manager_a, charge_point_id="MANY")
        lives = [c.current_session for c in charger.connectors.all()]

    assert [live.energy_wh for live in lives] == [1000 * n for n in range(1, connectors + 1)]
    assert {live.power_w for live in lives} == {Decimal(7400)}
    assert [live.soc_percent for live in lives] == [20 + n for n in range(1, connectors + 1)]


def test_charger_list_takes_the_same_queries_for_a_page_of_live_chargers(
    manager_a, zone_a, django_assert_num_queries
):
    for n in range(5):
        _charger_with_live_connectors(zone_a, f"LIVE-{n}", 2)

    with django_assert_num_queries(4):
        chargers = selectors.charger_list(user=manager_a, limit=4, offset=1)
        energies = [c.current_session.energy_wh for ch in chargers for c in ch.connectors.all()]

    assert [c.charge_point_id for c in chargers] == ["LIVE-1", "LIVE-2", "LIVE-3", "LIVE-4"]
    assert energies == [1000, 2000] * 4


# --- sessions -------------------------------------------------------------------------


def test_session_list_energy_of_finished_and_active_sessions(manager_a, connector):
    finished = factories.ChargingSessionFactory(
        connector=connector,
        meter_start_wh=1_000,
        meter_stop_wh=8_250,
        state=ChargingSession.State.COMPLETED,
        started_at=at(-120),
        stopped_at=at(-60),
    )
    no_stop_reading = factories.ChargingSessionFactory(
        connector=connector,
        meter_start_wh=8_250,
        state=ChargingSession.State.COMPLETED,
        started_at=at(-50),
        stopped_at=at(-40),
    )
    sample(no_stop_reading, -41, "9000")  # a register reading does not stand in for the stop
    active = factories.ChargingSessionFactory(
        connector=connector, meter_start_wh=9_000, started_at=at(0)
    )
    sample(active, 5, "9.75", unit="kWh")

    sessions = selectors.session_list(user=manager_a)

    assert [s.pk for s in sessions] == [active.pk, no_stop_reading.pk, finished.pk]
    assert [s.live_energy_wh for s in sessions] == [750, None, None]
    assert sessions[2].energy_wh == 7_250  # stop - start, by the database


def test_session_list_takes_two_queries_whatever_the_page(
    manager_a, zone_a, django_assert_num_queries
):
    _charger_with_live_connectors(zone_a, "S-1", 4)

    # memberships, the sessions, the latest register samples of those in progress
    with django_assert_num_queries(3):
        sessions = selectors.session_list(user=manager_a)

    assert sorted(s.live_energy_wh for s in sessions) == [1000, 2000, 3000, 4000]


def test_session_list_filters(manager_a, zone_a, connector):
    other = factories.ConnectorFactory(charger__zone=zone_a, charger__charge_point_id="A-2")
    first = factories.ChargingSessionFactory(
        connector=connector,
        state=ChargingSession.State.COMPLETED,
        started_at=at(-180),
        stopped_at=at(-170),
    )
    second = factories.ChargingSessionFactory(
        connector=other,
        state=ChargingSession.State.COMPLETED,
        started_at=at(-60),
        stopped_at=at(-50),
    )
    third = factories.ChargingSessionFactory(connector=connector, started_at=at(0))

    def ids(**filters):
        return [s.pk for s in selectors.session_list(user=manager_a, **filters)]

    assert ids() == [third.pk, second.pk, first.pk]
    assert ids(charge_point_id="A-1") == [third.pk, first.pk]
    assert ids(state="active") == [third.pk]
    assert ids(state="completed") == [second.pk, first.pk]
    assert ids(since=at(-60)) == [third.pk, second.pk]  # at or after
    assert ids(until=at(-60)) == [first.pk]  # strictly before
    assert ids(since=at(-100), until=at(-1)) == [second.pk]
    assert ids(limit=1, offset=1) == [second.pk]
    assert ids(charge_point_id="NOPE") == []


def test_session_list_same_start_time_newest_row_first(manager_a, connector):
    other = factories.ConnectorFactory(charger=connector.charger, connector_id=2)
    older = factories.ChargingSessionFactory(connector=connector, started_at=at(0))
    newer = factories.ChargingSessionFactory(connector=other, started_at=at(0))

    assert [s.pk for s in selectors.session_list(user=manager_a)] == [newer.pk, older.pk]


def test_sessions_of_another_organization_are_invisible(manager_a, org_b, connector):
    b_connector = factories.ConnectorFactory(
        charger__zone__property__organization=org_b, charger__charge_point_id="B-1"
    )
    b_session = factories.ChargingSessionFactory(connector=b_connector)
    mine = factories.ChargingSessionFactory(connector=connector)

    assert [s.pk for s in selectors.session_list(user=manager_a)] == [mine.pk]
    assert selectors.session_list(user=manager_a, charge_point_id="B-1") == []
    with pytest.raises(NotFound):
        selectors.session_get(user=manager_a, session_id=b_session.pk)
    assert selectors.session_get(user=manager_a, session_id=mine.pk).pk == mine.pk
