"""The maintenance actions of the charger list, end to end: a manager's browser
session on the real server (urllib with a cookie jar), a simulated charger on a
real websocket, and what the manager reads and downloads afterwards."""

from __future__ import annotations

import asyncio
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.chargers.models import ChargerEvent, CommandLog
from apps.monitoring.models import (
    ChargerConfiguration,
    ConfigurationChange,
    ConfigurationDrift,
    ConfigurationTemplate,
    DiagnosticsRequest,
    FirmwareCampaign,
    FirmwareUpdate,
)
from apps.sites.models import Membership
from tests import factories
from tests.monitoring.maintenance.conftest import simulated, until, with_station
from tests.ocpp_consumer.test_admin_commands_e2e import CHANGELIST, AdminBrowser, messages_of

pytestmark = pytest.mark.django_db(transaction=True)


def _text(page: str, start: str) -> tuple[str, str]:
    found = [(level, text) for level, text in messages_of(page) if text.startswith(start)]
    assert len(found) == 1, messages_of(page)
    return found[0]


def test_charger_list_maintenance_actions(ocpp_server, settings, org_a, manager_a):
    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{ocpp_server.port}"
    zone = factories.ZoneFactory(property__organization=org_a)
    charger = factories.ChargerFactory(charge_point_id="CP-ADM-MAINT", zone=zone)
    offline = factories.ChargerFactory(charge_point_id="CP-ADM-AWAY", zone=zone)
    template = ConfigurationTemplate.objects.create(
        organization=org_a, name="Residents AC", ocpp_version="1.6"
    )
    template.keys.create(key="HeartbeatInterval", value="900")
    template.keys.create(key="MeterValueSampleInterval", value="60")
    browser = AdminBrowser(ocpp_server.port, manager_a)
    station = simulated(ocpp_server.port, charger.charge_point_id, "1.6")
    pages: dict[str, str] = {}

    async def scenario() -> None:
        status, pages["read"] = await browser.action("read_configuration", [charger, offline])
        assert status == 200
        status, pages["apply"] = await browser.action("apply_configuration_template", [charger])
        assert status == 200
        status, pages["diagnostics"] = await browser.action("request_diagnostics", [charger])
        assert status == 200
        await until(
            lambda: DiagnosticsRequest.objects.filter(charger=charger, status="uploaded").exists(),
            seconds=15,
        )
        # Firmware: the action first asks for the campaign, then starts it.
        status, pages["firmware_form"] = await browser.action("update_firmware", [charger])
        assert status == 200
        data = {
            "action": "update_firmware",
            "_selected_action": [charger.pk],
            "apply": "1",
            "name": "AC 3.1",
            "firmware_url": "https://firmware.example.com/sim-3.1.bin",
            "retrieve_at": "",
            "retries": "1",
            "retry_interval_s": "",
        }
        status, pages["firmware"] = await asyncio.to_thread(browser.post, CHANGELIST, data)
        assert status == 200
        await until(
            lambda: ChargerEvent.objects.filter(
                charger=charger, payload__status="Installed"
            ).exists(),
            seconds=20,
        )
        await until(lambda: station.stats["connects"] >= 2 and station.online.is_set(), 20)

    with_station(station, scenario, timeout=120)

    # Read configuration: the online charger's keys; the offline one said so.
    level, text = _text(pages["read"], "CP-ADM-MAINT")
    assert level == "success" and re.fullmatch(r"CP-ADM-MAINT: \d+ keys read\.", text)
    assert _text(pages["read"], "CP-ADM-AWAY")[0] == "error"
    assert "offline" in _text(pages["read"], "CP-ADM-AWAY")[1]
    full = ChargerConfiguration.objects.filter(charger=charger, requested_keys=[]).get()
    assert full.values["HeartbeatInterval"] == "300"

    # Apply the template: both keys accepted, read back, no drift left.
    assert _text(pages["apply"], "CP-ADM-MAINT") == (
        "success",
        "CP-ADM-MAINT: 2 Accepted; now matches its template",
    )
    assert set(
        ConfigurationChange.objects.filter(charger=charger, template=template).values_list(
            "key", "status"
        )
    ) == {("HeartbeatInterval", "Accepted"), ("MeterValueSampleInterval", "Accepted")}
    assert ConfigurationDrift.objects.get(charger=charger).is_drifted is False
    assert all(
        log.issued_by == manager_a and log.source == CommandLog.Source.ADMIN
        for log in CommandLog.objects.filter(command="change-configuration")
    )

    # Diagnostics: uploaded, listed with a download link that serves the file.
    assert _text(pages["diagnostics"], "CP-ADM-MAINT")[0] == "success"
    upload = DiagnosticsRequest.objects.get(charger=charger)
    status, listing = browser.get(reverse("admin:monitoring_diagnosticsrequest_changelist"))
    download = reverse("monitoring:diagnostics-download", args=[upload.pk])
    assert status == 200 and download in listing
    status, content = browser.get(download)
    assert status == 200 and "diagnostics of CP-ADM-MAINT" in content

    # Firmware: the form, then the campaign page; the charger installed it.
    assert "Start the campaign" in pages["firmware_form"]
    assert "CP-ADM-MAINT" in pages["firmware_form"]
    campaign = FirmwareCampaign.objects.get()
    assert campaign.organization == org_a and campaign.created_by == manager_a
    assert campaign.retries == 1
    assert "AC 3.1" in pages["firmware"]
    update = FirmwareUpdate.objects.get(campaign=campaign)
    assert update.status == FirmwareUpdate.Status.SENT
    # The periodic job folds the notifications in.
    from apps.monitoring.services import firmware

    firmware.firmware_campaigns_advance(now=timezone.now())
    update.refresh_from_db()
    assert update.status == FirmwareUpdate.Status.INSTALLED
    campaign.refresh_from_db()
    assert campaign.status == FirmwareCampaign.Status.FINISHED


def test_other_tenant_cannot_download_over_http(ocpp_server, org_a, org_b):
    """A manager of B, logged in on the real server, gets 404 for A's file."""
    charger = factories.ChargerFactory(zone__property__organization=org_a)
    from apps.monitoring.services import diagnostics

    request, token = diagnostics._request_create(
        charger=charger, requested_by=None, now=timezone.now()
    )
    diagnostics.diagnostics_upload_receive(token=token, file_name="a.log", chunks=[b"secret\n"])
    manager_b = factories.UserFactory(username="manager_b_http")
    factories.MembershipFactory(
        user=manager_b, organization=org_b, role=Membership.Role.PROPERTY_MANAGER
    )
    url = reverse("monitoring:diagnostics-download", args=[request.pk])
    status, _ = AdminBrowser(ocpp_server.port, manager_b).get(url)
    assert status == 404
    viewer_a = factories.UserFactory(username="viewer_a_http")
    factories.MembershipFactory(user=viewer_a, organization=org_a, role=Membership.Role.VIEWER)
    status, body = AdminBrowser(ocpp_server.port, viewer_a).get(url)
    assert status == 200 and body == "secret\n"
