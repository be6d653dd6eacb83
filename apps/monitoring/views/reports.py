"""Property report pages: the report in the browser, and as PDF or CSV downloads.
Signed-in users reach only the properties of their organizations; any other
property is a 404, as if it did not exist."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from apps.monitoring.models import ReportSubscription
from apps.monitoring.selectors.health import (
    ATTENTION_BELOW,
    GLANCE_DAYS,
    ChargerHealth,
    health_scores,
    properties_at_a_glance,
)
from apps.monitoring.services import reports
from apps.sites.exceptions import NotFound
from apps.sites.models import Property

HEALTH_DAYS = 7
MAX_HEALTH_DAYS = 90
# The bands of a health score, as templates/monitoring/reports/_score.html colours them.
SCORE_GOOD = 90
SCORE_FAIR = ATTENTION_BELOW


class BadPeriod(ValueError):
    pass


def _period_params(request: HttpRequest) -> tuple[str, date | None]:
    frequency = request.GET.get("frequency") or ReportSubscription.Frequency.WEEKLY
    if frequency not in ReportSubscription.Frequency.values:
        raise BadPeriod("frequency must be daily or weekly")
    raw = request.GET.get("date") or ""
    try:
        day = date.fromisoformat(raw) if raw else None
    except ValueError:
        raise BadPeriod("date must look like 2026-06-15") from None
    return frequency, day


def _report(request: HttpRequest, property_id: int) -> reports.PropertyReport:
    frequency, day = _period_params(request)
    try:
        return reports.report_for_user(
            user=request.user,
            property_id=property_id,
            frequency=frequency,
            day=day,
            now=timezone.now(),
        )
    except NotFound:
        raise Http404("No such property.") from None


@require_GET
@login_required
def report_index(request: HttpRequest) -> HttpResponse:
    """The user's properties, each with its week at a glance and its reports."""
    glances = properties_at_a_glance(user=request.user, now=timezone.now())
    return render(
        request,
        "monitoring/reports/index.html",
        {
            "nav": "reports",
            "glances": glances,
            "glance_days": GLANCE_DAYS,
            "attention_below": ATTENTION_BELOW,
        },
    )


@require_GET
@login_required
def health_ranking(request: HttpRequest) -> HttpResponse:
    """Which chargers need a technician first, with the reasons: over the last
    `days` days (default 7), of one property or all the user's."""
    try:
        days = int(request.GET.get("days") or HEALTH_DAYS)
        property_id = int(request.GET["property"]) if request.GET.get("property") else None
    except ValueError:
        return HttpResponseBadRequest("days and property are numbers")
    if not 1 <= days <= MAX_HEALTH_DAYS:
        return HttpResponseBadRequest(f"days: from 1 to {MAX_HEALTH_DAYS}")
    now = timezone.now()
    try:
        ranked = health_scores(
            user=request.user,
            start=now - timedelta(days=days),
            end=now,
            now=now,
            property_id=property_id,
        )
    except NotFound:
        raise Http404("No such property.") from None
    properties = Property.objects.visible_to(request.user).order_by("name", "pk")
    return render(
        request,
        "monitoring/reports/health.html",
        {
            "nav": "health",
            "ranked": ranked,
            "summary": _health_summary(ranked),
            "days": days,
            "default_days": HEALTH_DAYS,
            "property_id": property_id,
            "properties": properties,
        },
    )


def _health_summary(ranked: list[ChargerHealth]) -> dict[str, int]:
    """How many chargers fall in each band of the score pill (see _score.html)."""
    scores = [health.score.score for health in ranked]
    return {
        "attention": sum(1 for s in scores if s < SCORE_FAIR),
        "watch": sum(1 for s in scores if SCORE_FAIR <= s < SCORE_GOOD),
        "healthy": sum(1 for s in scores if s >= SCORE_GOOD),
    }


@require_GET
@login_required
def report_detail(request: HttpRequest, property_id: int) -> HttpResponse:
    try:
        report = _report(request, property_id)
    except BadPeriod as exc:
        return HttpResponseBadRequest(str(exc))
    query = urlencode(
        {"frequency": report.period.frequency, "date": report.period.first_day.isoformat()}
    )
    return render(
        request,
        "monitoring/reports/detail.html",
        {"nav": "reports", "report": report, "query": query},
    )


def _report_download(
    request: HttpRequest,
    property_id: int,
    *,
    render_file: Callable[[reports.PropertyReport], bytes | str],
    extension: str,
    content_type: str,
) -> HttpResponse:
    """The property's report as an attachment: the PDF and CSV differ only in how
    the file is rendered and named."""
    try:
        report = _report(request, property_id)
    except BadPeriod as exc:
        return HttpResponseBadRequest(str(exc))
    response = HttpResponse(render_file(report), content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="{reports.report_filename(report, extension)}"'
    )
    return response


@require_GET
@login_required
def report_pdf(request: HttpRequest, property_id: int) -> HttpResponse:
    return _report_download(
        request,
        property_id,
        render_file=reports.report_pdf,
        extension="pdf",
        content_type="application/pdf",
    )


@require_GET
@login_required
def report_csv(request: HttpRequest, property_id: int) -> HttpResponse:
    return _report_download(
        request,
        property_id,
        render_file=reports.report_csv,
        extension="csv",
        content_type="text/csv; charset=utf-8",
    )
