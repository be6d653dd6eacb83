"""The charger maintenance page: rendered for the charger's organization only,
commands for managers only; end to end, a manager changes a key on a simulated
charger through the page on the real server."""

from __future__ import annotations

import asyncio

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.monitoring.models import ChargerConfiguration, ConfigurationChange, ConfigurationTemplate
from apps.monitoring.services import configuration
from apps.sites.models import Membership
from tests import factories
from tests.monitoring.maintenance.conftest import simulated, with_station
from tests.ocpp_consumer.test_admin_commands_e2e import AdminBrowser, messages_of


def _page(charger) -> str:
    return reverse("monitoring:charger-maintenance", args=[charger.pk])


@pytest.mark.django_db
def test_page_shows_configuration_against_template(client, manager_a, org_a):
    charger = factories.ChargerFactory(zone__property__organization=org_a)
    template = ConfigurationTemplate.objects.create(organization=org_a, name="Garage AC")
    template.keys.create(key="HeartbeatInterval", value="120")
    template.keys.create(key="ConnectionTimeOut", value="60")
    ChargerConfiguration.objects.create(
        charger=charger,
        source=ChargerConfiguration.Source.GET_CONFIGURATION,
        values={"HeartbeatInterval": "300", "ConnectionTimeOut": "60", "NumberOfConnectors": "2"},
        readonly_keys=["NumberOfConnectors"],
        requested_at=timezone.now(),
    )
    configuration.charger_configuration_drift_evaluate(charger=charger, now=timezone.now())
    client.force_login(manager_a)
    response = client.get(_page(charger))
    assert response.status_code == 200
    rows = {row.key: row for row in response.context["page"].rows}
    assert rows["HeartbeatInterval"].differs and rows["HeartbeatInterval"].expected == "120"
    assert not rows["ConnectionTimeOut"].differs
    assert rows["NumberOfConnectors"].readonly and rows["NumberOfConnectors"].expected is None
    html = response.content.decode()
    assert '<tr class="maint-drift">' in html and "Garage AC" in html
    assert "<strong>drifted</strong> on 1 key" in html
    assert "Read configuration now" in html


@pytest.mark.django_db
def test_page_is_404_for_other_tenants_and_read_only_for_viewers(client, org_a, org_b):
    charger = factories.ChargerFactory(zone__property__organization=org_a)
    stranger = factories.UserFactory(username="stranger")
    factories.MembershipFactory(user=stranger, organization=org_b)
    client.force_login(stranger)
    assert client.get(_page(charger)).status_code == 404
    assert client.post(_page(charger), {"action": "read"}).status_code == 404
    viewer = factories.UserFactory(username="viewer")
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    response = client.get(_page(charger))
    assert response.status_code == 200
    assert "Read configuration now" not in response.content.decode()
    for action in ("read", "diagnostics"):
        assert client.post(_page(charger), {"action": action}).status_code == 403
    response = client.post(_page(charger), {"action": "change", "key": "A", "value": "1"})
    assert response.status_code == 403
    assert not ConfigurationChange.objects.exists()
    client.logout()
    assert client.get(_page(charger)).status_code == 302


# The command goes through database_sync_to_async, which closes the connection.
@pytest.mark.django_db(transaction=True)
def test_offline_change_is_recorded_and_shown(client, manager_a, org_a):
    charger = factories.ChargerFactory(zone__property__organization=org_a)
    client.force_login(manager_a)
    response = client.post(
        _page(charger), {"action": "change", "key": "HeartbeatInterval", "value": "60"}, follow=True
    )
    assert response.status_code == 200
    change = ConfigurationChange.objects.get()
    assert (change.key, change.status) == ("HeartbeatInterval", "Offline")
    assert "HeartbeatInterval: Charger offline." in [str(m) for m in response.context["messages"]]
    assert "Charger offline" in response.content.decode()


def test_manager_changes_a_key_through_the_page(ocpp_server, org_a, manager_a):
    charger = factories.ChargerFactory(
        zone__property__organization=org_a, charge_point_id="CP-PAGE"
    )
    browser = AdminBrowser(ocpp_server.port, manager_a)
    station = simulated(ocpp_server.port, charger.charge_point_id, "1.6")

    async def scenario() -> str:
        status, page = await asyncio.to_thread(
            browser.post,
            _page(charger),
            {"action": "change", "key": "HeartbeatInterval", "value": "45"},
        )
        assert status == 200
        assert station.config["HeartbeatInterval"] == "45"
        return page

    page = with_station(station, scenario)
    assert ("success", "HeartbeatInterval: Accepted.") in messages_of(page)
    # Read back after the change: the page shows what the charger now reports.
    assert "<td>HeartbeatInterval</td>\n        <td>45</td>" in page
    change = ConfigurationChange.objects.get(charger=charger)
    assert change.requested_by == manager_a and change.command.source == "dashboard"
