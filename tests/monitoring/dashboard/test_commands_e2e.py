"""The charger page's maintenance buttons, end to end: a logged-in manager POSTs the
page's forms (with its CSRF token) to a real daphne server, the command travels
through the channel layer to the consumer holding a real websocket charger (the
`ocpp` package's ChargePoint, validating every request against the OCPP schema),
and the charger's answer shows on the page after the redirect."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

import pytest
from django.urls import reverse

# The test charger speaks OCPP like those of tests/ocpp_consumer (which may import
# the package): the ban keeps it out of the application, not out of test stations.
from ocpp.v201 import call as c201  # noqa: TID251

from apps.chargers.models import ChargingSession, CommandLog, Connector
from tests import factories
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.test_admin_commands_e2e import AdminBrowser
from tests.ocpp_consumer.test_commands_e2e import charger_online

MESSAGE = re.compile(r'<p class="message message-(\w+)">(.*?)</p>', re.S)


def messages_of(page: str) -> list[tuple[str, str]]:
    return [(level, html.unescape(text).strip()) for level, text in MESSAGE.findall(page)]


@pytest.fixture
def browser(ocpp_server, manager_a) -> AdminBrowser:
    return AdminBrowser(ocpp_server.port, manager_a)


@pytest.fixture
def station_charger(org_a):
    def make(charge_point_id: str, version: str = "1.6") -> Any:
        charger = factories.ChargerFactory(
            charge_point_id=charge_point_id,
            zone__property__organization=org_a,
            ocpp_version=version,
        )
        for number in (1, 2):
            factories.ConnectorFactory(
                charger=charger, connector_id=number, status=Connector.Status.AVAILABLE
            )
        return charger

    return make


def press(browser: AdminBrowser, charge_point_id: str, hand: str, data: dict[str, Any]) -> str:
    """Open the charger page (for its CSRF cookie) and submit one of its forms; the
    page the redirect leads to."""
    tab = "charger-configuration" if hand == "read-configuration" else "charger"
    status, page = browser.get(reverse(f"monitoring:{tab}", args=[charge_point_id]))
    assert status == 200
    assert f'data-hand="{hand}"' in page
    url = reverse("monitoring:charger-command", args=[charge_point_id, hand])
    status, page = browser.post(url, data)
    assert status == 200
    return page


@pytest.mark.parametrize(
    ("version", "hand", "data", "request_sent", "shown"),
    [
        (
            "1.6",
            "reset",
            {"type": "soft"},
            ("Reset", {"type": "Soft"}),
            ("success", "Reset: the charger answered Accepted."),
        ),
        (
            "1.6",
            "reset",
            {"type": "hard"},
            ("Reset", {"type": "Hard"}),
            ("success", "Reset: the charger answered Accepted."),
        ),
        (
            "2.0.1",
            "reset",
            {"type": "soft"},
            ("Reset", {"type": "OnIdle"}),
            ("success", "Reset: the charger answered Scheduled."),
        ),
        (
            "1.6",
            "remote-start",
            {"connector": "2", "id_tag": "TAG-42"},
            ("RemoteStartTransaction", {"connector_id": 2, "id_tag": "TAG-42"}),
            ("success", "Remote start: the charger answered Accepted."),
        ),
        (
            "1.6",
            "unlock",
            {"connector": "1"},
            ("UnlockConnector", {"connector_id": 1}),
            ("success", "Unlock connector: the charger answered Unlocked."),
        ),
        (
            "2.0.1",
            "unlock",
            {"connector": "1"},
            ("UnlockConnector", {"evse_id": 1, "connector_id": 1}),
            ("warning", "Unlock connector: the charger answered UnlockFailed."),
        ),
        (
            "1.6",
            "availability",
            {"connector": "0", "available": "inoperative"},
            ("ChangeAvailability", {"connector_id": 0, "type": "Inoperative"}),
            ("success", "Change availability: the charger answered Scheduled."),
        ),
        (
            "1.6",
            "trigger",
            {"message": "StatusNotification", "connector": "1"},
            ("TriggerMessage", {"requested_message": "StatusNotification", "connector_id": 1}),
            ("success", "Trigger message: the charger answered Accepted."),
        ),
        (
            "2.0.1",
            "trigger",
            {"message": "DiagnosticsStatusNotification", "connector": ""},
            ("TriggerMessage", {"requested_message": "LogStatusNotification"}),
            ("warning", "Trigger message: the charger answered Rejected."),
        ),
    ],
)
def test_button_sends_its_command_and_shows_the_answer(
    browser, station_charger, ocpp_server, version, hand, data, request_sent, shown
):
    station_charger("HANDS-1", version)

    async def scenario() -> tuple[str, list]:
        async with charger_online(ocpp_server.url("HANDS-1"), "HANDS-1", version) as cp:
            page = await asyncio.to_thread(press, browser, "HANDS-1", hand, data)
            return page, cp.received

    page, received = run(scenario())

    assert received == [request_sent]
    assert messages_of(page) == [shown]
    log = CommandLog.objects.get()
    assert log.source == CommandLog.Source.DASHBOARD
    assert log.issued_by.username == "manager_a"
    assert log.outcome == CommandLog.Outcome.ANSWERED
    # The command history on the page shows it too.
    history = page[page.index('id="commands-heading"') :]
    assert log.command in history and log.status in history


def test_remote_stop_stops_the_session_in_progress(browser, station_charger, ocpp_server):
    charger = station_charger("STOP-1")
    session = factories.ChargingSessionFactory(
        charger=charger,
        connector=charger.connectors.get(connector_id=1),
        ocpp_transaction_id="4711",
        id_tag="TAG-9",
    )

    async def scenario() -> tuple[str, list]:
        async with charger_online(ocpp_server.url("STOP-1"), "STOP-1", "1.6") as cp:
            page = await asyncio.to_thread(
                press, browser, "STOP-1", "remote-stop", {"session": str(session.pk)}
            )
            return page, cp.received

    page, received = run(scenario())

    assert received == [("RemoteStopTransaction", {"transaction_id": 4711})]
    # The canned charger refuses: the answer is shown as it is, as a warning.
    assert messages_of(page) == [("warning", "Remote stop: the charger answered Rejected.")]
    assert ChargingSession.objects.get().state == ChargingSession.State.ACTIVE


def test_read_configuration_shows_the_keys_the_charger_sent(browser, station_charger, ocpp_server):
    station_charger("CONF-1")

    async def scenario() -> tuple[str, list]:
        async with charger_online(ocpp_server.url("CONF-1"), "CONF-1", "1.6") as cp:
            page = await asyncio.to_thread(press, browser, "CONF-1", "read-configuration", {})
            return page, cp.received

    page, received = run(scenario())

    assert received == [("GetConfiguration", {})]
    assert messages_of(page) == [
        ("success", "Read configuration: the charger answered with 1 keys.")
    ]
    # The redirect leads to the configuration tab, which shows the answer.
    assert "<code>HeartbeatInterval</code></td><td><code>300</code>" in page
    assert "Unknown keys: Nope" in page


def test_a_charger_that_does_not_answer_is_reported(
    browser, station_charger, ocpp_server, settings
):
    settings.MONITORING_COMMAND_TIMEOUT = 1
    station_charger("MUTE-1")

    async def answer_late(**_: Any) -> Any:
        await asyncio.sleep(3)

    async def scenario() -> str:
        async with charger_online(
            ocpp_server.url("MUTE-1"), "MUTE-1", "1.6", {"Reset": answer_late}
        ):
            return await asyncio.to_thread(press, browser, "MUTE-1", "reset", {"type": "soft"})

    page = run(scenario())

    [(level, text)] = messages_of(page)
    assert level == "error"
    assert text.startswith("Reset: no answer from the charger.")
    assert CommandLog.objects.get().outcome == CommandLog.Outcome.TIMEOUT


def test_a_viewer_cannot_command_a_connected_charger(ocpp_server, viewer_a, station_charger):
    station_charger("VIEW-1")
    browser = AdminBrowser(ocpp_server.port, viewer_a)

    async def scenario() -> tuple[str, int, list]:
        async with charger_online(ocpp_server.url("VIEW-1"), "VIEW-1", "1.6") as cp:
            _, page = await asyncio.to_thread(
                browser.get, reverse("monitoring:charger", args=["VIEW-1"])
            )
            status, _ = await asyncio.to_thread(
                browser.post,
                reverse("monitoring:charger-command", args=["VIEW-1", "reset"]),
                {"type": "hard"},
            )
            return page, status, cp.received

    page, status, received = run(scenario())

    assert "data-hand=" not in page
    assert status == 403
    assert received == []
    assert not CommandLog.objects.exists()


def test_read_configuration_of_a_201_charger_shows_its_base_report(
    browser, station_charger, ocpp_server
):
    """2.0.1 has no "all keys" GetVariables: the read asks for a base report, which
    the charger sends as NotifyReport; the configuration tab shows its variables."""
    station_charger("CONF-201", "2.0.1")

    async def scenario() -> tuple[str, str, list]:
        async with charger_online(ocpp_server.url("CONF-201"), "CONF-201", "2.0.1") as cp:
            page = await asyncio.to_thread(press, browser, "CONF-201", "read-configuration", {})
            [(action, request)] = cp.received
            assert action == "GetBaseReport"
            await cp.call(
                c201.NotifyReport(
                    request_id=request["request_id"],
                    generated_at="2030-01-01T00:00:00Z",
                    seq_no=0,
                    report_data=[
                        {
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                            "variable_attribute": [
                                {"type": "Actual", "value": "120", "mutability": "ReadWrite"}
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            _, after = await asyncio.to_thread(
                browser.get, reverse("monitoring:charger-configuration", args=["CONF-201"])
            )
            return page, after, cp.received

    page, after, received = run(scenario())

    assert received[0][1]["report_base"] == "ConfigurationInventory"
    assert messages_of(page) == [
        (
            "success",
            "Read configuration: the charger answered Accepted; it sends its "
            "configuration as a report, shown below as it arrives.",
        )
    ]
    assert "<code>OCPPCommCtrlr.HeartbeatInterval</code></td><td><code>120</code>" in after
