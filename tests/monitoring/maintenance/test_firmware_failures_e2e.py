"""Firmware updates that go wrong, with scripted chargers (the `ocpp` package's
ChargePoint, validating what we send) on the running server: a failed download or
installation reported by the charger, and an update the charger refuses."""

from __future__ import annotations

from django.utils import timezone

# The charger's side of the protocol (as in tests/ocpp_consumer): what a scripted
# charger sends and answers.
from ocpp.v16 import call as call16  # noqa: TID251
from ocpp.v201 import call as call201  # noqa: TID251
from ocpp.v201 import call_result as result201  # noqa: TID251

from apps.monitoring.models import FirmwareUpdate
from apps.monitoring.services import firmware
from tests import factories
from tests.monitoring.maintenance.conftest import on_server, server_quiet
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.test_commands_e2e import ANSWERS_201, charger_online

URL = "https://firmware.example.com/fw-9.bin"


def _start(server, chargers):
    return on_server(
        server,
        firmware.firmware_campaign_start,
        organization=chargers[0].zone.property.organization,
        name="Risky",
        firmware_url=URL,
        retrieve_at=timezone.now(),
        chargers=chargers,
    )


def test_download_failed_v16_and_installation_failed_v201(ocpp_server):
    """OCA TC_044_2_CSMS (1.6 download failed) and TC_L_09_CSMS (2.0.1 installation
    failed, the notification naming the request)."""
    zone = factories.ZoneFactory()
    c16 = factories.ChargerFactory(charge_point_id="FW-FAIL-16", zone=zone)
    c201 = factories.ChargerFactory(charge_point_id="FW-FAIL-201", zone=zone, ocpp_version="2.0.1")

    async def scenario() -> tuple[list, list]:
        async with (
            charger_online(ocpp_server.url("FW-FAIL-16"), "FW-FAIL-16", "1.6") as cp16,
            charger_online(ocpp_server.url("FW-FAIL-201"), "FW-FAIL-201", "2.0.1") as cp201,
        ):
            await server_quiet()
            await _start(ocpp_server, [c16, c201])
            request_id = cp201.received[0][1]["request_id"]
            await cp16.call(call16.FirmwareStatusNotification(status="Downloading"))
            await cp16.call(call16.FirmwareStatusNotification(status="DownloadFailed"))
            for status in ("Downloading", "Downloaded", "Installing", "InstallationFailed"):
                await cp201.call(
                    call201.FirmwareStatusNotification(status=status, request_id=request_id)
                )
            return cp16.received, cp201.received

    received16, received201 = run(scenario(), timeout=40)
    assert received16[0][0] == "UpdateFirmware" and received16[0][1]["location"] == URL
    assert received201[0][0] == "UpdateFirmware"
    assert received201[0][1]["firmware"]["location"] == URL
    assert firmware.firmware_campaigns_advance(now=timezone.now()) == 2
    u16 = FirmwareUpdate.objects.get(charger=c16)
    u201 = FirmwareUpdate.objects.get(charger=c201)
    assert (u16.status, u16.ocpp_status) == ("failed", "DownloadFailed")
    assert (u201.status, u201.ocpp_status) == ("failed", "InstallationFailed")
    assert received201[0][1]["request_id"] == u201.command_id
    summary = firmware.firmware_campaign_summary(campaign=u16.campaign)
    assert (summary.installed, summary.failed, summary.pending) == (0, 2, 0)
    u16.campaign.refresh_from_db()
    assert u16.campaign.status == "finished"


def test_refused_update_fails_at_once(ocpp_server):
    """OCA TC_L_05_CSMS-like: a charger that refuses the request (InvalidCertificate)."""
    charger = factories.ChargerFactory(charge_point_id="FW-NO-201", ocpp_version="2.0.1")
    refusing = {
        **ANSWERS_201,
        "UpdateFirmware": result201.UpdateFirmware(status="InvalidCertificate"),
    }

    async def scenario() -> None:
        async with charger_online(ocpp_server.url("FW-NO-201"), "FW-NO-201", "2.0.1", refusing):
            await server_quiet()
            await _start(ocpp_server, [charger])

    run(scenario(), timeout=30)
    update = FirmwareUpdate.objects.get(charger=charger)
    assert (update.status, update.ocpp_status) == ("failed", "InvalidCertificate")
    assert update.detail == "The charger answered InvalidCertificate."
    assert update.send_attempts == 1
