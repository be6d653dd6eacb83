"""REST operations of the sites app (mounted in config/api.py)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from apps.sites import selectors
from apps.sites.schemas import PageIn, ZoneOut, error_responses

router = Router(tags=["sites"])


@router.get("/zones", response={200: list[ZoneOut], **error_responses(401, 422)})
def zone_list(request: HttpRequest, page: Query[PageIn]) -> object:
    """The zones you may see, by property and name."""
    return page.apply(selectors.zone_list(user=request.user))
