"""A firmware campaign against the running server: UpdateFirmware reaches the
online charger at once and the offline one when it is back; each one's progress
comes from its real FirmwareStatusNotification (1.6 without a request id, 2.0.1
with one), and the campaign sums them up and finishes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from django.utils import timezone

from apps.chargers.models import Charger, ChargerEvent, CommandLog
from apps.monitoring.models import FirmwareCampaign, FirmwareUpdate
from apps.monitoring.services import firmware
from tests import factories
from tests.monitoring.maintenance.conftest import on_server, simulated, until, with_station

URL = "https://firmware.example.com/ac-charger/sim-2.0.bin"


def _installed(charger: Charger) -> bool:
    return ChargerEvent.objects.filter(
        charger=charger, kind=ChargerEvent.Kind.FIRMWARE_STATUS, payload__status="Installed"
    ).exists()


def test_campaign_progress_from_real_notifications(ocpp_server):
    """OCA TC_044_1_CSMS (1.6 download and install) and the 2.0.1 UpdateFirmware flow
    of TC_L_01_CSMS (without signing), across one campaign."""
    zone = factories.ZoneFactory()
    org = zone.property.organization
    online = factories.ChargerFactory(charge_point_id="CP-FW-16", zone=zone, ocpp_version="1.6")
    later = factories.ChargerFactory(charge_point_id="CP-FW-201", zone=zone, ocpp_version="2.0.1")
    manager = factories.UserFactory(username="fw-manager")
    factories.MembershipFactory(user=manager, organization=org)
    first = simulated(ocpp_server.port, online.charge_point_id, "1.6")

    async def scenario() -> FirmwareCampaign:
        campaign = await on_server(
            ocpp_server,
            firmware.firmware_campaign_start,
            organization=org,
            name="AC 2.0",
            firmware_url=URL,
            # The simulator waits for the retrieve date (the answer is stored first).
            retrieve_at=timezone.now() + timedelta(seconds=2),
            chargers=[online, later],
            retries=2,
            created_by=manager,
            source=CommandLog.Source.ADMIN,
        )
        sent = await asyncio.to_thread(FirmwareUpdate.objects.get, charger=online)
        assert sent.status == FirmwareUpdate.Status.SENT
        await until(lambda: _installed(online), seconds=20)
        # It reboots into the new firmware.
        await until(lambda: first.stats["connects"] >= 2 and first.online.is_set(), seconds=20)
        await until(
            lambda: Charger.objects.filter(pk=online.pk, firmware_version="sim-2.0").exists()
        )
        return campaign

    campaign = with_station(first, scenario)
    waiting = FirmwareUpdate.objects.get(charger=later)
    assert waiting.status == FirmwareUpdate.Status.PENDING
    assert waiting.send_attempts == 0 and "offline" in waiting.detail
    assert waiting.next_attempt_at > timezone.now()

    assert firmware.firmware_progress_sync(now=timezone.now()) == 1
    done = FirmwareUpdate.objects.get(charger=online)
    assert done.status == FirmwareUpdate.Status.INSTALLED
    assert done.ocpp_status == "Installed"
    assert done.firmware_version_before == ""
    assert done.command.params["location"] == URL and done.command.params["retries"] == 2
    summary = firmware.firmware_campaign_summary(campaign=campaign)
    assert (summary.installed, summary.failed, summary.in_progress, summary.pending) == (1, 0, 0, 1)
    campaign.refresh_from_db()
    assert campaign.status == FirmwareCampaign.Status.ACTIVE

    # The offline charger comes back; the periodic run sends it and follows it.
    second = simulated(ocpp_server.port, later.charge_point_id, "2.0.1")

    async def comeback() -> None:
        due = timezone.now() + firmware.RETRY_AFTER + timedelta(seconds=1)
        sent = await on_server(ocpp_server, firmware.firmware_updates_dispatch, now=due)
        assert sent == 1
        await until(lambda: _installed(later), seconds=20)
        await until(lambda: second.stats["connects"] >= 2 and second.online.is_set(), seconds=20)

    with_station(second, comeback)
    assert firmware.firmware_campaigns_advance(now=timezone.now()) == 1
    update = FirmwareUpdate.objects.get(charger=later)
    assert update.status == FirmwareUpdate.Status.INSTALLED
    # 2.0.1 notifications carry the request id: the command's.
    events = ChargerEvent.objects.filter(charger=later, kind=ChargerEvent.Kind.FIRMWARE_STATUS)
    assert {e.payload.get("requestId") for e in events} == {update.command_id}
    assert [e.payload["status"] for e in events.order_by("pk")] == [
        "Downloading",
        "Downloaded",
        "Installing",
        "Installed",
    ]
    summary = firmware.firmware_campaign_summary(campaign=campaign)
    assert (summary.installed, summary.failed, summary.pending) == (2, 0, 0)
    campaign.refresh_from_db()
    assert campaign.status == FirmwareCampaign.Status.FINISHED
    assert campaign.finished_at is not None
