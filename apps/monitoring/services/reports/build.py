"""A property's report for one period: the period in the property's calendar,
the revenue, and the figures (uptime, sessions, energy, problems) built once for
every rendering."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apps.chargers.models import Charger, ChargingSession
from apps.monitoring.models import ReportSubscription
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
