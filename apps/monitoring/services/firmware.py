"""Firmware campaigns: UpdateFirmware to a selection of chargers, offline ones
tried again later, and each charger's progress from its FirmwareStatusNotification
(kept by the OCPP edge as charger events of kind firmware_status)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.chargers import commands
from apps.chargers.exceptions import ChargerNoAnswer, ChargerOffline
from apps.chargers.models import Charger, ChargerEvent, CommandLog
from apps.monitoring.models import FirmwareCampaign, FirmwareUpdate
from apps.sites.exceptions import DomainError, Forbidden, NotFound
from apps.sites.models import Organization
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

log = logging.getLogger(__name__)

# How soon an offline (or silent) charger is tried again.
RETRY_AFTER = timedelta(minutes=5)
# An update with no news from the charger for this long has failed.
SILENCE_LIMIT = timedelta(hours=24)
# How many UpdateFirmware one dispatch run sends at most (each is a command).
DISPATCH_PER_RUN = 50

S = FirmwareUpdate.Status
# The charger's FirmwareStatus (1.6 and 2.0.1) -> the update's status. Idle says
# nothing about an update in progress.
FIRMWARE_STATUS: dict[str, str] = {
    "DownloadScheduled": S.SENT,
    "Downloading": S.DOWNLOADING,
    "DownloadPaused": S.DOWNLOADING,
    "Downloaded": S.DOWNLOADED,
    "SignatureVerified": S.DOWNLOADED,
    "InstallScheduled": S.INSTALLING,
    "Installing": S.INSTALLING,
    "InstallRebooting": S.INSTALLING,
    "Installed": S.INSTALLED,
    "DownloadFailed": S.FAILED,
    "InstallationFailed": S.FAILED,
    "InstallVerificationFailed": S.FAILED,
    "InvalidSignature": S.FAILED,
}
IN_PROGRESS = (S.SENT, S.DOWNLOADING, S.DOWNLOADED, S.INSTALLING)
DONE = (S.INSTALLED, S.FAILED)


@dataclass(frozen=True)
class CampaignSummary:
    total: int
    installed: int
    failed: int
    in_progress: int
    pending: int

    def __str__(self) -> str:
        return (
            f"{self.installed} installed, {self.failed} failed, "
            f"{self.in_progress} in progress, {self.pending} waiting to be sent"
        )


def firmware_campaign_summary(*, campaign: FirmwareCampaign) -> CampaignSummary:
    counts: dict[str, int] = {}
    for status in campaign.updates.values_list("status", flat=True).order_by():
        counts[status] = counts.get(status, 0) + 1
    return CampaignSummary(
        total=sum(counts.values()),
        installed=counts.get(S.INSTALLED, 0),
        failed=counts.get(S.FAILED, 0),
        in_progress=sum(counts.get(s, 0) for s in IN_PROGRESS),
        pending=counts.get(S.PENDING, 0),
    )


@transaction.atomic
def firmware_campaign_create(
    *,
    organization: Organization,
    name: str,
    firmware_url: str,
    retrieve_at: datetime,
    chargers: Sequence[Charger],
    retries: int | None = None,
    retry_interval_s: int | None = None,
    created_by: AnyUser | None = None,
) -> FirmwareCampaign:
    """A campaign for `chargers`, all of `organization`, which the user must manage."""
    if not chargers:
        raise NotFound("Select at least one charger.")
    if created_by is not None:
        if not Organization.objects.visible_to(created_by).filter(pk=organization.pk).exists():
            raise NotFound("No such organization.")
        if (
            not Organization.objects.editable_by(created_by, MANAGE_ROLES)
            .filter(pk=organization.pk)
            .exists()
        ):
            raise Forbidden("Your role in this organization does not allow firmware updates.")
    ids = [c.pk for c in chargers]
    own = set(
        Charger.objects.filter(pk__in=ids, zone__property__organization=organization).values_list(
            "pk", flat=True
        )
    )
    if own != set(ids):
        raise NotFound("Every charger of a campaign must belong to its organization.")
    user_id = created_by.pk if created_by is not None and created_by.is_authenticated else None
    campaign = FirmwareCampaign.objects.create(
        organization=organization,
        name=name,
        firmware_url=firmware_url,
        retrieve_at=retrieve_at,
        retries=retries,
        retry_interval_s=retry_interval_s,
        created_by_id=user_id,
    )
    FirmwareUpdate.objects.bulk_create(
        [
            FirmwareUpdate(campaign=campaign, charger=c, firmware_version_before=c.firmware_version)
            for c in chargers
        ]
    )
    return campaign


def firmware_campaign_start(
    *,
    organization: Organization,
    name: str,
    firmware_url: str,
    retrieve_at: datetime,
    chargers: Sequence[Charger],
    retries: int | None = None,
    retry_interval_s: int | None = None,
    created_by: AnyUser | None = None,
    source: str = CommandLog.Source.SYSTEM,
    timeout: float | None = None,
) -> FirmwareCampaign:
    """Create a campaign and send it at once to the chargers online now; the others
    are tried by the periodic dispatch."""
    campaign = firmware_campaign_create(
        organization=organization,
        name=name,
        firmware_url=firmware_url,
        retrieve_at=retrieve_at,
        chargers=chargers,
        retries=retries,
        retry_interval_s=retry_interval_s,
        created_by=created_by,
    )
    firmware_updates_dispatch(now=timezone.now(), campaign=campaign, source=source, timeout=timeout)
    return campaign


def _params(campaign: FirmwareCampaign) -> dict[str, Any]:
    params: dict[str, Any] = {
        "location": campaign.firmware_url,
        "retrieve_at": campaign.retrieve_at.isoformat(),
    }
    if campaign.retries is not None:
        params["retries"] = campaign.retries
    if campaign.retry_interval_s is not None:
        params["retry_interval"] = campaign.retry_interval_s
    return params


def firmware_updates_dispatch(
    *,
    now: datetime,
    campaign: FirmwareCampaign | None = None,
    source: str = CommandLog.Source.TASK,
    timeout: float | None = None,
    limit: int = DISPATCH_PER_RUN,
) -> int:
    """Send UpdateFirmware for the pending updates that are due (of one campaign, or
    of every active one). An offline charger is tried again after RETRY_AFTER
    without spending an attempt; a charger that does not answer spends one, and
    fails the update after the campaign's max_send_attempts. Returns how many were
    accepted."""
    due = (
        FirmwareUpdate.objects.filter(
            status=S.PENDING, campaign__status=FirmwareCampaign.Status.ACTIVE
        )
        .exclude(next_attempt_at__gt=now)
        .select_related("campaign", "charger")
        .order_by("next_attempt_at", "pk")
    )
    if campaign is not None:
        due = due.filter(campaign=campaign)
    if timeout is None:
        timeout = float(getattr(settings, "MAINTENANCE_COMMAND_TIMEOUT", 20))
    online: list[FirmwareUpdate] = []
    for update in due[:limit]:
        if update.charger.channel_name:
            online.append(update)
        else:
            _update_save(
                update,
                next_attempt_at=now + RETRY_AFTER,
                detail="Charger offline: will be sent when it is back.",
            )
    # Taken before sending: a charger may report progress as soon as it answers.
    sent_at = timezone.now()
    outcomes = async_to_sync(_send_all)(online, source=source, timeout=timeout)
    accepted = 0
    for update, outcome in zip(online, outcomes, strict=True):
        if isinstance(outcome, ChargerOffline):
            _update_save(
                update,
                next_attempt_at=now + RETRY_AFTER,
                detail="Charger offline: will be sent when it is back.",
            )
        elif isinstance(outcome, DomainError):
            attempts = update.send_attempts + 1
            give_up = attempts >= update.campaign.max_send_attempts or not isinstance(
                outcome, ChargerNoAnswer
            )
            _update_save(
                update,
                send_attempts=attempts,
                status=S.FAILED if give_up else S.PENDING,
                next_attempt_at=None if give_up else now + RETRY_AFTER,
                detail=str(outcome)[:255],
                status_at=timezone.now(),
            )
        elif outcome.status in ("Accepted", "AcceptedCanceled"):
            accepted += 1
            _update_save(
                update,
                send_attempts=update.send_attempts + 1,
                status=S.SENT,
                ocpp_status=outcome.status,
                command_id=outcome.command_id,
                sent_at=sent_at,
                status_at=sent_at,
                next_attempt_at=None,
                detail="",
            )
        else:
            _update_save(
                update,
                send_attempts=update.send_attempts + 1,
                status=S.FAILED,
                ocpp_status=outcome.status[:40],
                command_id=outcome.command_id,
                status_at=timezone.now(),
                detail=f"The charger answered {outcome.status}.",
            )
    _campaigns_finish(now=now)
    return accepted


async def _send_all(
    updates: Sequence[FirmwareUpdate],
    *,
    source: str,
    timeout: float | None,  # noqa: ASYNC109 (passed through to command_send)
) -> list[commands.CommandResult | DomainError]:
    """UpdateFirmware to each update's charger, BULK_CONCURRENCY at a time (a large
    campaign must not wait for each silent charger in turn)."""
    limit = asyncio.Semaphore(commands.BULK_CONCURRENCY)

    async def one(update: FirmwareUpdate) -> commands.CommandResult | DomainError:
        async with limit:
            try:
                return await commands.command_send(
                    charger=update.charger.charge_point_id,
                    command="update-firmware",
                    params=_params(update.campaign),
                    source=source,
                    timeout=timeout,
                )
            except DomainError as exc:
                return exc

    return list(await asyncio.gather(*(one(u) for u in updates)))


@transaction.atomic
def _update_save(update: FirmwareUpdate, **values: Any) -> None:
    for name, value in values.items():
        setattr(update, name, value)
    FirmwareUpdate.objects.filter(pk=update.pk).update(**values)


@transaction.atomic
def firmware_progress_sync(*, now: datetime) -> int:
    """Fold the chargers' FirmwareStatusNotification events into their updates in
    progress. A 2.0.1 notification names the request (the command's id); a 1.6 one
    does not, and counts for the charger's update sent before it. Returns how
    many updates changed."""
    changed = 0
    updates = (
        FirmwareUpdate.objects.select_for_update()
        .filter(status__in=IN_PROGRESS, sent_at__isnull=False)
        .order_by("sent_at", "pk")
    )
    for update in updates:
        sent_at = update.sent_at
        assert sent_at is not None  # noqa: S101 (filtered above; narrows the type)
        events = ChargerEvent.objects.filter(
            charger_id=update.charger_id,
            kind=ChargerEvent.Kind.FIRMWARE_STATUS,
            received_at__gte=sent_at,
        ).order_by("received_at", "pk")
        status, ocpp_status, at = update.status, update.ocpp_status, update.status_at
        for event in events:
            payload = event.payload or {}
            request_id = payload.get("requestId")
            if request_id is not None and request_id != update.command_id:
                continue
            reported = str(payload.get("status", ""))
            if reported not in FIRMWARE_STATUS:
                continue
            status, ocpp_status, at = FIRMWARE_STATUS[reported], reported, event.received_at
            if status in DONE:
                break
        if status != update.status or ocpp_status != update.ocpp_status:
            _update_save(
                update,
                status=status,
                ocpp_status=ocpp_status,
                status_at=at,
                detail="" if status != S.FAILED else f"The charger reported {ocpp_status}.",
            )
            changed += 1
        elif status not in DONE and (at or sent_at) < now - SILENCE_LIMIT:
            # Accepted, then nothing: a person has to look at this charger.
            _update_save(
                update,
                status=S.FAILED,
                status_at=now,
                detail=f"No progress reported for {SILENCE_LIMIT.days * 24} hours.",
            )
            changed += 1
    _campaigns_finish(now=now)
    return changed


@transaction.atomic
def _campaigns_finish(*, now: datetime) -> None:
    """A campaign whose every update is installed or failed is finished."""
    for campaign in FirmwareCampaign.objects.filter(status=FirmwareCampaign.Status.ACTIVE).order_by(
        "pk"
    ):
        if not campaign.updates.exclude(status__in=DONE).exists():
            campaign.status = FirmwareCampaign.Status.FINISHED
            campaign.finished_at = now
            campaign.save(update_fields=["status", "finished_at"])


def firmware_campaigns_advance(*, now: datetime) -> int:
    """The periodic job: progress from the chargers' notifications, then the
    pending updates that are due. Returns how many updates changed or were sent."""
    return firmware_progress_sync(now=now) + firmware_updates_dispatch(now=now)


@transaction.atomic
def firmware_campaign_cancel(*, campaign: FirmwareCampaign, now: datetime) -> int:
    """Stop sending a campaign: its updates not yet sent fail. (Chargers that
    accepted it carry on: OCPP has no way to take an update back.)"""
    cancelled = campaign.updates.filter(status=S.PENDING).update(
        status=S.FAILED, detail="Campaign cancelled before it was sent.", status_at=now
    )
    campaign.status = FirmwareCampaign.Status.CANCELLED
    campaign.finished_at = now
    campaign.save(update_fields=["status", "finished_at"])
    return cancelled
