"""Daily and weekly property reports: their figures, the PDF and CSV downloads, the
pages (own properties only) and the emails (once per period)."""

from __future__ import annotations

import base64
import csv
import io
import re
import zlib
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from apps.chargers.models import ChargingSession
from apps.monitoring.models import ReportDelivery, ReportSubscription
from apps.monitoring.services import reports
from apps.monitoring.tasks.health import reports_send_daily, reports_send_weekly
from tests import factories
from tests.monitoring.health.conftest import at

pytestmark = pytest.mark.django_db

WEEK = {"frequency": "weekly", "date": "2026-06-17"}
UTC_ZONE = ZoneInfo("UTC")


@pytest.fixture
def week(june):
    """The June month, at a property on UTC, with three sessions in the week of
    Monday 15 to Sunday 21 June."""
    june.property.time_zone = "UTC"
    june.property.save()
    first = factories.ChargingSessionFactory(connector=june.c1, started_at=at(16, 8))
    second = factories.ChargingSessionFactory(connector=june.c2, started_at=at(16, 9))
    ChargingSession.objects.filter(pk=first.pk).update(
        state="completed", stopped_at=at(16, 9), meter_stop_wh=11_000
    )
    ChargingSession.objects.filter(pk=second.pk).update(
        state="completed", stopped_at=at(16, 10), meter_stop_wh=6_000
    )
    # Still running, no stop reading: counted as a session, not in the energy.
    factories.ChargingSessionFactory(connector=june.c1, started_at=at(18, 20))
    return june


def weekly_report(week) -> reports.PropertyReport:
    period = reports.report_period(frequency="weekly", tz=UTC_ZONE, day=date(2026, 6, 17))
    return reports.report_build(property=week.property, period=period, now=at(22, 7))


def test_weekly_report_figures(week) -> None:
    report = weekly_report(week)
    assert (report.period.start, report.period.end) == (at(15, 0), at(22, 0))
    # Two ports × 7 days = 20,160 port-minutes.
    # Connector 1: offline 15 June 02:00–03:30 (90, 60 of them utility) + 20 June 30 = 120
    # Connector 2: fault+offline 15 June 01:30–03:30 (120, 60 utility) + 20 June 30 = 150
    # NEVI = (20,160 − (270 − 120)) / 20,160; plain = (20,160 − 270) / 20,160
    assert report.uptime.period_minutes == 20_160
    assert report.uptime.outage_minutes == 270
    assert report.uptime.excluded_minutes == 120
    assert report.uptime.nevi_percent == pytest.approx((20_160 - 150) / 20_160 * 100)
    assert report.uptime.plain_percent == pytest.approx((20_160 - 270) / 20_160 * 100)
    assert report.faults == 1  # connector 2, 15 June 01:30
    assert report.sessions == 3
    assert report.energy_wh == 15_000
    assert report.sessions_without_reading == 1
    assert report.revenue.available is False
    assert report.revenue.display == "not available"
    assert [(b.label, b.sessions, b.energy_wh) for b in report.buckets if b.sessions] == [
        ("Tue 16", 2, 15_000),
        ("Thu 18", 1, 0),
    ]
    assert len(report.buckets) == 7
    # Uptime per day: Monday 15 has 2,880 port-minutes, 210 out, 120 excluded;
    # Saturday 20 has 60 out (two 30-minute disconnects); the other days none.
    monday, saturday = report.buckets[0].uptime, report.buckets[5].uptime
    assert (monday.period_minutes, monday.outage_minutes, monday.excluded_minutes) == (
        2_880,
        210,
        120,
    )
    assert monday.nevi_percent == pytest.approx((2_880 - 90) / 2_880 * 100)
    assert saturday.plain_percent == pytest.approx((2_880 - 60) / 2_880 * 100)
    assert [b.uptime.outage_minutes for b in report.buckets] == [210, 0, 0, 0, 0, 60, 0]
    (line,) = report.chargers
    assert (line.charge_point_id, line.sessions, line.energy_wh, line.faults) == (
        "MAPLE-1",
        3,
        15_000,
        1,
    )
    (problem,) = report.problems
    assert problem.charge_point_id == "MAPLE-1"
    # The week is over: the charger being offline today is not the week's problem.
    assert "offline now" not in problem.reasons
    assert "2 disconnects" in problem.reasons


def test_periods_follow_the_local_calendar() -> None:
    chicago = ZoneInfo("America/Chicago")
    daily = reports.report_period_last_complete(
        frequency="daily", tz=chicago, now=datetime(2026, 6, 23, 12, tzinfo=UTC)
    )
    assert (daily.first_day, daily.start, daily.end) == (
        date(2026, 6, 22),
        datetime(2026, 6, 22, 5, tzinfo=UTC),
        datetime(2026, 6, 23, 5, tzinfo=UTC),
    )
    weekly = reports.report_period_last_complete(
        frequency="weekly", tz=chicago, now=datetime(2026, 6, 24, 12, tzinfo=UTC)
    )
    assert (weekly.first_day, weekly.last_day) == (date(2026, 6, 15), date(2026, 6, 21))


def test_renderings_carry_the_numbers(week) -> None:
    report = weekly_report(week)
    html = reports.report_html(report)
    assert "Maple Yards" in html
    assert "99.26%" in html and "98.66%" in html
    assert "15.0 kWh" in html
    assert "revenue: not available" in html
    assert "<script" not in html and "<img" not in html
    assert 'width="100%" bgcolor="#2f7ed8"' in html  # the biggest bar: Tue 16
    assert "96.9% up" in html  # Monday 15, under the 97% target
    text = reports.report_text(report)
    assert "NEVI uptime:   99.26%" in text
    assert "Revenue:       not available" in text
    assert "1. MAPLE-1" in text


def _pdf_text(data: bytes) -> bytes:
    """The PDF's content streams, decoded (reportlab writes them ASCII85 + Flate)."""
    chunks = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        raw = match.group(1).strip()
        if raw.endswith(b"~>"):
            raw = base64.a85decode(raw[:-2])
        try:
            chunks.append(zlib.decompress(raw))
        except zlib.error:
            chunks.append(raw)
    return b"\n".join(chunks)


def test_pdf_is_a_pdf_with_the_report(week) -> None:
    data = reports.report_pdf(weekly_report(week))
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    content = _pdf_text(data)
    assert b"Maple Yards" in content
    assert b"99.26%" in content
    assert b"MAPLE-1" in content


def test_csv_rows(week) -> None:
    rows = list(csv.reader(io.StringIO(reports.report_csv(weekly_report(week)))))
    summary = {r[0]: r[1] for r in rows if len(r) == 2}
    assert summary["NEVI uptime"] == "99.26%"
    assert summary["Plain uptime"] == "98.66%"
    assert summary["Sessions"] == "3"
    assert summary["Energy"] == "15.0 kWh"
    assert summary["Revenue"] == "not available"
    header = rows.index(next(r for r in rows if r and r[0] == "Charger"))
    charger = dict(zip(rows[header], rows[header + 1], strict=True))
    assert charger["Charger"] == "MAPLE-1"
    assert charger["Outage minutes"] == "270.0"
    assert charger["Sessions"] == "3"
    assert charger["Energy kWh"] == "15.000"
    first_day = rows.index(["Day", "Sessions", "Energy kWh", "NEVI uptime %", "Plain uptime %"]) + 1
    days = {r[0]: r[1:] for r in rows[first_day : first_day + 7]}
    assert days["Tue 16"] == ["2", "15.000", "100.000", "100.000"]
    assert days["Mon 15"] == ["0", "0.000", "96.875", "92.708"]


# --- pages -----------------------------------------------------------------------------


def test_manager_sees_own_report_pages(client, manager_a, week) -> None:
    client.force_login(manager_a)
    index = client.get(reverse("monitoring:report_index"))
    assert index.status_code == 200
    assert "Maple Yards" in index.text
    url = reverse("monitoring:report_detail", args=[week.property.pk])
    with time_machine.travel(at(25, 12), tick=False):
        page = client.get(url, WEEK)
    assert page.status_code == 200
    assert "99.26%" in page.text
    assert "date=2026-06-14" in page.text  # the previous week
    assert "date=2026-06-22" in page.text  # the next one (it has ended)
    pdf = client.get(reverse("monitoring:report_pdf", args=[week.property.pk]), WEEK)
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert "maple-yards-weekly-2026-06-15.pdf" in pdf["Content-Disposition"]
    with time_machine.travel(at(25, 12), tick=False):
        csv_response = client.get(reverse("monitoring:report_csv", args=[week.property.pk]), WEEK)
    assert csv_response["Content-Type"].startswith("text/csv")
    assert "NEVI uptime,99.26%" in csv_response.content.decode()


def test_other_tenant_gets_404_and_no_listing(client, manager_b, week) -> None:
    client.force_login(manager_b)
    assert "Maple Yards" not in client.get(reverse("monitoring:report_index")).text
    for name in ("report_detail", "report_pdf", "report_csv"):
        response = client.get(reverse(f"monitoring:{name}", args=[week.property.pk]), WEEK)
        assert response.status_code == 404, name


def test_anonymous_is_sent_to_login(client, week) -> None:
    response = client.get(reverse("monitoring:report_detail", args=[week.property.pk]))
    assert response.status_code == 302
    assert reverse("admin:login") in response.url


def test_bad_period_is_a_400(client, manager_a, week) -> None:
    client.force_login(manager_a)
    url = reverse("monitoring:report_csv", args=[week.property.pk])
    assert client.get(url, {"frequency": "yearly"}).status_code == 400
    assert client.get(url, {"date": "June"}).status_code == 400


# --- emails -----------------------------------------------------------------------------


@pytest.fixture
def weekly_subscription(week):
    return ReportSubscription.objects.create(
        property=week.property,
        frequency="weekly",
        recipients="ops@example.com,\nowner@example.com",
    )


def test_weekly_email_sent_once_per_period(weekly_subscription) -> None:
    # Monday 22 June 05:00 at the property: too early, wait for the morning.
    with time_machine.travel(at(22, 5), tick=False):
        assert reports_send_weekly() == 0
    assert mail.outbox == []
    with time_machine.travel(at(22, 6, 30), tick=False):
        assert reports_send_weekly() == 1
    (message,) = mail.outbox
    assert message.to == ["ops@example.com", "owner@example.com"]
    assert message.subject == (
        "[Plugboard] Maple Yards — Weekly report, Mon 15 Jun – Sun 21 Jun 2026"
    )
    assert "NEVI uptime:   99.26%" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "99.26%" in html
    (attachment,) = message.attachments
    assert attachment[0] == "maple-yards-weekly-2026-06-15.pdf"
    assert attachment[1].startswith(b"%PDF-")
    # Later runs that week send nothing more.
    for hour in (7, 12, 23):
        with time_machine.travel(at(22, hour), tick=False):
            assert reports_send_weekly() == 0
    with time_machine.travel(at(24, 9), tick=False):
        assert reports_send_weekly() == 0
    assert len(mail.outbox) == 1
    delivery = ReportDelivery.objects.get()
    assert (delivery.period_start, delivery.period_end) == (at(15, 0), at(22, 0))
    # The next week's report goes out the next Monday.
    with time_machine.travel(at(29, 6, 5), tick=False):
        assert reports_send_weekly() == 1
    assert len(mail.outbox) == 2
    assert "Mon 22 Jun – Sun 28 Jun 2026" in mail.outbox[1].subject


def test_daily_email_in_the_property_time_zone(week) -> None:
    week.property.time_zone = "America/Chicago"
    week.property.save()
    ReportSubscription.objects.create(
        property=week.property, frequency="daily", recipients="ops@example.com"
    )
    # 10:00 UTC is 05:00 in Chicago: not yet; 11:00 UTC is 06:00: yesterday's report.
    with time_machine.travel(at(17, 10), tick=False):
        assert reports_send_daily() == 0
    with time_machine.travel(at(17, 11), tick=False):
        assert reports_send_daily() == 1
    assert "Daily report, Tue 16 Jun 2026" in mail.outbox[0].subject
    assert "Sessions:      2" in mail.outbox[0].body


def test_disabled_subscription_sends_nothing(weekly_subscription) -> None:
    weekly_subscription.is_enabled = False
    weekly_subscription.save()
    with time_machine.travel(at(22, 8), tick=False):
        assert reports_send_weekly() == 0
    assert mail.outbox == []


def test_failed_send_is_retried_next_run(weekly_subscription, monkeypatch) -> None:
    from django.core.mail.backends.locmem import EmailBackend

    def fail(self, messages):
        raise ConnectionError("SMTP server down")

    monkeypatch.setattr(EmailBackend, "send_messages", fail)
    with time_machine.travel(at(22, 7), tick=False), pytest.raises(ConnectionError):
        reports_send_weekly()
    assert not ReportDelivery.objects.exists()
    monkeypatch.undo()
    with time_machine.travel(at(22, 8), tick=False):
        assert reports_send_weekly() == 1
    assert len(mail.outbox) == 1


def test_outages_are_listed_in_local_time(week) -> None:
    week.property.time_zone = "America/Chicago"
    week.property.save()
    chicago = ZoneInfo("America/Chicago")
    period = reports.report_period(frequency="weekly", tz=chicago, day=date(2026, 6, 17))
    report = reports.report_build(property=week.property, period=period, now=at(22, 12))
    # Chicago's week of 15 June: 15 June 05:00 UTC to 22 June 05:00 UTC; the outages of
    # 15 June 01:30–03:30 UTC fall before it, those of 20 June in it.
    assert [(o.charge_point_id, o.connector_id, o.outage.minutes) for o in report.outages] == [
        ("MAPLE-1", 1, 30),
        ("MAPLE-1", 2, 30),
    ]
    html = reports.report_html(report)
    assert "Sat 20 Jun 05:00" in html  # 10:00 UTC is 05:00 in Chicago (CDT)
    rows = list(csv.reader(io.StringIO(reports.report_csv(report))))
    header = rows.index(
        [
            "Outage start",
            "Outage end",
            "Charger",
            "Connector",
            "Minutes",
            "Excluded minutes",
            "Reasons",
        ]
    )
    assert rows[header + 1] == [
        "2026-06-20T10:00:00+00:00",
        "2026-06-20T10:30:00+00:00",
        "MAPLE-1",
        "1",
        "30.0",
        "0.0",
        "offline",
    ]


def test_health_ranking_page_shows_own_chargers_worst_first(client, manager_a, manager_b, org_a):
    prop = factories.PropertyFactory(organization=org_a, name="Elm Court")
    factories.ChargerFactory(zone__property=prop, charge_point_id="ELM-OK", channel_name="c")
    down = factories.ChargerFactory(zone__property=prop, charge_point_id="ELM-DOWN")
    factories.ConnectorFactory(charger=down, status="faulted")
    client.force_login(manager_a)
    page = client.get(reverse("monitoring:health_ranking"), {"property": prop.pk})
    assert page.status_code == 200
    assert [h.charge_point_id for h in page.context["ranked"]] == ["ELM-DOWN", "ELM-OK"]
    assert "offline now; a connector is faulted now" in page.text
    client.force_login(manager_b)
    assert (
        client.get(reverse("monitoring:health_ranking"), {"property": prop.pk}).status_code == 404
    )
    assert "ELM-DOWN" not in client.get(reverse("monitoring:health_ranking")).text
    assert client.get(reverse("monitoring:health_ranking"), {"days": "x"}).status_code == 400


def test_report_tasks_are_scheduled_and_registered() -> None:
    from django.conf import settings

    from config.celery import app

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"monitoring.reports_send_daily", "monitoring.reports_send_weekly"} <= scheduled
    app.loader.import_default_modules()
    assert "monitoring.reports_send_daily" in app.tasks
    assert "monitoring.reports_send_weekly" in app.tasks


def test_daily_report_has_an_hour_per_bar_even_when_clocks_change(june) -> None:
    # 1 November 2026: Chicago falls back, the day has 25 hours.
    chicago = ZoneInfo("America/Chicago")
    period = reports.report_period(frequency="daily", tz=chicago, day=date(2026, 11, 1))
    report = reports.report_build(property=june.property, period=period, now=at(2, 12, month=11))
    assert len(report.buckets) == 25
    assert [b.label for b in report.buckets[:3]] == ["00:00", "01:00", "01:00"]
    assert report.uptime.period_minutes == 2 * 25 * 60


def test_period_before_the_chargers_were_in_service_says_so(week) -> None:
    """Nothing was measured before the chargers were registered: the email, the PDF
    and the CSV say "not in service" instead of boasting 100 %."""
    period = reports.report_period(frequency="weekly", tz=UTC_ZONE, day=date(2026, 1, 7))
    report = reports.report_build(property=week.property, period=period, now=at(22, 7))
    assert report.uptime.period_minutes == 0
    text = reports.report_text(report)
    assert "Uptime:        not in service in this period" in text
    assert "MAPLE-1: not in service," in text
    html = reports.report_html(report)
    assert 'data-figure="nevi">—' in html and "not in service in this period" in html
    pdf = _pdf_text(reports.report_pdf(report))
    assert b"not in service" in pdf
    for rendering in (text, html, pdf.decode("latin-1"), reports.report_csv(report)):
        assert "100.00" not in rendering
    # A past period is not marked down for the chargers' state today.
    assert all("offline now" not in line.reasons for line in report.chargers)
