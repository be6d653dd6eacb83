"""Health API: a charger's status history, uptime (NEVI and plain), health scores.
Everything is scoped to the organizations of the token's user: another
organization's property or charger is not found."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from pydantic import AwareDatetime

from apps.monitoring.selectors import health as selectors
from apps.monitoring.services.uptime import Uptime
from apps.sites.schemas import PageIn, error_responses

router = Router(tags=["health"])

DEFAULT_DAYS = 30
MAX_DAYS = 400  # a NEVI year plus slack: bounds the work of one request


class StatusChangeOut(Schema):
    id: int
    connector_id: int = Field(description="0: the whole charger.")
    status: str
    error_code: str
    vendor_error_code: str
    info: str
    reported_at: datetime = Field(description="The charger's timestamp.")
    received_at: datetime

    @staticmethod
    def resolve_connector_id(row: object) -> int:
        connector = getattr(row, "connector", None)
        return connector.connector_id if connector is not None else 0


class StatusHistoryFilterIn(Schema):
    since: AwareDatetime | None = Field(None, description="Reported at or after (with offset).")
    until: AwareDatetime | None = Field(None, description="Reported before (with offset).")
    connector_id: int | None = Field(None, ge=0, description="0: reports about the charger.")


@router.get(
    "/chargers/{charge_point_id}/status-history",
    response={200: list[StatusChangeOut], **error_responses(401, 404, 422)},
)
def status_history(
    request: HttpRequest,
    charge_point_id: str,
    page: Query[PageIn],
    filters: Query[StatusHistoryFilterIn],
) -> object:
    """A charger's status notifications, newest first, optionally of one connector
    and in a time window."""
    return selectors.status_history(
        user=request.user,
        charge_point_id=charge_point_id,
        since=filters.since,
        until=filters.until,
        connector_id=filters.connector_id,
        offset=page.offset,
        limit=page.limit,
    )


class UptimeFiguresOut(Schema):
    period_minutes: float
    outage_minutes: float = Field(description="T_outage: minutes the port was down.")
    excluded_minutes: float = Field(
        description="T_excluded: outage minutes with a cause the policy excludes, or "
        "outside operating hours."
    )
    nevi_percent: float = Field(
        description="(period − (T_outage − T_excluded)) / period × 100, as 23 CFR "
        "680.116(b) defines it for a year."
    )
    plain_percent: float = Field(description="(period − T_outage) / period × 100.")

    @staticmethod
    def of(uptime: Uptime) -> UptimeFiguresOut:
        return UptimeFiguresOut(
            period_minutes=round(uptime.period_minutes, 2),
            outage_minutes=round(uptime.outage_minutes, 2),
            excluded_minutes=round(uptime.excluded_minutes, 2),
            nevi_percent=round(uptime.nevi_percent, 4),
            plain_percent=round(uptime.plain_percent, 4),
        )


class OutageOut(Schema):
    start: datetime
    end: datetime
    minutes: float
    excluded_minutes: float
    reasons: list[str] = Field(description="connector (faulted/unavailable), charger, offline.")


class ConnectorUptimeOut(UptimeFiguresOut):
    charge_point_id: str
    connector_id: int
    property_id: int
    start: datetime = Field(description="The period counted: from registration at the earliest.")
    end: datetime = Field(description="…until now at the latest.")
    target_percent: float
    meets_target: bool
    outages: list[OutageOut]


class PolicyOut(Schema):
    source: str = Field(description="property, organization or NEVI defaults.")
    excluded_causes: list[str]
    exclude_outside_hours: bool
    opens_at: str | None
    closes_at: str | None
    target_percent: float


class PropertyUptimeOut(UptimeFiguresOut):
    property_id: int
    name: str
    policy: PolicyOut


class ChargerUptimeOut(UptimeFiguresOut):
    charge_point_id: str


class UptimeOut(Schema):
    start: datetime
    end: datetime
    total: UptimeFiguresOut
    properties: list[PropertyUptimeOut]
    chargers: list[ChargerUptimeOut]
    connectors: list[ConnectorUptimeOut]


def _period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or timezone.now()
    start = start or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise ValidationError({"start": "The start must come before the end."})
    if end - start > timedelta(days=MAX_DAYS):
        raise ValidationError({"start": f"At most {MAX_DAYS} days at a time."})
    return start, end


@router.get("/uptime", response={200: UptimeOut, **error_responses(401, 404, 422)})
def uptime_report(
    request: HttpRequest,
    property: int | None = None,  # noqa: A002 -- the query parameter's name
    charger: str | None = None,
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
) -> UptimeOut:
    """Uptime per connector, per charger, per property and in total, NEVI-style
    (documented exclusions and closed hours left out, per the property's uptime
    policy) and plain. Default period: the last 30 days."""
    start, end = _period(start, end)
    report = selectors.uptime_report(
        user=request.user,
        start=start,
        end=end,
        now=timezone.now(),
        property_id=property,
        charge_point_id=charger,
    )
    return UptimeOut(
        start=report.start,
        end=report.end,
        total=UptimeFiguresOut.of(report.total),
        properties=[
            PropertyUptimeOut(
                **UptimeFiguresOut.of(uptime).model_dump(),
                property_id=pk,
                name=name,
                policy=PolicyOut(
                    source=(policy := report.policies[pk]).source,
                    excluded_causes=sorted(policy.excluded_causes),
                    exclude_outside_hours=policy.exclude_outside_hours,
                    opens_at=policy.opens_at.isoformat() if policy.opens_at else None,
                    closes_at=policy.closes_at.isoformat() if policy.closes_at else None,
                    target_percent=policy.target_percent,
                ),
            )
            for pk, name, uptime in report.by_property()
        ],
        chargers=[
            ChargerUptimeOut(**UptimeFiguresOut.of(uptime).model_dump(), charge_point_id=cp)
            for cp, uptime in report.by_charger()
        ],
        connectors=[_connector_out(row) for row in report.connectors],
    )


class MonthOut(Schema):
    month: str = Field(description="YYYY-MM, in the property's time zone.")
    total: UptimeFiguresOut
    connectors: list[ConnectorUptimeOut]


class PortTrailingOut(UptimeFiguresOut):
    charge_point_id: str
    connector_id: int
    target_percent: float
    meets_target: bool = Field(description="NEVI uptime above the policy's target.")


class MonthlyUptimeOut(Schema):
    time_zone: str
    months: list[MonthOut]
    trailing: list[PortTrailingOut] = Field(
        description="Each port over all the months together: with 12 months, the "
        "figure 23 CFR 680.116(b) asks for."
    )
    total: UptimeFiguresOut


def _connector_out(row: selectors.ConnectorUptime) -> ConnectorUptimeOut:
    return ConnectorUptimeOut(
        **UptimeFiguresOut.of(row.uptime).model_dump(),
        charge_point_id=row.charge_point_id,
        connector_id=row.connector_id,
        property_id=row.property_id,
        start=row.start,
        end=row.end,
        target_percent=row.target_percent,
        meets_target=row.meets_target,
        outages=[
            OutageOut(
                start=o.start,
                end=o.end,
                minutes=round(o.minutes, 2),
                excluded_minutes=round(o.excluded_minutes, 2),
                reasons=list(o.reasons),
            )
            for o in row.uptime.outages
        ],
    )


@router.get("/uptime/monthly", response={200: MonthlyUptimeOut, **error_responses(401, 404, 422)})
def uptime_monthly(
    request: HttpRequest,
    property: int | None = None,  # noqa: A002 -- the query parameter's name
    charger: str | None = None,
    months: int = 12,
) -> MonthlyUptimeOut:
    """Uptime per calendar month for the previous `months` complete months (1 to 12,
    default 12), and each port's figure over all of them: NEVI recomputes it every
    month over the previous twelve."""
    if not 1 <= months <= 12:
        raise ValidationError({"months": "From 1 to 12."})
    result = selectors.uptime_monthly(
        user=request.user,
        months=months,
        now=timezone.now(),
        property_id=property,
        charge_point_id=charger,
    )
    return MonthlyUptimeOut(
        time_zone=result.time_zone,
        months=[
            MonthOut(
                month=f"{first:%Y-%m}",
                total=UptimeFiguresOut.of(report.total),
                connectors=[_connector_out(row) for row in report.connectors],
            )
            for first, report in result.months
        ],
        trailing=[
            PortTrailingOut(
                **UptimeFiguresOut.of(uptime).model_dump(),
                charge_point_id=row.charge_point_id,
                connector_id=row.connector_id,
                target_percent=row.target_percent,
                meets_target=uptime.nevi_percent > row.target_percent,
            )
            for row, uptime in result.trailing
        ],
        total=UptimeFiguresOut.of(result.total),
    )


class HealthScoreOut(Schema):
    rank: int = Field(description="1: needs a technician first.")
    charge_point_id: str
    name: str
    property_id: int
    property_name: str
    score: int = Field(description="0–100; 100: nothing against it.")
    reasons: list[str] = Field(description="What lowered the score, the biggest first.")
    faults: int
    start_attempts: int
    start_failures: int
    start_success_percent: float | None
    disconnects: int
    stalled_sessions: int
    offline_now: bool
    faulted_now: bool


@router.get(
    "/health-scores", response={200: list[HealthScoreOut], **error_responses(401, 404, 422)}
)
def health_scores(
    request: HttpRequest,
    property: int | None = None,  # noqa: A002 -- the query parameter's name
    days: int = 7,
) -> list[HealthScoreOut]:
    """Charger health over the last `days` days (1 to 400), worst first: which
    chargers need a technician, and why."""
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError({"days": f"From 1 to {MAX_DAYS}."})
    now = timezone.now()
    ranked = selectors.health_scores(
        user=request.user, start=now - timedelta(days=days), end=now, now=now, property_id=property
    )
    return [
        HealthScoreOut(
            rank=rank,
            charge_point_id=h.charge_point_id,
            name=h.charger_name,
            property_id=h.property_id,
            property_name=h.property_name,
            score=h.score.score,
            reasons=h.reasons,
            faults=h.inputs.faults,
            start_attempts=h.inputs.start_attempts,
            start_failures=h.inputs.start_failures,
            start_success_percent=h.inputs.start_success_percent,
            disconnects=h.inputs.disconnects,
            stalled_sessions=h.inputs.stalled_sessions,
            offline_now=h.inputs.offline_now,
            faulted_now=h.inputs.faulted_now,
        )
        for rank, h in enumerate(ranked, start=1)
    ]
