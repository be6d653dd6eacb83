"""Reads of the stored status history: a charger's StatusNotification log, and
the status-history reads that uptime and health scores share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import OuterRef, QuerySet, Subquery

from apps.chargers.models import Charger, StatusChange
from apps.sites.exceptions import NotFound

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


def charger_get_visible(*, user: AnyUser, charge_point_id: str) -> Charger:
    charger = (
        Charger.objects.visible_to(user)
        .select_related("zone__property")
        .filter(charge_point_id=charge_point_id)
        .first()
    )
    if charger is None:
        raise NotFound(f"No charger {charge_point_id!r}.")
    return charger


def status_history(
    *,
    user: AnyUser,
    charge_point_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    connector_id: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> QuerySet[StatusChange]:
    """A charger's StatusNotification history, newest first; connector_id 0 is the
    whole charger."""
    charger = charger_get_visible(user=user, charge_point_id=charge_point_id)
    rows = StatusChange.objects.filter(charger=charger).select_related("connector")
    if since is not None:
        rows = rows.filter(reported_at__gte=since)
    if until is not None:
        rows = rows.filter(reported_at__lt=until)
    if connector_id == 0:
        rows = rows.filter(connector__isnull=True)
    elif connector_id is not None:
        rows = rows.filter(connector__connector_id=connector_id)
    return rows.order_by("-reported_at", "-id")[offset : offset + limit]


def connector_status_before(start: datetime) -> Subquery:
    """The status each connector (the outer query's row) reported last before
    `start`: where the history of [start, ...) begins."""
    return Subquery(
        StatusChange.objects.filter(connector=OuterRef("pk"), reported_at__lt=start)
        .order_by("-reported_at", "-id")
        .values("status")[:1]
    )


def status_changes(
    *, charger_ids: Sequence[int], start: datetime, end: datetime
) -> QuerySet[StatusChange, tuple[int, int | None, datetime, str]]:
    """The chargers' status changes reported in [start, end), oldest first, as
    (charger_id, connector_id, reported_at, status)."""
    return (
        StatusChange.objects.filter(
            charger_id__in=charger_ids, reported_at__gte=start, reported_at__lt=end
        )
        .order_by("reported_at", "id")
        .values_list("charger_id", "connector_id", "reported_at", "status")
    )
