"""Uptime per 23 CFR 680.116(b): a month with outages, computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from apps.chargers.models import Charger
from apps.monitoring.models import OutageCause, OutageExclusion, UptimePolicy
from apps.monitoring.selectors.health import uptime_for_chargers
from apps.monitoring.services.uptime import (
    closed_hours,
    connection_state,
    down_intervals,
    intervals_intersect,
    intervals_merge,
    nevi_uptime_percent,
    uptime_compute,
)
from tests.monitoring.health.conftest import JULY, JUNE, at

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, tzinfo=UTC)
JUNE_MINUTES = 30 * 24 * 60  # 43,200


def test_uptime_matches_a_hand_computed_month(june) -> None:
    report = uptime_for_chargers(
        chargers=Charger.objects.filter(pk=june.charger.pk), start=JUNE, end=JULY, now=NOW
    )
    c1, c2 = report.connectors
    assert (c1.connector_id, c2.connector_id) == (1, 2)

    # Connector 1
    #   outage:   (1) fault 120 + (2) unavailable 240 + (3) offline 90 + (4) offline 30 = 480
    #   excluded: (2) maintenance 180 + (3) utility 60                                   = 240
    #   NEVI  µ = (43,200 − (480 − 240)) / 43,200 = 42,960 / 43,200 = 99.4444…%
    #   plain   = (43,200 − 480) / 43,200         = 42,720 / 43,200 = 98.8888…%
    assert c1.uptime.period_minutes == JUNE_MINUTES
    assert c1.uptime.outage_minutes == 480
    assert c1.uptime.excluded_minutes == 240
    assert c1.uptime.nevi_percent == pytest.approx(42_960 / 43_200 * 100)
    assert c1.uptime.plain_percent == pytest.approx(42_720 / 43_200 * 100)
    assert round(c1.uptime.nevi_percent, 2) == 99.44
    assert round(c1.uptime.plain_percent, 2) == 98.89

    # Connector 2
    #   outage:   (3) fault 01:30–02:30 ∪ offline 02:00–03:30 = 01:30–03:30 = 120
    #             + (4) offline 30 + (5) fault 60                          = 210
    #   excluded: (3) utility 02:00–03:00 = 60; (5) vandalism: not excluded by policy
    #   NEVI  µ = (43,200 − (210 − 60)) / 43,200 = 43,050 / 43,200 = 99.6527…%
    #   plain   = (43,200 − 210) / 43,200        = 42,990 / 43,200 = 99.5138…%
    assert c2.uptime.outage_minutes == 210
    assert c2.uptime.excluded_minutes == 60
    assert c2.uptime.nevi_percent == pytest.approx(43_050 / 43_200 * 100)
    assert c2.uptime.plain_percent == pytest.approx(42_990 / 43_200 * 100)

    # The property: both ports' minutes together.
    #   NEVI  = (86,400 − (690 − 300)) / 86,400 = 86,010 / 86,400 = 99.5486…%
    #   plain = (86,400 − 690) / 86,400        = 85,710 / 86,400 = 99.2013…%
    assert report.total.period_minutes == 86_400
    assert report.total.outage_minutes == 690
    assert report.total.excluded_minutes == 300
    assert report.total.nevi_percent == pytest.approx(86_010 / 86_400 * 100)
    assert report.total.plain_percent == pytest.approx(85_710 / 86_400 * 100)

    # Each outage with its length and reasons (what NEVI's data submittal asks for).
    assert [(o.start, o.minutes, o.reasons, o.excluded_minutes) for o in c2.uptime.outages] == [
        (at(15, 1, 30), 120, ("connector", "offline"), 60),
        (at(20, 10), 30, ("offline",), 0),
        (at(25, 0), 60, ("connector",), 0),
    ]
    assert c1.meets_target and c2.meets_target


def test_policy_decides_which_documented_causes_are_excluded(june, org_a) -> None:
    # With vandalism excluded, connector 2's fault on 25 June (60 min) no longer counts.
    UptimePolicy.objects.filter(organization=org_a).update(exclude_vandalism=True)
    report = uptime_for_chargers(
        chargers=Charger.objects.filter(pk=june.charger.pk), start=JUNE, end=JULY, now=NOW
    )
    assert report.connectors[1].uptime.excluded_minutes == 120
    # Without any policy the NEVI defaults apply (vandalism excluded too).
    UptimePolicy.objects.all().delete()
    report = uptime_for_chargers(
        chargers=Charger.objects.filter(pk=june.charger.pk), start=JUNE, end=JULY, now=NOW
    )
    assert report.connectors[1].uptime.excluded_minutes == 120
    assert report.policies[june.property.pk].source == "NEVI defaults"


def test_a_property_policy_overrides_the_organization_default(june, org_a) -> None:
    # The property opens 06:00–22:00 Chicago time (UTC−5 in June), i.e. it is closed
    # 03:00–11:00 UTC. Connector 1's outages, excluded minutes now:
    #   3 June 10:00–12:00 fault:        10:00–11:00 closed                    =  60
    #   10 June 08:00–12:00 unavailable: 08:00–11:00 maintenance (and closed) = 180
    #   15 June 02:00–03:30 offline:     02:00–03:00 utility, 03:00–03:30 closed = 90
    #   20 June 10:00–10:30 offline:     all closed                            =  30
    #   total                                                                  = 360
    UptimePolicy.objects.create(
        organization=org_a,
        property=june.property,
        opens_at=time(6),
        closes_at=time(22),
        exclude_vandalism=False,
    )
    report = uptime_for_chargers(
        chargers=Charger.objects.filter(pk=june.charger.pk), start=JUNE, end=JULY, now=NOW
    )
    assert report.policies[june.property.pk].source == "property"
    assert report.connectors[0].uptime.excluded_minutes == 360
    assert report.connectors[0].uptime.outage_minutes == 480


def test_exclusions_of_another_connector_or_cause_outside_policy_do_not_apply(june) -> None:
    OutageExclusion.objects.create(
        property=june.property,
        charger=june.charger,
        connector=june.c2,
        cause=OutageCause.SCHEDULED_MAINTENANCE,
        starts_at=at(3, 10),
        ends_at=at(3, 12),
    )
    OutageExclusion.objects.create(
        property=june.property,
        cause=OutageCause.OTHER,  # not excluded by default
        starts_at=at(3, 10),
        ends_at=at(3, 12),
    )
    report = uptime_for_chargers(
        chargers=Charger.objects.filter(pk=june.charger.pk), start=JUNE, end=JULY, now=NOW
    )
    assert report.connectors[0].uptime.excluded_minutes == 240


def test_period_starts_at_registration_and_ends_now(june) -> None:
    # Registered 1 May; asked for April–June: counted from 1 May.
    report = uptime_for_chargers(
        chargers=Charger.objects.filter(pk=june.charger.pk),
        start=datetime(2026, 4, 1, tzinfo=UTC),
        end=JULY,
        now=NOW,
    )
    # 1 May 00:00 – 31 May 23:00 the charger had never connected: offline.
    first = report.connectors[0].uptime
    assert first.period_minutes == (61 * 24 * 60)
    assert first.outage_minutes == 480 + (30 * 24 + 23) * 60
    # Asked up to a future date: counted up to now.
    report = uptime_for_chargers(
        chargers=Charger.objects.filter(pk=june.charger.pk),
        start=JUNE,
        end=JULY,
        now=at(16, 0),
    )
    assert report.connectors[0].uptime.period_minutes == 15 * 24 * 60


def test_charger_whose_socket_is_gone_counts_offline_until_now(june) -> None:
    # History ends "connected" but the charger has no socket now (its server
    # process died before the sweep): offline since last heard from.
    Charger.objects.filter(pk=june.charger.pk).update(last_seen_at=at(29, 0), channel_name="")
    report = uptime_for_chargers(
        chargers=Charger.objects.filter(pk=june.charger.pk), start=JUNE, end=JULY, now=at(30, 0)
    )
    assert report.connectors[0].uptime.outage_minutes == 480 + 24 * 60


# --- the pure functions -------------------------------------------------------------------


def test_nevi_formula_over_a_year() -> None:
    # 525,600 minutes; 20,000 minutes out, 5,000 of them excluded: 97.1461…%
    assert nevi_uptime_percent(
        period_minutes=525_600, outage_minutes=20_000, excluded_minutes=5_000
    ) == pytest.approx((525_600 - 15_000) / 525_600 * 100)


def test_intervals_merge_and_intersect() -> None:
    a = [(at(1, 2), at(1, 4)), (at(1, 1), at(1, 3)), (at(1, 6), at(1, 7))]
    assert intervals_merge(a) == [(at(1, 1), at(1, 4)), (at(1, 6), at(1, 7))]
    assert intervals_intersect(a, [(at(1, 3), at(1, 6, 30))]) == [
        (at(1, 3), at(1, 4)),
        (at(1, 6), at(1, 6, 30)),
    ]


def test_down_intervals_from_transitions() -> None:
    spans = down_intervals(
        [(at(1, 1), True), (at(1, 2), True), (at(1, 3), False), (at(1, 5), True)],
        down_at_start=True,
        start=at(1, 0),
        end=at(1, 6),
    )
    assert spans == [(at(1, 0), at(1, 3)), (at(1, 5), at(1, 6))]


def test_closed_hours_follow_local_time() -> None:
    tz = ZoneInfo("America/Chicago")
    spans = closed_hours(start=at(1, 0), end=at(2, 0), tz=tz, opens_at=time(6), closes_at=time(22))
    # Chicago is UTC−5 in June: open 11:00–03:00 UTC next day.
    assert spans == [(at(1, 3), at(1, 11))]
    overnight = closed_hours(
        start=at(1, 0), end=at(2, 0), tz=tz, opens_at=time(18), closes_at=time(2)
    )
    # Open 18:00–02:00 local = 23:00–07:00 UTC: closed 07:00–23:00 UTC.
    assert overnight == [(at(1, 7), at(1, 23))]


def test_connection_events_are_classified() -> None:
    assert connection_state("Connected (OCPP 2.0.1)", {}) is True
    assert connection_state("Back online: heard from again", {}) is True
    assert connection_state("Disconnected", {}) is False
    assert connection_state("Disconnected: the server stopped", {"grace_s": 0}) is False
    assert connection_state("Gone", {"grace_s": 720}) is False
    assert connection_state("Older connection closed", {}) is None


def test_uptime_compute_overlaps_count_once() -> None:
    uptime = uptime_compute(
        start=at(1, 0),
        end=at(1, 0) + timedelta(minutes=1000),
        down={"connector": [(at(1, 1), at(1, 3))], "offline": [(at(1, 2), at(1, 4))]},
        excluded=[(at(1, 3), at(1, 5))],
    )
    assert uptime.outage_minutes == 180
    assert uptime.excluded_minutes == 60
    assert uptime.nevi_percent == pytest.approx((1000 - 120) / 1000 * 100)
