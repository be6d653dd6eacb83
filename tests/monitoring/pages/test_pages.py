"""The monitoring pages are one product: every page a manager opens has the same
top navigation with its own item marked current, our stylesheet (no inline
<style>), and the charger page links the charger to its uptime and health."""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.chargers.models import Charger, ChargingSession, StatusChange
from apps.monitoring.services import reports
from apps.monitoring.services.health import FAULT_POINTS
from tests import factories
from tests.monitoring.pages.conftest import FAULT_START, NOW

pytestmark = pytest.mark.django_db

SCORE = round(100 - FAULT_POINTS)  # one fault in the window
NAV_ITEMS = ("Live status", "Reports", "Charger health", "Admin")


def _current_nav(html: str) -> list[str]:
    topnav = re.search(r'<nav class="topnav".*?</nav>', html, re.S)
    assert topnav, "the page has the shared top navigation"
    labels = re.findall(r"<a [^>]*>([^<]+)</a>", topnav.group(0))
    assert tuple(labels) == NAV_ITEMS
    return re.findall(r'<a [^>]*aria-current="page"[^>]*>([^<]+)</a>', topnav.group(0))


def _pages(site) -> list[tuple[str, str]]:
    prop, cp = site.property.pk, site.charger.charge_point_id
    return [
        (reverse("monitoring:dashboard"), "Live status"),
        (reverse("monitoring:charger", args=[cp]), "Live status"),
        (reverse("monitoring:charger-sessions", args=[cp]), "Live status"),
        (reverse("monitoring:report_index"), "Reports"),
        (reverse("monitoring:report_detail", args=[prop]) + "?frequency=daily", "Reports"),
        (reverse("monitoring:report_detail", args=[prop]) + "?frequency=weekly", "Reports"),
        (reverse("monitoring:health_ranking"), "Charger health"),
        (reverse("monitoring:health_ranking") + f"?property={prop}&days=30", "Charger health"),
    ]


def test_pages_share_navigation_and_stylesheet(client, manager_a, site):
    client.force_login(manager_a)
    for url, current in _pages(site):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.text
        assert _current_nav(html) == [current], url
        assert "monitoring/monitoring.css" in html, url
        assert "<style" not in html, url
        assert 'class="skip-link"' in html, url


def test_report_page_has_period_picker_cards_and_explained_uptime(client, manager_a, site):
    client.force_login(manager_a)
    url = reverse("monitoring:report_detail", args=[site.property.pk])
    # The week of Monday 22 June holds the fault (27 June, 432 of the week's
    # 10,080 minutes): 95.71% up, under the 97% target.
    html = client.get(url, {"frequency": "weekly", "date": "2026-06-24"}).text
    assert 'name="frequency"' in html and 'name="date" value="2026-06-22"' in html
    assert "Previous week" in html and "date=2026-06-21" in html
    assert "Next week" in html and "date=2026-06-29" in html  # it has ended
    nevi = re.search(r'class="stat is-bad">\s*<span class="stat-label">NEVI uptime', html)
    assert nevi, "NEVI uptime is a summary card, marked as missing the target"
    assert 'data-figure="nevi">95.71%' in html
    assert 'data-figure="plain">95.71%' in html
    assert "misses the target of &gt; 97%" in html
    assert "23 CFR 680.116(b)" in html and "Plain uptime</strong> counts every outage" in html
    # The charger's row links to its page; its health score is a coloured pill.
    assert f'href="{reverse("monitoring:charger", args=["BIRCH-1"])}"' in html
    assert f'<span class="score score-good">{SCORE}</span>' in html


def test_report_page_without_chargers_in_service_shows_no_figure(client, manager_a, site):
    """Before the charger was registered nothing was measured: no 100% to boast."""
    client.force_login(manager_a)
    url = reverse("monitoring:report_detail", args=[site.property.pk])
    html = client.get(url, {"frequency": "daily", "date": "2026-04-01"}).text
    assert 'data-figure="nevi">—' in html
    assert "not in service in this period" in html
    assert "100.00%" not in html


def test_health_page_ranks_with_reasons_and_summary(client, manager_a, site):
    factories.ChargerFactory(
        charge_point_id="BIRCH-2", zone=site.charger.zone, channel_name="test.channel!BIRCH-2"
    )
    client.force_login(manager_a)
    response = client.get(reverse("monitoring:health_ranking"), {"property": site.property.pk})
    html = response.text
    assert [h.charge_point_id for h in response.context["ranked"]] == ["BIRCH-1", "BIRCH-2"]
    assert response.context["summary"] == {"attention": 0, "watch": 0, "healthy": 2}
    assert '<td class="reasons">1 fault</td>' in html
    assert f'href="{reverse("monitoring:charger", args=["BIRCH-1"])}"' in html
    assert "Points come off for being offline or faulted now" in html


def test_charger_page_shows_uptime_and_health(client, manager_a, site):
    client.force_login(manager_a)
    html = client.get(reverse("monitoring:charger", args=["BIRCH-1"])).text
    vitals = html[html.index('id="vitals"') :]
    vitals = vitals[: vitals.index("</section>")]
    # 432 faulted minutes of 43,200: 99% up, NEVI and plain alike (no exclusions).
    assert 'data-figure="nevi">99.00%' in vitals
    assert 'data-figure="plain">99.00%' in vitals
    assert "432 outage min" in vitals
    assert "target &gt; 97%" in vitals
    assert f'<span class="score score-good">{SCORE}</span>' in vitals
    assert "<li>1 fault</li>" in vitals
    assert f"?property={site.property.pk}" in vitals  # the ranking of its property
    assert reverse("monitoring:report_detail", args=[site.property.pk]) in vitals
    assert "measured since the charger was registered" not in vitals  # older than 30 days


def test_charger_page_new_charger_is_measured_from_registration(client, manager_a, site):
    Charger.objects.filter(pk=site.charger.pk).update(created_at=NOW - timedelta(days=5))
    client.force_login(manager_a)
    html = client.get(reverse("monitoring:charger", args=["BIRCH-1"])).text
    assert "measured since the charger was registered, 2026-06-25 12:00" in html
    # 432 of the 7,200 minutes since: 94.00%.
    assert 'data-figure="nevi">94.00%' in html


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_charger_page_query_count_does_not_grow_with_history(client, manager_a, site):
    client.force_login(manager_a)
    url = reverse("monitoring:charger", args=["BIRCH-1"])

    def session(at):
        factories.ChargingSessionFactory(
            charger=site.charger,
            connector=site.connector,
            started_at=at + timedelta(hours=1),
            stopped_at=at + timedelta(hours=2),
            state=ChargingSession.State.COMPLETED,
        )

    session(FAULT_START)  # one session: the page then draws its chart
    small = _queries(client, url)
    for day in range(1, 20):
        at = FAULT_START - timedelta(days=day)
        StatusChange.objects.create(
            charger=site.charger, connector=site.connector, status="faulted", reported_at=at
        )
        StatusChange.objects.create(
            charger=site.charger,
            connector=site.connector,
            status="available",
            reported_at=at + timedelta(minutes=5),
        )
        session(at)
    assert _queries(client, url) == small


def test_other_organization_sees_none_of_it(client, manager_b, site):
    client.force_login(manager_b)
    assert client.get(reverse("monitoring:charger", args=["BIRCH-1"])).status_code == 404
    url = reverse("monitoring:report_detail", args=[site.property.pk])
    assert client.get(url).status_code == 404
    ranking = client.get(reverse("monitoring:health_ranking"))
    assert ranking.status_code == 200
    assert "BIRCH-1" not in ranking.text
    assert "Birch Lofts" not in client.get(reverse("monitoring:report_index")).text
    assert _current_nav(ranking.text) == ["Charger health"]


def test_report_email_stays_self_contained(site):
    """The email is not the web page: inline styles, no stylesheet, no navigation."""
    report = reports.report_build(
        property=site.property,
        period=reports.report_period(frequency="weekly", tz=ZoneInfo("UTC"), day=date(2026, 6, 24)),
        now=NOW,
    )
    html = reports.report_html(report)
    assert "monitoring.css" not in html and "topnav" not in html
    assert 'style="' in html and "95.71%" in html


def test_report_index_shows_each_property_at_a_glance(client, manager_a, site):
    # A second property whose only charger is offline and faulted now: 60 points off.
    other = factories.PropertyFactory(organization=site.property.organization, name="Aspen Row")
    broken = factories.ChargerFactory(
        charge_point_id="ASPEN-1", zone=factories.ZoneFactory(property=other)
    )
    factories.ConnectorFactory(charger=broken, connector_id=1, status="faulted")
    client.force_login(manager_a)
    html = client.get(reverse("monitoring:report_index")).text
    rows = {
        name: row
        for row in re.findall(r"<tr>.*?</tr>", html, re.S)
        for name in ("Birch Lofts", "Aspen Row")
        if name in row
    }
    assert list(rows) == ["Aspen Row", "Birch Lofts"]  # by name within the organization
    # The last 7 days hold the 432-minute fault: 1 - 432 / 10,080 = 95.71%.
    assert '<span class="bad">95.71%</span>' in rows["Birch Lofts"]
    assert '<td data-figure="attention"><a class="muted"' in rows["Birch Lofts"]
    assert "1 charger</a>" in rows["Aspen Row"]
    assert f"?property={other.pk}" in rows["Aspen Row"]
    assert "under 70" in html


def test_report_index_query_count_does_not_grow_with_properties(client, manager_a, site):
    client.force_login(manager_a)
    url = reverse("monitoring:report_index")
    small = _queries(client, url)
    for n in range(4):
        prop = factories.PropertyFactory(organization=site.property.organization)
        charger = factories.ChargerFactory(zone=factories.ZoneFactory(property=prop))
        factories.ConnectorFactory(charger=charger, connector_id=1)
        StatusChange.objects.create(
            charger=charger, status="faulted", reported_at=NOW - timedelta(hours=n + 1)
        )
    assert _queries(client, url) == small
