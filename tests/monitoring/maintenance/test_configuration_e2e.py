"""Configuration against a real simulated charger on the running server: the
reading is stored (1.6 GetConfiguration; 2.0.1 GetBaseReport answered by
NotifyReport parts, and GetVariables), a template is applied key by key with each
answer recorded, and drift is flagged and cleared from what the charger reports."""

from __future__ import annotations

import asyncio

import pytest
from django.utils import timezone

from apps.chargers.models import Charger, ChargerEvent, CommandLog
from apps.monitoring.models import (
    ChargerConfiguration,
    ConfigurationChange,
    ConfigurationDrift,
    ConfigurationTemplate,
)
from apps.monitoring.services import configuration
from tests import factories
from tests.monitoring.maintenance.conftest import on_server, simulated, until, with_station

HEARTBEAT = {"1.6": "HeartbeatInterval", "2.0.1": "OCPPCommCtrlr.HeartbeatInterval"}
UNSUPPORTED = {"1.6": "NoSuchKey", "2.0.1": "OCPPCommCtrlr.NoSuchVariable"}
READ_ONLY = {"1.6": "NumberOfConnectors", "2.0.1": "SmartChargingCtrlr.Enabled"}


def _charger(cp_id: str, version: str) -> Charger:
    return factories.ChargerFactory(charge_point_id=cp_id, ocpp_version=version)


def test_v16_configuration_is_read_and_stored(ocpp_server):
    """OCA TC_019_1_CSMS: retrieve all configuration keys, stored as one reading."""
    charger = _charger("CP-CFG-READ-16", "1.6")
    station = simulated(ocpp_server.port, charger.charge_point_id, "1.6")

    async def scenario() -> ChargerConfiguration:
        return await on_server(
            ocpp_server,
            configuration.charger_configuration_read,
            charger=charger,
            source=CommandLog.Source.ADMIN,
        )

    reading = with_station(station, scenario)
    stored = ChargerConfiguration.objects.get(pk=reading.pk)
    assert stored.status == ChargerConfiguration.Status.COMPLETE
    assert stored.source == ChargerConfiguration.Source.GET_CONFIGURATION
    assert stored.values["HeartbeatInterval"] == "300"
    assert stored.values["SupportedFeatureProfiles"].startswith("Core,")
    assert "NumberOfConnectors" in stored.readonly_keys
    assert "HeartbeatInterval" not in stored.readonly_keys
    # The write-only password is never reported.
    assert "AuthorizationKey" not in stored.values
    assert stored.command is not None and stored.command.command == "get-configuration"


def test_v201_base_report_parts_become_one_reading(ocpp_server):
    """OCA TC_B_12_CSMS: GetBaseReport ConfigurationInventory, its NotifyReport kept."""
    charger = _charger("CP-CFG-READ-201", "2.0.1")
    station = simulated(ocpp_server.port, charger.charge_point_id, "2.0.1")

    async def scenario() -> ChargerConfiguration:
        reading = await on_server(
            ocpp_server, configuration.charger_configuration_read, charger=charger
        )
        assert reading.status == ChargerConfiguration.Status.PENDING
        # The NotifyReport parts arrive after the answer (kept as charger events);
        # collect once the last one is in.
        await until(
            lambda: ChargerEvent.objects.filter(
                charger=charger, kind=ChargerEvent.Kind.NOTIFY_REPORT
            ).exists(),
            seconds=15,
        )
        await asyncio.sleep(0.2)
        completed = await asyncio.to_thread(
            configuration.configuration_reports_collect, now=timezone.now()
        )
        assert [r.pk for r in completed] == [reading.pk]
        return reading

    reading = with_station(station, scenario)
    stored = ChargerConfiguration.objects.get(pk=reading.pk)
    assert stored.status == ChargerConfiguration.Status.COMPLETE
    assert stored.source == ChargerConfiguration.Source.BASE_REPORT
    assert stored.report_request_id == stored.command_id
    assert stored.values["OCPPCommCtrlr.HeartbeatInterval"] == "300"
    assert stored.values["SampledDataCtrlr.TxUpdatedInterval"] == "30"
    assert "SecurityCtrlr.SecurityProfile" in stored.readonly_keys
    # A write-only variable is listed without its value.
    assert stored.values["SecurityCtrlr.BasicAuthPassword"] is None


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_template_applied_drift_flagged_and_cleared(ocpp_server, version):
    """OCA TC_019_2_CSMS / TC_B_06_CSMS (read one key), TC_021_CSMS (change keys one
    by one, 1.6) and TC_B_10_CSMS (SetVariables with several values, 2.0.1)."""
    charger = _charger(f"CP-CFG-TPL-{version}", version)
    org = charger.zone.property.organization
    template = ConfigurationTemplate.objects.create(
        organization=org, name="Depot AC", ocpp_version=version
    )
    template.keys.create(key=HEARTBEAT[version], value="120")
    template.keys.create(key=UNSUPPORTED[version], value="1")
    template.keys.create(key=READ_ONLY[version], value="42")
    station = simulated(ocpp_server.port, charger.charge_point_id, version)
    heartbeat = HEARTBEAT[version]

    async def scenario() -> None:
        # Before: the charger's own value differs from the template.
        await on_server(
            ocpp_server, configuration.charger_configuration_read, charger=charger, keys=[heartbeat]
        )
        drift = await asyncio.to_thread(ConfigurationDrift.objects.get, charger=charger)
        assert drift.is_drifted
        assert {"key": heartbeat, "expected": "120", "reported": "300"} in drift.differences

        [result] = await on_server(
            ocpp_server,
            configuration.configuration_template_apply,
            template=template,
            chargers=[charger],
            source=CommandLog.Source.ADMIN,
        )
        answers = {c.key: c.status for c in result.changes}
        assert answers == {
            heartbeat: "Accepted",
            UNSUPPORTED[version]: "NotSupported",
            READ_ONLY[version]: "Rejected",
        }
        # The charger really took the value.
        config_key = heartbeat if version == "1.6" else ("OCPPCommCtrlr", "HeartbeatInterval")
        assert station.config[config_key] == "120"

        # Still drifted, on the two keys the charger would not take.
        drift = await asyncio.to_thread(ConfigurationDrift.objects.get, charger=charger)
        assert drift.is_drifted
        assert sorted(d["key"] for d in drift.differences) == sorted(
            [UNSUPPORTED[version], READ_ONLY[version]]
        )

        # The template is fixed: the next reading clears the drift.
        await asyncio.to_thread(
            lambda: template.keys.filter(
                key__in=[UNSUPPORTED[version], READ_ONLY[version]]
            ).delete()
        )
        await on_server(
            ocpp_server, configuration.charger_configuration_read, charger=charger, keys=[heartbeat]
        )
        drift = await asyncio.to_thread(ConfigurationDrift.objects.get, charger=charger)
        assert not drift.is_drifted and drift.differences == []

        # Someone changes the key on the charger: the next reading flags it again.
        change = await on_server(
            ocpp_server,
            configuration.charger_configuration_change,
            charger=charger,
            key=heartbeat,
            value="600",
        )
        assert change.status == "Accepted"
        drift = await asyncio.to_thread(ConfigurationDrift.objects.get, charger=charger)
        assert drift.is_drifted
        assert drift.differences == [{"key": heartbeat, "expected": "120", "reported": "600"}]

    with_station(station, scenario)
    recorded = ConfigurationChange.objects.filter(charger=charger, template=template)
    assert recorded.count() == 3
    assert set(recorded.values_list("status", flat=True)) == {
        "Accepted",
        "NotSupported",
        "Rejected",
    }


def test_refresh_reads_online_chargers_and_evaluates_drift(ocpp_server):
    charger = _charger("CP-CFG-REFRESH", "1.6")
    offline = _charger("CP-CFG-OFFLINE", "1.6")
    template = ConfigurationTemplate.objects.create(
        organization=charger.zone.property.organization, name="All 1.6", ocpp_version="1.6"
    )
    template.keys.create(key="MeterValueSampleInterval", value="60")
    station = simulated(ocpp_server.port, charger.charge_point_id, "1.6")

    async def scenario() -> int:
        read = await on_server(ocpp_server, configuration.configuration_refresh, now=timezone.now())
        # Read recently: the next run leaves it alone.
        again = await on_server(
            ocpp_server, configuration.configuration_refresh, now=timezone.now()
        )
        assert again == 0
        return read

    assert with_station(station, scenario) == 1
    reading = ChargerConfiguration.objects.get(charger=charger)
    assert reading.requested_keys == ["MeterValueSampleInterval"]
    assert reading.command.source == CommandLog.Source.TASK
    drift = ConfigurationDrift.objects.get(charger=charger)
    assert drift.differences == [
        {"key": "MeterValueSampleInterval", "expected": "60", "reported": "30"}
    ]
    assert not ChargerConfiguration.objects.filter(charger=offline).exists()
