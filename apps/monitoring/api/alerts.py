"""Alerts API: read your organizations' alerts, acknowledge one."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from apps.monitoring.schemas_alerts import AlertFilterIn, AlertOut
from apps.monitoring.selectors import alerts as selectors
from apps.monitoring.services import alerts as services
from apps.sites.schemas import PageIn, error_responses

router = Router(tags=["alerts"])


@router.get("/alerts", response={200: list[AlertOut], **error_responses(401, 422)})
def alert_list(request: HttpRequest, page: Query[PageIn], filters: Query[AlertFilterIn]) -> object:
    """The alerts you may see, newest first; optionally only open or resolved ones,
    one charger's (a charger you cannot see gives an empty list) or one kind."""
    return page.apply(
        selectors.alert_list(
            user=request.user,
            status=filters.status,
            charge_point_id=filters.charger,
            kind=filters.kind,
        )
    )


@router.get("/alerts/{alert_id}", response={200: AlertOut, **error_responses(401, 404)})
def alert_get(request: HttpRequest, alert_id: int) -> object:
    """One alert, with what was seen and whether a person took it in hand."""
    return selectors.alert_get(user=request.user, alert_id=alert_id)


@router.post(
    "/alerts/{alert_id}/acknowledge", response={200: AlertOut, **error_responses(401, 403, 404)}
)
def alert_acknowledge(request: HttpRequest, alert_id: int) -> object:
    """Take the alert in hand: it is no longer escalated nor remedied automatically.
    Acknowledging again keeps the first acknowledgement."""
    return services.alert_acknowledge(user=request.user, alert_id=alert_id)
