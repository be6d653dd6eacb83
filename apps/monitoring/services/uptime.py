"""Uptime the way the US federal NEVI rule counts it, as pure functions over time
intervals (the database reads are in apps/monitoring/selectors/health/).

The rule (23 CFR 680.116(b), paraphrased): each charging port must average more
than 97% uptime over a year, recomputed monthly over the previous twelve months.
A port is "up" while its hardware and software are online and it is available for
use or in use, and it delivers electricity. The percentage is

    µ = (525,600 − (T_outage − T_excluded)) / 525,600 × 100

where 525,600 is the minutes of a (365-day) year, T_outage the port's minutes of
outage in that year, and T_excluded the part of those outage minutes caused by
things outside the operator's control — electric utility interruptions, a failure
that was the vehicle's fault, scheduled maintenance, vandalism, natural disasters —
when the operator can show the port would otherwise have worked, and the minutes
outside the port's published operating hours.

We generalize the year to any period: 525,600 becomes the minutes of the period
the port was in service. "Plain" uptime is the same without exclusions:
(period − T_outage) / period.

What we count as outage for a port (connector), from what chargers report:
- the connector reported Faulted or Unavailable (StatusNotification history);
- the whole charger reported Faulted or Unavailable (OCPP connector 0);
- the charger was offline: its socket closed, or the presence sweep found it
  silent (then from when it was last heard from: nothing shows it was up after).
Overlapping causes count once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]

MINUTES_PER_YEAR = 525_600  # the rule's denominator: 365 × 24 × 60
DOWN_STATUSES = frozenset({"faulted", "unavailable"})


# --- intervals ------------------------------------------------------------------


def intervals_merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping intervals covering the same time (empty ones dropped)."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def intervals_clip(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    return intervals_merge((max(s, start), min(e, end)) for s, e in intervals)


def intervals_intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The time covered by both."""
    left, right = intervals_merge(a), intervals_merge(b)
    result: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if end > start:
            result.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return result


def intervals_minutes(intervals: Iterable[Interval]) -> float:
    return sum((end - start).total_seconds() for start, end in intervals_merge(intervals)) / 60


def down_intervals(
    transitions: Sequence[tuple[datetime, bool]],
    *,
    down_at_start: bool,
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """The intervals within [start, end) during which a two-state signal was down.
    `transitions` are (time, is_down) in time order; `down_at_start` is the state
    before the first one (the last known state before the period)."""
    result: list[Interval] = []
    down_since: datetime | None = start if down_at_start else None
    for at, is_down in transitions:
        at = min(max(at, start), end)
        if is_down and down_since is None:
            down_since = at
        elif not is_down and down_since is not None:
            result.append((down_since, at))
            down_since = None
    if down_since is not None:
        result.append((down_since, end))
    return intervals_merge(result)


def intervals_complement(
    intervals: Iterable[Interval], start: datetime, end: datetime
) -> list[Interval]:
    """The parts of [start, end) not covered by `intervals`."""
    result: list[Interval] = []
    cursor = start
    for s, e in intervals_clip(intervals, start, end):
        if s > cursor:
            result.append((cursor, s))
        cursor = max(cursor, e)
    if cursor < end:
        result.append((cursor, end))
    return result


def closed_hours(
    *, start: datetime, end: datetime, tz: ZoneInfo, opens_at: time, closes_at: time
) -> list[Interval]:
    """The parts of [start, end) outside daily opening hours in local time `tz`
    (closing before opening means open overnight, e.g. 18:00–02:00). Days follow
    the local calendar, so daylight-saving changes move the hours with the clock."""
    open_spans: list[Interval] = []
    day: date = start.astimezone(tz).date() - timedelta(days=1)
    last: date = end.astimezone(tz).date()
    while day <= last:
        closing_day = day if closes_at > opens_at else day + timedelta(days=1)
        open_spans.append(
            (
                datetime.combine(day, opens_at, tzinfo=tz).astimezone(UTC),
                datetime.combine(closing_day, closes_at, tzinfo=tz).astimezone(UTC),
            )
        )
        day += timedelta(days=1)
    return intervals_complement(open_spans, start, end)


# --- connection events ------------------------------------------------------------


def connection_state(summary: str, payload: dict[str, object] | None) -> bool | None:
    """Whether a charger connection event (apps/chargers/services/connections.py)
    leaves the charger online (True), offline (False), or changes nothing (None:
    an older socket closed after a newer one took over)."""
    if summary.startswith(("Connected", "Back online")):
        return True
    if summary.startswith("Older connection closed"):
        return None
    if summary.startswith(("Disconnected", "Marked offline")):
        return False
    if payload and "grace_s" in payload:  # the presence sweep, with its own summary
        return False
    return None


def offline_since(reported_at: datetime, payload: dict[str, object] | None) -> datetime:
    """When a charger went offline. The presence sweep notices a silent charger
    minutes late and records when it was last heard from: nothing shows the charger
    was up after that, so the outage starts there. A sweep with no grace (a server
    that stopped and drops its sockets) and socket closes count from the event."""
    if payload and payload.get("grace_s"):
        seen = payload.get("last_seen_at")
        if isinstance(seen, str):
            try:
                last_seen = datetime.fromisoformat(seen)
            except ValueError:
                return reported_at
            if last_seen.tzinfo is not None and last_seen < reported_at:
                return last_seen
    return reported_at


# --- the uptime itself --------------------------------------------------------------


def nevi_uptime_percent(
    *, period_minutes: float, outage_minutes: float, excluded_minutes: float
) -> float:
    """µ of 23 CFR 680.116(b)(3), with the period in place of the year's 525,600
    minutes."""
    if period_minutes <= 0:
        return 100.0
    counted = max(0.0, outage_minutes - excluded_minutes)
    return (period_minutes - counted) / period_minutes * 100


def plain_uptime_percent(*, period_minutes: float, outage_minutes: float) -> float:
    return nevi_uptime_percent(
        period_minutes=period_minutes, outage_minutes=outage_minutes, excluded_minutes=0
    )


@dataclass(frozen=True)
class Outage:
    start: datetime
    end: datetime
    reasons: tuple[str, ...]
    excluded_minutes: float = 0.0

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True)
class Uptime:
    """One port's (or a sum of ports') uptime over a period."""

    period_minutes: float
    outage_minutes: float
    excluded_minutes: float
    outages: tuple[Outage, ...] = field(default=())

    @property
    def counted_outage_minutes(self) -> float:
        return max(0.0, self.outage_minutes - self.excluded_minutes)

    @property
    def nevi_percent(self) -> float:
        return nevi_uptime_percent(
            period_minutes=self.period_minutes,
            outage_minutes=self.outage_minutes,
            excluded_minutes=self.excluded_minutes,
        )

    @property
    def plain_percent(self) -> float:
        return plain_uptime_percent(
            period_minutes=self.period_minutes, outage_minutes=self.outage_minutes
        )


def uptime_compute(
    *,
    start: datetime,
    end: datetime,
    down: Mapping[str, Iterable[Interval]],
    excluded: Iterable[Interval],
) -> Uptime:
    """A port's uptime over [start, end). `down` maps a reason ("faulted",
    "offline", ...) to the intervals it kept the port down; `excluded` are the
    intervals whose outage minutes do not count (documented causes the policy
    excludes, closed hours). Overlaps count once."""
    by_reason = {reason: intervals_clip(spans, start, end) for reason, spans in down.items()}
    merged = intervals_merge(span for spans in by_reason.values() for span in spans)
    excluded_merged = intervals_clip(excluded, start, end)
    outages = []
    for span in merged:
        reasons = tuple(
            sorted(r for r, spans in by_reason.items() if intervals_intersect([span], spans))
        )
        outages.append(
            Outage(
                start=span[0],
                end=span[1],
                reasons=reasons,
                excluded_minutes=intervals_minutes(intervals_intersect([span], excluded_merged)),
            )
        )
    return Uptime(
        period_minutes=max(0.0, (end - start).total_seconds() / 60),
        outage_minutes=intervals_minutes(merged),
        excluded_minutes=intervals_minutes(intervals_intersect(merged, excluded_merged)),
        outages=tuple(outages),
    )


def uptime_sum(parts: Iterable[Uptime]) -> Uptime:
    """Ports together, weighted by their minutes in service (a property's uptime is
    the share of all its port-minutes that were up)."""
    parts = list(parts)
    return Uptime(
        period_minutes=sum(p.period_minutes for p in parts),
        outage_minutes=sum(p.outage_minutes for p in parts),
        excluded_minutes=sum(p.excluded_minutes for p in parts),
    )
