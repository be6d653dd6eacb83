"""Maintenance reads: reported configurations, drift, firmware campaigns and
diagnostics files, scoped to what a user may see and explicitly ordered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from apps.chargers.models import Charger
from apps.monitoring.models import (
    ChargerConfiguration,
    ConfigurationChange,
    ConfigurationDrift,
    ConfigurationTemplate,
    DiagnosticsRequest,
    FirmwareCampaign,
    FirmwareUpdate,
)
from apps.sites.exceptions import NotFound
from apps.sites.tenancy import MANAGE_ROLES

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


@dataclass(frozen=True)
class ConfigurationRow:
    key: str
    reported: str | None
    expected: str | None
    readonly: bool
    in_reading: bool
    differs: bool


@dataclass(frozen=True)
class ChargerMaintenance:
    """What the maintenance page of one charger shows."""

    charger: Charger
    reading: ChargerConfiguration | None
    pending_report: bool
    template: ConfigurationTemplate | None
    drift: ConfigurationDrift | None
    rows: list[ConfigurationRow]
    changes: list[ConfigurationChange]
    firmware_updates: list[FirmwareUpdate]
    uploads: list[DiagnosticsRequest]
    may_manage: bool


RECENT = 10


def charger_maintenance(*, user: AnyUser, charger_id: int) -> ChargerMaintenance:
    """The charger's configuration (latest reading next to its template), recent
    changes, firmware updates and uploads, for a user who may see it (else NotFound)."""
    charger = (
        Charger.objects.visible_to(user)
        .select_related("zone__property__organization")
        .filter(pk=charger_id)
        .first()
    )
    if charger is None:
        raise NotFound("No such charger.")
    reading = charger_configuration_latest(charger=charger)
    drift = ConfigurationDrift.objects.filter(charger=charger).select_related("template").first()
    template = drift.template if drift is not None else None
    expected = {k.key: k.value for k in template.keys.all()} if template else {}
    drifted = frozenset(d["key"] for d in drift.differences) if drift else frozenset()
    values = reading.values if reading else {}
    readonly = set(reading.readonly_keys) if reading else set()
    rows = [
        ConfigurationRow(
            key=key,
            reported=values.get(key),
            expected=expected.get(key),
            readonly=key in readonly,
            in_reading=key in values,
            differs=key in drifted,
        )
        for key in sorted(set(values) | set(expected))
    ]
    return ChargerMaintenance(
        charger=charger,
        reading=reading,
        pending_report=ChargerConfiguration.objects.filter(
            charger=charger, status=ChargerConfiguration.Status.PENDING
        ).exists(),
        template=template,
        drift=drift,
        rows=rows,
        changes=list(
            ConfigurationChange.objects.filter(charger=charger)
            .select_related("requested_by", "template")
            .order_by("-requested_at", "-pk")[:RECENT]
        ),
        firmware_updates=list(
            FirmwareUpdate.objects.filter(charger=charger)
            .select_related("campaign")
            .order_by("-pk")[:RECENT]
        ),
        uploads=list(
            DiagnosticsRequest.objects.filter(charger=charger)
            .select_related("requested_by")
            .order_by("-requested_at", "-pk")[:RECENT]
        ),
        may_manage=Charger.objects.editable_by(user, MANAGE_ROLES).filter(pk=charger.pk).exists(),
    )
