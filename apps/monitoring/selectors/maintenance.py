"""Maintenance reads: reported configurations, drift, firmware campaigns and
diagnostics files, scoped to what a user may see and explicitly ordered."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from apps.chargers.models import Charger
from apps.monitoring.models import (
    ChargerConfiguration,
    ConfigurationDrift,
    DiagnosticsRequest,
    FirmwareCampaign,
)
from apps.sites.exceptions import NotFound

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from apps.sites.tenancy import AnyUser


def charger_configuration_latest(*, charger: Charger) -> ChargerConfiguration | None:
    """The charger's latest complete reading."""
    return (
        ChargerConfiguration.objects.filter(
            charger=charger, status=ChargerConfiguration.Status.COMPLETE
        )
        .order_by("-requested_at", "-pk")
        .first()
    )


def configuration_drift_list(*, user: AnyUser) -> QuerySet[ConfigurationDrift]:
    """The drifted chargers the user may see, longest drifted first."""
    return (
        ConfigurationDrift.objects.visible_to(user)
        .filter(is_drifted=True)
        .select_related("charger", "template")
        .order_by("drifted_since", "charger__charge_point_id")
    )


def firmware_campaign_list(*, user: AnyUser) -> QuerySet[FirmwareCampaign]:
    return (
        FirmwareCampaign.objects.visible_to(user)
        .select_related("organization")
        .order_by("-created_at", "-pk")
    )


def diagnostics_file(*, user: AnyUser, request_id: int) -> tuple[Path, DiagnosticsRequest]:
    """The stored file of an uploaded request the user may see, or NotFound (also
    for another organization's request: the two are never told apart)."""
    request = (
        DiagnosticsRequest.objects.visible_to(user)
        .filter(pk=request_id, status=DiagnosticsRequest.Status.UPLOADED)
        .select_related("charger")
        .first()
    )
    if request is None:
        raise NotFound("No such diagnostics file.")
    root = Path(settings.DIAGNOSTICS_UPLOAD_DIR).resolve()
    path = (root / request.file_path).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound("The diagnostics file is missing from the storage.")
    return path, request
