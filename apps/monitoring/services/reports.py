"""Daily and weekly property reports: build the figures once, then render them as an
email (HTML with CSS bar charts and a text alternative), a PDF (reportlab) or CSV,
and send them to a subscription's recipients once per period.

Periods follow the property's local calendar: a daily report covers one local day
(00:00–24:00 in the property's time zone), a weekly one Monday 00:00 to the next
Monday 00:00. The send tasks run hourly and mail a property's report once it is
REPORT_SEND_HOUR local time on the day after the period, so recipients read it in
the morning wherever the property is."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

from apps.chargers.models import Charger, ChargingSession
from apps.monitoring.models import ReportDelivery, ReportSubscription
from apps.monitoring.selectors.health import (
    ChargerHealth,
    PolicyView,
    health_for_chargers,
    policies_for,
    uptime_for_chargers,
)
from apps.monitoring.services.uptime import Outage, Uptime, uptime_sum
from apps.sites.exceptions import NotFound
from apps.sites.models import Property

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

REPORT_SEND_HOUR = 6  # local time at the property
TOP_PROBLEMS = 5
SHOWN_OUTAGES = 10  # in the email and PDF; the CSV lists all

Frequency = ReportSubscription.Frequency


# --- periods ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportPeriod:
    frequency: str
    first_day: date  # local dates, inclusive
    last_day: date
    start: datetime  # aware, UTC
    end: datetime

    @property
    def label(self) -> str:
        if self.first_day == self.last_day:
            return f"{self.first_day:%a %d %b %Y}"
        return f"{self.first_day:%a %d %b} – {self.last_day:%a %d %b %Y}"

    @property
    def previous_day(self) -> date:
        return self.first_day - timedelta(days=1)

    @property
    def next_day(self) -> date:
        return self.last_day + timedelta(days=1)

    @property
    def days(self) -> list[date]:
        return [
            self.first_day + timedelta(days=n)
            for n in range((self.last_day - self.first_day).days + 1)
        ]


def report_period(*, frequency: str, tz: ZoneInfo, day: date) -> ReportPeriod:
    """The daily or weekly period that contains the local date `day`."""
    first = day if frequency == Frequency.DAILY else day - timedelta(days=day.weekday())
    length = 1 if frequency == Frequency.DAILY else 7
    last = first + timedelta(days=length - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(UTC)
    return ReportPeriod(frequency=frequency, first_day=first, last_day=last, start=start, end=end)


def report_period_last_complete(*, frequency: str, tz: ZoneInfo, now: datetime) -> ReportPeriod:
    """The latest period that has ended at `now` (yesterday, or last week)."""
    today = now.astimezone(tz).date()
    current = report_period(frequency=frequency, tz=tz, day=today)
    return report_period(frequency=frequency, tz=tz, day=current.first_day - timedelta(days=1))


# --- revenue --------------------------------------------------------------------------


@dataclass(frozen=True)
class Revenue:
    available: bool
    amount_minor: int | None = None
    currency: str = ""
    note: str = ""

    @property
    def display(self) -> str:
        if not self.available or self.amount_minor is None:
            return "not available"
        return f"{self.amount_minor / 100:,.2f} {self.currency}"


def revenue_for(*, property: Property, start: datetime, end: datetime) -> Revenue:  # noqa: A002
    """The property's charging revenue in [start, end). Billing (apps.billing) does
    not record payments yet: when it does, sum them here; every rendering already
    shows `Revenue.display`."""
    return Revenue(available=False, note="Billing is not set up yet.")


# --- the report ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChargerLine:
    charge_point_id: str
    name: str
    uptime: Uptime
    faults: int
    sessions: int
    energy_wh: int
    score: int
    reasons: tuple[str, ...]

    @property
    def energy_kwh(self) -> float:
        return self.energy_wh / 1000


@dataclass(frozen=True)
class OutageLine:
    """One outage of one port: NEVI's data submittal asks for each one's length."""

    charge_point_id: str
    connector_id: int
    outage: Outage


@dataclass(frozen=True)
class Bucket:
    """One bar of the activity chart: an hour (daily report) or a day (weekly)."""

    label: str
    sessions: int
    energy_wh: int
    uptime: Uptime

    @property
    def energy_kwh(self) -> float:
        return self.energy_wh / 1000


@dataclass(frozen=True)
class PropertyReport:
    property_id: int
    property_name: str
    organization_name: str
    time_zone: str
    period: ReportPeriod
    generated_at: datetime
    uptime: Uptime
    policy: PolicyView
    faults: int
    sessions: int
    energy_wh: int
    sessions_without_reading: int
    revenue: Revenue
    chargers: list[ChargerLine]
    buckets: list[Bucket]
    problems: list[ChargerHealth] = field(default_factory=list)
    outages: list[OutageLine] = field(default_factory=list)

    @property
    def longest_outages(self) -> list[OutageLine]:
        return sorted(self.outages, key=lambda o: (-o.outage.minutes, o.outage.start))[
            :SHOWN_OUTAGES
        ]

    @property
    def title(self) -> str:
        kind = "Daily" if self.period.frequency == Frequency.DAILY else "Weekly"
        return f"{self.property_name} — {kind} report, {self.period.label}"

    @property
    def energy_kwh(self) -> float:
        return self.energy_wh / 1000

    @property
    def chart_max_energy_wh(self) -> int:
        return max([b.energy_wh for b in self.buckets] + [1])

    @property
    def chart_bars(self) -> list[tuple[Bucket, int]]:
        """Each bucket with its bar width in percent of the largest (for CSS charts)."""
        top = self.chart_max_energy_wh
        return [(b, round(b.energy_wh / top * 100)) for b in self.buckets]


def report_build(*, property: Property, period: ReportPeriod, now: datetime) -> PropertyReport:  # noqa: A002
    """Every figure of one property's report for one period."""
    tz = ZoneInfo(property.time_zone)
    chargers = Charger.objects.filter(zone__property=property)
    slices = _bucket_spans(period, tz)
    uptime = uptime_for_chargers(
        chargers=chargers,
        start=period.start,
        end=period.end,
        now=now,
        slices=[(s, e) for _, s, e in slices],
    )
    health = health_for_chargers(chargers=chargers, start=period.start, end=period.end, now=now)
    sessions = list(
        ChargingSession.objects.filter(
            charger__zone__property=property,
            started_at__gte=period.start,
            started_at__lt=period.end,
        )
        .order_by("started_at", "pk")
        .values_list("charger_id", "started_at", "energy_wh")
    )
    per_charger: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    per_bucket = [[0, 0] for _ in slices]
    for charger_id, started_at, energy_wh in sessions:
        per_charger[charger_id][0] += 1
        per_charger[charger_id][1] += energy_wh or 0
        for index, (_, span_start, span_end) in enumerate(slices):
            if span_start <= started_at < span_end:
                per_bucket[index][0] += 1
                per_bucket[index][1] += energy_wh or 0
                break

    uptime_by_charger = {cp: total for cp, total in uptime.by_charger()}
    lines = [
        ChargerLine(
            charge_point_id=h.charge_point_id,
            name=h.charger_name,
            uptime=uptime_by_charger.get(h.charge_point_id, uptime_sum([])),
            faults=h.inputs.faults,
            sessions=per_charger[h.charger_id][0],
            energy_wh=per_charger[h.charger_id][1],
            score=h.score.score,
            reasons=tuple(h.reasons),
        )
        for h in sorted(health, key=lambda h: h.charge_point_id)
    ]
    return PropertyReport(
        property_id=property.pk,
        property_name=property.name,
        organization_name=property.organization.name,
        time_zone=property.time_zone,
        period=period,
        generated_at=now,
        uptime=uptime.total,
        policy=policies_for([property])[property.pk],
        faults=sum(h.inputs.faults for h in health),
        sessions=len(sessions),
        energy_wh=sum(e or 0 for _, _, e in sessions),
        sessions_without_reading=sum(1 for _, _, e in sessions if e is None),
        revenue=revenue_for(property=property, start=period.start, end=period.end),
        chargers=lines,
        buckets=[
            Bucket(label, count, energy, uptime.slices[index])
            for index, ((label, _, _), (count, energy)) in enumerate(
                zip(slices, per_bucket, strict=True)
            )
        ],
        problems=[h for h in health if h.score.score < 100][:TOP_PROBLEMS],
        outages=[
            OutageLine(row.charge_point_id, row.connector_id, outage)
            for row in uptime.connectors
            for outage in row.uptime.outages
        ],
    )


def _bucket_spans(period: ReportPeriod, tz: ZoneInfo) -> list[tuple[str, datetime, datetime]]:
    """The chart's bars: each hour of a daily report (23 or 25 on the days the clocks
    change), each local day of a weekly one."""
    if period.frequency == Frequency.DAILY:
        spans = []
        at = period.start
        while at < period.end:
            spans.append((f"{at.astimezone(tz):%H:00}", at, at + timedelta(hours=1)))
            at += timedelta(hours=1)
        return spans
    return [
        (
            f"{day:%a %d}",
            datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC),
            datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(
                UTC
            ),
        )
        for day in period.days
    ]


def report_for_user(
    *,
    user: AnyUser,
    property_id: int,
    frequency: str,
    day: date | None,
    now: datetime,
) -> PropertyReport:
    """The report a signed-in user asked for: a property of theirs (else not found),
    the period containing `day` (default: the latest complete one)."""
    prop = (
        Property.objects.visible_to(user)
        .select_related("organization")
        .filter(pk=property_id)
        .first()
    )
    if prop is None:
        raise NotFound(f"No property {property_id}.")
    tz = ZoneInfo(prop.time_zone)
    period = (
        report_period(frequency=frequency, tz=tz, day=day)
        if day is not None
        else report_period_last_complete(frequency=frequency, tz=tz, now=now)
    )
    return report_build(property=prop, period=period, now=now)


# --- renderings -------------------------------------------------------------------------


def report_html(report: PropertyReport, *, standalone: bool = True) -> str:
    return render_to_string(
        "monitoring/reports/email.html", {"report": report, "standalone": standalone}
    )


def report_text(report: PropertyReport) -> str:
    return render_to_string("monitoring/reports/email.txt", {"report": report})


def report_csv(report: PropertyReport) -> str:
    """The figures as CSV: a summary, one row per charger, one per hour/day."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Report", report.property_name, report.period.frequency, report.period.label])
    writer.writerow(["Period start", report.period.start.isoformat()])
    writer.writerow(["Period end", report.period.end.isoformat()])
    writer.writerow([])
    writer.writerow(["Metric", "Value"])
    for name, value in _summary_rows(report):
        writer.writerow([name, value])
    writer.writerow([])
    writer.writerow(
        [
            "Charger",
            "Name",
            "NEVI uptime %",
            "Plain uptime %",
            "Outage minutes",
            "Excluded minutes",
            "Faults",
            "Sessions",
            "Energy kWh",
            "Health score",
            "Reasons",
        ]
    )
    for line in report.chargers:
        writer.writerow(
            [
                line.charge_point_id,
                line.name,
                f"{line.uptime.nevi_percent:.3f}",
                f"{line.uptime.plain_percent:.3f}",
                f"{line.uptime.outage_minutes:.1f}",
                f"{line.uptime.excluded_minutes:.1f}",
                line.faults,
                line.sessions,
                f"{line.energy_wh / 1000:.3f}",
                line.score,
                "; ".join(line.reasons),
            ]
        )
    writer.writerow([])
    writer.writerow(
        [
            "Hour" if report.period.frequency == Frequency.DAILY else "Day",
            "Sessions",
            "Energy kWh",
            "NEVI uptime %",
            "Plain uptime %",
        ]
    )
    for bucket in report.buckets:
        writer.writerow(
            [
                bucket.label,
                bucket.sessions,
                f"{bucket.energy_wh / 1000:.3f}",
                f"{bucket.uptime.nevi_percent:.3f}",
                f"{bucket.uptime.plain_percent:.3f}",
            ]
        )
    writer.writerow([])
    writer.writerow(
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
    for outage_line in report.outages:
        writer.writerow(
            [
                outage_line.outage.start.isoformat(),
                outage_line.outage.end.isoformat(),
                outage_line.charge_point_id,
                outage_line.connector_id,
                f"{outage_line.outage.minutes:.1f}",
                f"{outage_line.outage.excluded_minutes:.1f}",
                " + ".join(outage_line.outage.reasons),
            ]
        )
    return out.getvalue()


def _summary_rows(report: PropertyReport) -> list[tuple[str, str]]:
    return [
        ("NEVI uptime", f"{report.uptime.nevi_percent:.2f}%"),
        ("Plain uptime", f"{report.uptime.plain_percent:.2f}%"),
        ("Outage minutes", f"{report.uptime.outage_minutes:.0f}"),
        ("Excluded minutes", f"{report.uptime.excluded_minutes:.0f}"),
        ("Faults", str(report.faults)),
        ("Sessions", str(report.sessions)),
        ("Energy", f"{report.energy_kwh:.1f} kWh"),
        ("Revenue", report.revenue.display),
    ]


def report_pdf(report: PropertyReport) -> bytes:
    """The report as a PDF: title, summary table, the energy bar chart, the chargers
    and the problem chargers."""
    # reportlab is imported here: only this rendering needs it.
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=report.title,
        author="Plugboard",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
    )
    styles = getSampleStyleSheet()
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    story: list[object] = [
        Paragraph(_escape(report.title), styles["Title"]),
        Paragraph(
            _escape(
                f"{report.organization_name} · times in {report.time_zone} · "
                f"uptime per 23 CFR 680.116(b), policy: {report.policy.source}"
            ),
            styles["Normal"],
        ),
        Spacer(1, 6 * mm),
        Table(
            [["Metric", "Value"], *_summary_rows(report)], colWidths=[60 * mm, 60 * mm], style=grid
        ),
        Spacer(1, 6 * mm),
        Paragraph("Energy delivered (kWh)", styles["Heading3"]),
    ]
    drawing = Drawing(180 * mm, 60 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y = 10 * mm, 10 * mm
    chart.width, chart.height = 165 * mm, 45 * mm
    chart.data = [[b.energy_wh / 1000 for b in report.buckets] or [0]]
    chart.categoryAxis.categoryNames = [b.label for b in report.buckets] or [""]
    chart.categoryAxis.labels.fontSize = 6
    chart.categoryAxis.labels.angle = 45 if len(report.buckets) > 7 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(report.buckets) > 7 else "n"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = colors.HexColor("#2f7ed8")
    drawing.add(chart)
    story.append(drawing)
    per_bucket: list[list[object]] = [
        ["Day", *(b.label for b in report.buckets)],
        ["Sessions", *(b.sessions for b in report.buckets)],
        ["NEVI %", *(f"{b.uptime.nevi_percent:.1f}" for b in report.buckets)],
    ]
    if report.period.frequency != Frequency.DAILY:  # 24 hour columns do not fit a page
        story.append(Table(per_bucket, style=grid))
    story += [Spacer(1, 4 * mm), Paragraph("Chargers", styles["Heading3"])]
    rows: list[list[object]] = [
        ["Charger", "NEVI %", "Plain %", "Outage min", "Faults", "Sessions", "kWh", "Score"]
    ]
    rows += [
        [
            line.charge_point_id,
            f"{line.uptime.nevi_percent:.2f}",
            f"{line.uptime.plain_percent:.2f}",
            f"{line.uptime.outage_minutes:.0f}",
            line.faults,
            line.sessions,
            f"{line.energy_wh / 1000:.1f}",
            line.score,
        ]
        for line in report.chargers
    ]
    story.append(Table(rows, repeatRows=1, style=grid))
    if report.outages:
        story += [
            Spacer(1, 4 * mm),
            Paragraph(
                f"Longest outages ({len(report.outages)} in all; the CSV lists each)",
                styles["Heading3"],
            ),
        ]
        outage_rows: list[list[object]] = [
            ["Start", "Charger", "Connector", "Minutes", "Excluded", "Why"]
        ]
        outage_rows += [
            [
                f"{line.outage.start.astimezone(ZoneInfo(report.time_zone)):%Y-%m-%d %H:%M}",
                line.charge_point_id,
                line.connector_id,
                f"{line.outage.minutes:.0f}",
                f"{line.outage.excluded_minutes:.0f}",
                " + ".join(line.outage.reasons),
            ]
            for line in report.longest_outages
        ]
        story.append(Table(outage_rows, repeatRows=1, style=grid))
    story += [Spacer(1, 4 * mm), Paragraph("Top problem chargers", styles["Heading3"])]
    if report.problems:
        problem_rows: list[list[object]] = [["Charger", "Score", "Why"]]
        problem_rows += [
            [
                h.charge_point_id,
                h.score.score,
                Paragraph(_escape("; ".join(h.reasons)), styles["Normal"]),
            ]
            for h in report.problems
        ]
        story.append(
            Table(problem_rows, colWidths=[40 * mm, 20 * mm, 120 * mm], repeatRows=1, style=grid)
        )
    else:
        story.append(Paragraph("None: every charger scored 100.", styles["Normal"]))
    doc.build(story)
    return buffer.getvalue()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- sending ---------------------------------------------------------------------------


@transaction.atomic
def report_deliver(
    *, subscription: ReportSubscription, period: ReportPeriod, now: datetime
) -> ReportDelivery | None:
    """Email one subscription's report for `period`, unless it was sent already (the
    delivery row is unique per period; a failed send rolls it back, so the next run
    tries again). Returns the delivery, or None if there was nothing to do."""
    recipients = subscription.recipient_list()
    delivery, created = ReportDelivery.objects.get_or_create(
        subscription=subscription,
        period_start=period.start,
        defaults={
            "period_end": period.end,
            "recipients": ", ".join(recipients),
            "sent_at": now,
        },
    )
    if not created or not recipients:
        return None
    report = report_build(property=subscription.property, period=period, now=now)
    message = EmailMultiAlternatives(
        subject=f"[Plugboard] {report.title}",
        body=report_text(report),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    message.attach_alternative(report_html(report), "text/html")
    message.attach(_filename(report, "pdf"), report_pdf(report), "application/pdf")
    message.send()
    return delivery


def report_filename(report: PropertyReport, extension: str) -> str:
    return _filename(report, extension)


def _filename(report: PropertyReport, extension: str) -> str:
    safe = "".join(ch if ch.isalnum() else "-" for ch in report.property_name).strip("-").lower()
    return f"{safe}-{report.period.frequency}-{report.period.first_day:%Y-%m-%d}.{extension}"


def reports_send_due(*, frequency: str, now: datetime) -> list[ReportDelivery]:
    """Send every enabled subscription of `frequency` whose latest complete period
    has not been sent, once it is REPORT_SEND_HOUR or later at the property."""
    sent = []
    subscriptions = (
        ReportSubscription.objects.filter(frequency=frequency, is_enabled=True)
        .select_related("property__organization")
        .order_by("pk")
    )
    for subscription in subscriptions:
        tz = ZoneInfo(subscription.property.time_zone)
        if now.astimezone(tz).hour < REPORT_SEND_HOUR:
            continue
        period = report_period_last_complete(frequency=frequency, tz=tz, now=now)
        delivery = report_deliver(subscription=subscription, period=period, now=now)
        if delivery is not None:
            sent.append(delivery)
    return sent


def reports_send_latest(
    *, subscriptions: Iterable[ReportSubscription], now: datetime
) -> list[ReportDelivery]:
    """Send each subscription's latest complete report now, whatever the hour, unless
    it was sent already (the admin's "send now")."""
    sent = []
    for subscription in subscriptions:
        tz = ZoneInfo(subscription.property.time_zone)
        period = report_period_last_complete(frequency=subscription.frequency, tz=tz, now=now)
        delivery = report_deliver(subscription=subscription, period=period, now=now)
        if delivery is not None:
            sent.append(delivery)
    return sent
