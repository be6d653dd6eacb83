"""The alert lists the admin, the dashboard and the API show."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Count, QuerySet

from apps.monitoring.models import Alert
from apps.sites.exceptions import NotFound

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


def alert_list(
    *,
    user: AnyUser,
    status: str | None = None,
    charge_point_id: str | None = None,
    kind: str | None = None,
) -> QuerySet[Alert]:
    """The alerts the user may see, newest first."""
    alerts = Alert.objects.visible_to(user).select_related(
        "charger", "connector", "acknowledged_by", "rule"
    )
    if status:
        alerts = alerts.filter(status=status)
    if charge_point_id:
        alerts = alerts.filter(charger__charge_point_id=charge_point_id)
    if kind:
        alerts = alerts.filter(kind=kind)
    return alerts.order_by("-opened_at", "-pk")


def alert_get(*, user: AnyUser, alert_id: int) -> Alert:
    alert = alert_list(user=user).filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"No alert {alert_id}.")
    return alert


def alert_open_counts(*, user: AnyUser) -> dict[int, int]:
    """Open alerts per charger id, for the dashboard's badges."""
    rows = (
        Alert.objects.visible_to(user)
        .filter(status=Alert.Status.OPEN)
        .values("charger_id")
        .annotate(n=Count("pk"))
        .order_by("charger_id")
    )
    return {row["charger_id"]: row["n"] for row in rows}
