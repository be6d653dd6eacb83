"""The live dashboard: every charger of the manager's organizations, grouped property
→ zone → charger → connector.

Live updates: the page polls an HTML fragment of itself every few seconds (our own
small script, static/monitoring/live.js) and swaps in only the chargers whose
content changed. Why polling rather than a Channels websocket: it needs nothing
but the views that already render the page (no second rendering path in
JavaScript, no broadcast hooks in the chargers services, which other code owns),
works the same behind any proxy and with the in-memory channel layer of the
embedded mode, and costs a fixed number of queries per poll. The fragment carries
an ETag computed from the data it shows, so an unchanged dashboard answers 304
with no body; the script pauses while the tab is hidden. With many chargers the
server renders a charger's card only when its content changed: cards are cached by
their signature (and the minute, so that the durations the page starts from stay
close; the script counts them up)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.monitoring.selectors.dashboard import STATES, ChargerRow, Dashboard, dashboard_get

# How often the page asks for fresh data, in milliseconds.
DEFAULT_POLL_MS = 5000


def poll_interval_ms() -> int:
    return int(getattr(settings, "MONITORING_LIVE_POLL_MS", DEFAULT_POLL_MS))


def _filters(request: HttpRequest) -> dict[str, Any]:
    property_id = request.GET.get("property", "")
    state = request.GET.get("state", "")
    return {
        "property_id": int(property_id) if property_id.isdigit() else None,
        "state": state if state in dict(STATES) else None,
        "query": request.GET.get("q", "").strip()[:100],
    }


CARD_TEMPLATE = "monitoring/dashboard/_charger_card.html"
CARD_CACHE_SECONDS = 120


def _card_html(row: ChargerRow, minute: int) -> str:
    key = f"monitoring:card:v1:{row.signature}:{minute}"
    html: str | None = cache.get(key)
    if html is None:
        html = render_to_string(CARD_TEMPLATE, {"row": row})
        cache.set(key, html, CARD_CACHE_SECONDS)
    return html


def _render_cards(board: Dashboard) -> None:
    """Fill each zone's cards: rendered once per change, then from the cache."""
    minute = int(timezone.now().timestamp()) // 60
    for prop in board.properties:
        for zone in prop.zones:
            zone.cards = [_card_html(row, minute) for row in zone.chargers]


def _etag(board: Dashboard) -> str:
    return f'"{board.signature}"'


def _context(request: HttpRequest, board: Dashboard, filters: dict[str, Any]) -> dict[str, Any]:
    return {
        "nav": "dashboard",
        "board": board,
        "states": STATES,
        "filters": filters,
        "now": timezone.now(),
        "etag": _etag(board),
        "poll_ms": poll_interval_ms(),
        "query_string": request.GET.urlencode(),
    }


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    board = dashboard_get(user=request.user, **filters)
    _render_cards(board)
    return render(request, "monitoring/dashboard/index.html", _context(request, board, filters))


@login_required
@require_GET
def dashboard_live(request: HttpRequest) -> HttpResponse:
    """The live part of the dashboard, for the page's script; 304 when unchanged."""
    filters = _filters(request)
    board = dashboard_get(user=request.user, **filters)
    etag = _etag(board)
    if request.headers.get("If-None-Match") == etag:
        response: HttpResponse = HttpResponseNotModified()
    else:
        _render_cards(board)
        response = render(
            request, "monitoring/dashboard/_live.html", _context(request, board, filters)
        )
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache, private"
    return response
