"""The charger health score and the technician ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.chargers.models import Charger, ChargingSession, CommandLog
from apps.monitoring.selectors.health import health_for_chargers
from apps.monitoring.services.health import (
    HealthInputs,
    fault_count,
    health_score,
    remote_start_outcomes,
    start_outcomes,
)
from tests import factories
from tests.monitoring.health.conftest import connection, status

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
WEEK_AGO = NOW - timedelta(days=7)


def ago(**kwargs: float) -> datetime:
    return NOW - timedelta(**kwargs)


def _charger(prop, cp: str, *, online: bool = True) -> tuple[Charger, object]:
    charger = factories.ChargerFactory(
        zone__property=prop, charge_point_id=cp, channel_name="chan" if online else ""
    )
    return charger, factories.ConnectorFactory(charger=charger, connector_id=1)


@pytest.fixture
def fleet(org_a):
    prop = factories.PropertyFactory(organization=org_a, name="Depot")

    good, g1 = _charger(prop, "GOOD")
    status(good, g1, "available", ago(days=10))
    status(good, g1, "preparing", ago(hours=2))
    session = factories.ChargingSessionFactory(
        connector=g1, started_at=ago(hours=2) + timedelta(seconds=30)
    )
    status(good, g1, "charging", ago(hours=2) + timedelta(minutes=1))
    ChargingSession.objects.filter(pk=session.pk).update(
        state="completed", stopped_at=ago(hours=1), meter_stop_wh=5_000
    )
    status(good, g1, "available", ago(hours=1))

    flaky, _ = _charger(prop, "FLAKY")
    for day in (1, 2, 3):
        connection(flaky, "Disconnected", ago(days=day))
        connection(flaky, "Connected (OCPP 1.6)", ago(days=day) + timedelta(minutes=1))

    broken, b1 = _charger(prop, "BROKEN", online=False)
    status(broken, b1, "available", ago(days=10))
    # Two plug-ins that never became a session.
    status(broken, b1, "preparing", ago(days=3))
    status(broken, b1, "available", ago(days=3) + timedelta(minutes=5))
    status(broken, b1, "preparing", ago(days=2))
    status(broken, b1, "available", ago(days=2) + timedelta(minutes=5))
    # Two faults (the repeated report is the same fault).
    status(broken, b1, "faulted", ago(days=1))
    status(broken, b1, "available", ago(hours=20))
    status(broken, b1, "faulted", ago(hours=5))
    status(broken, b1, "faulted", ago(hours=4))
    broken.connectors.update(status="faulted")
    # A remote start the charger rejected.
    command = CommandLog.objects.create(
        charger=broken,
        command="remote-start",
        source=CommandLog.Source.API,
        outcome=CommandLog.Outcome.ANSWERED,
        status="Rejected",
    )
    CommandLog.objects.filter(pk=command.pk).update(created_at=ago(days=1))

    stall, s1 = _charger(prop, "STALL")
    done = factories.ChargingSessionFactory(connector=s1, started_at=ago(days=2))
    ChargingSession.objects.filter(pk=done.pk).update(
        state="completed", stopped_at=ago(days=2) + timedelta(hours=1), meter_stop_wh=1_000
    )
    # Active for an hour, no meter values since.
    factories.ChargingSessionFactory(connector=s1, started_at=ago(hours=1))
    return prop


def test_ranking_puts_the_worst_charger_first_with_its_reasons(fleet) -> None:
    ranked = health_for_chargers(
        chargers=Charger.objects.filter(zone__property=fleet), start=WEEK_AGO, end=NOW, now=NOW
    )
    assert [(h.charge_point_id, h.score.score) for h in ranked] == [
        # offline 20 + faulted now 20 + 3 of 3 starts failed 30 + 2 faults 20 = 90 off
        ("BROKEN", 10),
        # 2 stalled sessions × 8
        ("STALL", 84),
        # 3 disconnects × 4
        ("FLAKY", 88),
        ("GOOD", 100),
    ]
    broken = ranked[0]
    assert broken.inputs == HealthInputs(
        faults=2,
        start_attempts=3,
        start_failures=3,
        disconnects=0,
        stalled_sessions=0,
        offline_now=True,
        faulted_now=True,
    )
    assert broken.reasons == [
        "3 of 3 start attempts failed",
        "offline now",
        "a connector is faulted now",
        "2 faults",
    ]
    assert ranked[1].stalled_reasons == ("delivered no energy", "no meter values for 30 minutes")
    good = ranked[-1]
    assert (good.inputs.start_attempts, good.inputs.start_failures) == (1, 0)
    assert good.inputs.start_success_percent == 100
    assert good.reasons == []


def test_score_caps_each_input() -> None:
    score = health_score(HealthInputs(faults=50, disconnects=50, stalled_sessions=50))
    assert [d.points for d in score.deductions] == [30, 24, 20]
    assert score.score == 26
    assert health_score(HealthInputs()).score == 100


def test_fault_count_counts_transitions_per_connector() -> None:
    rows = [
        ("c1", ago(hours=5), "faulted"),
        ("c2", ago(hours=5), "faulted"),
        ("c1", ago(hours=4), "faulted"),
        ("c1", ago(hours=3), "available"),
        ("c1", ago(hours=2), "faulted"),
    ]
    assert fault_count(rows, initial={"c2": "faulted"}) == 2


def test_start_outcomes_match_sessions_to_plug_ins() -> None:
    rows = [
        ("c1", ago(hours=3), "preparing"),
        ("c1", ago(hours=3) + timedelta(minutes=2), "available"),  # session matched
        ("c1", ago(hours=2), "preparing"),
        ("c1", ago(hours=2) + timedelta(minutes=2), "available"),  # nothing: failed
        # 2.0.1: authorized (transaction started) ten minutes before the cable went in.
        ("c2", ago(hours=1), "occupied"),
        ("c2", ago(minutes=20), "available"),
        ("c1", ago(minutes=5), "preparing"),  # still open, too young to judge
    ]
    sessions = [
        (
            "c1",
            ago(hours=3) + timedelta(minutes=1),
            ago(hours=3) + timedelta(minutes=1, seconds=30),
        ),
        ("c2", ago(hours=1, minutes=10), ago(minutes=21)),
    ]
    assert start_outcomes(status_rows=rows, sessions=sessions, now=NOW) == (3, 1)


def test_remote_start_outcomes() -> None:
    commands = [
        (ago(hours=3), "answered", "Accepted"),  # session 1 minute later: success
        (ago(hours=2), "answered", "Accepted"),  # no session: failed
        (ago(hours=1), "timeout", ""),  # no answer: failed
        (ago(minutes=1), "answered", "Accepted"),  # too young to judge
        (ago(minutes=1), "pending", ""),
    ]
    starts = [ago(hours=3) + timedelta(minutes=1)]
    assert remote_start_outcomes(commands=commands, session_starts=starts, now=NOW) == (3, 2)
