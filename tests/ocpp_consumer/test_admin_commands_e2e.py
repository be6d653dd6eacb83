"""Remote commands from the charger admin, end to end: a browser session on a real
daphne server (the admin's sync view waits for the chargers' answers through the
in-memory channel layer of that server's event loop), real websocket chargers
(the `ocpp` package's ChargePoint, validating every request we send), and the
admin messages the user reads afterwards.

The browser is urllib with a cookie jar: the session cookie comes from
force_login, the CSRF token from the page, and the messages cookie set by the
action's redirect is carried to the page that shows them."""

from __future__ import annotations

import asyncio
import html
import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from ocpp.v16 import call_result as result16
from ocpp.v201 import call_result as result201

from apps.chargers.admin import POSITIVE_ANSWERS
from apps.chargers.models import Charger, CommandLog
from apps.sites.models import Membership
from tests import factories
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.stations import connect
from tests.ocpp_consumer.test_commands_e2e import (
    ANSWERS_16,
    ANSWERS_201,
    _wait_online,
    charger_online,
)

CHANGELIST = reverse("admin:chargers_charger_changelist")
MESSAGE_LIST = re.compile(r'<ul class="messagelist">(.*?)</ul>', re.S)
MESSAGE = re.compile(r'<li class="(\w+)">(.*?)</li>', re.S)


# --- a browser on the real server -----------------------------------------------------


def _cookie(name: str, value: str) -> http.cookiejar.Cookie:
    return http.cookiejar.Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain="127.0.0.1",
        domain_specified=False,
        domain_initial_dot=False,
        path="/",
        path_specified=True,
        secure=False,
        expires=None,
        discard=True,
        comment=None,
        comment_url=None,
        rest={},
    )


class AdminBrowser:
    """A logged-in admin user talking HTTP to the test server."""

    def __init__(self, port: int, user: Any) -> None:
        client = Client()
        client.force_login(user)
        session_cookie = django_settings.SESSION_COOKIE_NAME
        self.base = f"http://127.0.0.1:{port}"
        self.jar = http.cookiejar.CookieJar()
        self.jar.set_cookie(_cookie(session_cookie, client.cookies[session_cookie].value))
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path))  # noqa: S310 (http://127.0.0.1)

    def post(self, path: str, data: dict[str, Any]) -> tuple[int, str]:
        """POST a form the way the page does: with the CSRF token of the cookie
        (fetched by opening the page first). Redirects are followed."""
        if not any(c.name == django_settings.CSRF_COOKIE_NAME for c in self.jar):
            self.get(path)
        token = next(c.value for c in self.jar if c.name == django_settings.CSRF_COOKIE_NAME)
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}, doseq=True)
        request = urllib.request.Request(  # noqa: S310 (http://127.0.0.1)
            self.base + path,
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return self._open(request)

    async def action(self, action: str, chargers: list[Charger]) -> tuple[int, str]:
        data = {"action": action, "_selected_action": [c.pk for c in chargers], "index": "0"}
        return await asyncio.to_thread(self.post, CHANGELIST, data)


def messages_of(page: str) -> list[tuple[str, str]]:
    """(level, text) of the admin messages on a page."""
    block = MESSAGE_LIST.search(page)
    if block is None:
        return []
    return [(level, html.unescape(text).strip()) for level, text in MESSAGE.findall(block[1])]


def message_for(page: str, charge_point_id: str) -> tuple[str, str]:
    found = [(lvl, text) for lvl, text in messages_of(page) if text.startswith(charge_point_id)]
    assert len(found) == 1, f"one message for {charge_point_id} expected in {messages_of(page)}"
    return found[0]


@pytest.fixture
def browser(ocpp_server, manager_a) -> AdminBrowser:
    return AdminBrowser(ocpp_server.port, manager_a)


@pytest.fixture
def make_charger(org_a):
    def make(charge_point_id: str, version: str = "1.6", org: Any = None) -> Charger:
        return factories.ChargerFactory(
            charge_point_id=charge_point_id,
            zone__property__organization=org or org_a,
            ocpp_version=version,
        )

    return make


def _delayed(answer: Any, seconds: float) -> Any:
    async def answer_later(**_: Any) -> Any:
        await asyncio.sleep(seconds)
        return answer

    return answer_later


# --- bulk actions ---------------------------------------------------------------------


def test_bulk_soft_reset_shows_each_chargers_answer(browser, make_charger, ocpp_server):
    """OCA TC_014_CSMS (soft reset) and TC_B_20_CSMS (reset OnIdle), from the admin,
    on three chargers at once: one accepts, one refuses, one is offline."""
    chargers = [make_charger("ADM-16"), make_charger("ADM-201", "2.0.1"), make_charger("ADM-OFF")]
    refusing = {**ANSWERS_201, "Reset": result201.Reset(status="Rejected")}

    async def scenario() -> tuple[int, str, list, list]:
        async with (
            charger_online(ocpp_server.url("ADM-16"), "ADM-16", "1.6") as cp16,
            charger_online(ocpp_server.url("ADM-201"), "ADM-201", "2.0.1", refusing) as cp201,
        ):
            status, page = await browser.action("soft_reset", chargers)
            return status, page, cp16.received, cp201.received

    status, page, received16, received201 = run(scenario())

    assert status == 200
    assert message_for(page, "ADM-16") == ("success", "ADM-16: reset → Accepted")
    assert message_for(page, "ADM-201") == ("warning", "ADM-201: reset → Rejected")
    assert message_for(page, "ADM-OFF") == (
        "warning",
        "ADM-OFF: offline, the command was not sent.",
    )
    assert received16 == [("Reset", {"type": "Soft"})]
    assert received201 == [("Reset", {"type": "OnIdle"})]
    logs = {
        log.charger.charge_point_id: log for log in CommandLog.objects.select_related("charger")
    }
    assert {cp: (log.outcome, log.status) for cp, log in logs.items()} == {
        "ADM-16": ("answered", "Accepted"),
        "ADM-201": ("answered", "Rejected"),
        "ADM-OFF": ("offline", ""),
    }
    for log in logs.values():
        assert log.command == "reset"
        assert log.params == {"type": "soft"}
        assert log.source == CommandLog.Source.ADMIN
        assert log.issued_by.username == "manager_a"


def test_bulk_start_charging_asks_for_the_token_then_starts_each_charger(
    browser, make_charger, ocpp_server
):
    """Remote start from the admin on several chargers at once: an intermediate page
    asks for the connector and id tag, then each charger gets its RemoteStartTransaction
    / RequestStartTransaction and each answer is shown."""
    chargers = [make_charger("START-16"), make_charger("START-201", "2.0.1")]
    selection = {"action": "start_charging", "_selected_action": [c.pk for c in chargers]}

    async def scenario() -> tuple[str, str, str, list, list]:
        async with (
            charger_online(ocpp_server.url("START-16"), "START-16", "1.6") as cp16,
            charger_online(ocpp_server.url("START-201"), "START-201", "2.0.1") as cp201,
        ):
            _, asked = await asyncio.to_thread(browser.post, CHANGELIST, selection)
            _, refused = await asyncio.to_thread(
                browser.post, CHANGELIST, {**selection, "apply": "1", "connector_id": "0"}
            )
            _, done = await asyncio.to_thread(
                browser.post,
                CHANGELIST,
                {**selection, "apply": "1", "connector_id": "2", "id_tag": "TAG-77"},
            )
            return asked, refused, done, cp16.received, cp201.received

    asked, refused, done, received16, received201 = run(scenario())

    assert 'id="start-charging-form"' in asked
    assert "START-16" in asked and "START-201" in asked
    assert 'id="start-charging-form"' in refused  # a bad connector: asked again
    assert "errorlist" in refused
    assert received16 == [("RemoteStartTransaction", {"connector_id": 2, "id_tag": "TAG-77"})]
    assert [action for action, _ in received201] == ["RequestStartTransaction"]
    assert received201[0][1]["id_token"] == {"id_token": "TAG-77", "type": "Central"}
    assert message_for(done, "START-16") == ("success", "START-16: remote-start → Accepted")
    assert message_for(done, "START-201")[1].startswith("START-201: remote-start")
    logs = CommandLog.objects.filter(command="remote-start")
    assert sorted(log.params["id_tag"] for log in logs) == ["TAG-77", "TAG-77"]


def test_bulk_stop_charging_stops_each_active_session(browser, make_charger, ocpp_server):
    """Remote stop from the admin on several chargers at once: each session in progress
    gets its own RemoteStopTransaction / RequestStopTransaction with its transaction
    id, and each answer is shown; a charger without a session gets nothing."""
    busy16, busy201, idle = (
        make_charger("STOP-16"),
        make_charger("STOP-201", "2.0.1"),
        make_charger("STOP-IDLE"),
    )
    session16 = factories.ChargingSessionFactory(
        connector__charger=busy16, ocpp_transaction_id="4711"
    )
    session201 = factories.ChargingSessionFactory(
        connector__charger=busy201, ocpp_transaction_id="tx-201-a"
    )
    factories.ChargingSessionFactory(
        connector__charger=idle,
        ocpp_transaction_id="9",
        state="completed",
        meter_stop_wh=2_000,
        started_at=timezone.now() - timedelta(hours=1),
        stopped_at=timezone.now(),
    )
    accepting = {
        **ANSWERS_16,
        "RemoteStopTransaction": result16.RemoteStopTransaction(status="Accepted"),
    }

    async def scenario() -> tuple[int, str, list, list]:
        async with (
            charger_online(ocpp_server.url("STOP-16"), "STOP-16", "1.6", accepting) as cp16,
            charger_online(ocpp_server.url("STOP-201"), "STOP-201", "2.0.1") as cp201,
        ):
            status, page = await browser.action("stop_active_sessions", [busy16, busy201, idle])
            return status, page, cp16.received, cp201.received

    status, page, received16, received201 = run(scenario())

    assert status == 200
    assert received16 == [("RemoteStopTransaction", {"transaction_id": 4711})]
    assert [action for action, _ in received201] == ["RequestStopTransaction"]
    assert received201[0][1]["transaction_id"] == "tx-201-a"
    shown = [text for _, text in messages_of(page)]
    assert f"Session {session16.pk}: STOP-16: remote-stop → Accepted" in shown
    assert any(text.startswith(f"Session {session201.pk}: STOP-201: remote-stop") for text in shown)
    assert len(shown) == 2  # nothing for the charger without a session
    stops = CommandLog.objects.filter(command="remote-stop").order_by("charger__charge_point_id")
    assert [(log.charger.charge_point_id, log.params) for log in stops] == [
        ("STOP-16", {"session_id": session16.pk}),
        ("STOP-201", {"session_id": session201.pk}),
    ]
    assert all(log.source == CommandLog.Source.ADMIN for log in stops)


def test_bulk_stop_charging_without_sessions_says_so(browser, make_charger, ocpp_server):
    idle = make_charger("STOP-NONE")

    status, page = run(browser.action("stop_active_sessions", [idle]))

    assert status == 200
    assert [text for _, text in messages_of(page)] == [
        "No session is in progress on the selected chargers."
    ]
    assert not CommandLog.objects.exists()


@pytest.mark.parametrize(
    ("action", "request_16", "request_201"),
    [
        ("hard_reset", ("Reset", {"type": "Hard"}), ("Reset", {"type": "Immediate"})),
        ("clear_cache", ("ClearCache", {}), ("ClearCache", {})),
        (
            "trigger_boot_notification",
            ("TriggerMessage", {"requested_message": "BootNotification"}),
            ("TriggerMessage", {"requested_message": "BootNotification"}),
        ),
        (
            "trigger_status_notification",
            ("TriggerMessage", {"requested_message": "StatusNotification"}),
            ("TriggerMessage", {"requested_message": "StatusNotification"}),
        ),
        (
            "trigger_heartbeat",
            ("TriggerMessage", {"requested_message": "Heartbeat"}),
            ("TriggerMessage", {"requested_message": "Heartbeat"}),
        ),
        (
            "make_available",
            ("ChangeAvailability", {"connector_id": 0, "type": "Operative"}),
            ("ChangeAvailability", {"operational_status": "Operative"}),
        ),
        (
            "make_unavailable",
            ("ChangeAvailability", {"connector_id": 0, "type": "Inoperative"}),
            ("ChangeAvailability", {"operational_status": "Inoperative"}),
        ),
        (
            "unlock_connector_1",
            ("UnlockConnector", {"connector_id": 1}),
            ("UnlockConnector", {"evse_id": 1, "connector_id": 1}),
        ),
    ],
)
def test_bulk_action_sends_its_command_to_both_versions(
    browser, make_charger, ocpp_server, action, request_16, request_201
):
    """OCA TC_013_CSMS / TC_B_22_CSMS (hard reset), TC_C_37_CSMS (clear cache),
    TC_054_CSMS (trigger message), TC_G_06_CSMS (change availability),
    TC_017_1_CSMS / TC_F_06_CSMS (unlock) — each as an admin action."""
    chargers = [make_charger("ACT-16"), make_charger("ACT-201", "2.0.1")]

    async def scenario() -> tuple[str, list, list]:
        async with (
            charger_online(ocpp_server.url("ACT-16"), "ACT-16", "1.6") as cp16,
            charger_online(ocpp_server.url("ACT-201"), "ACT-201", "2.0.1") as cp201,
        ):
            _, page = await browser.action(action, chargers)
            return page, cp16.received, cp201.received

    page, received16, received201 = run(scenario())

    assert received16 == [request_16]
    assert received201 == [request_201]
    # Whatever each answered (the canned answers differ per action), it is shown.
    for charge_point_id in ("ACT-16", "ACT-201"):
        log = CommandLog.objects.get(charger__charge_point_id=charge_point_id)
        assert log.outcome == "answered"
        level, text = message_for(page, charge_point_id)
        assert text == f"{charge_point_id}: {log.command} → {log.status}"
        assert level == ("success" if log.status in POSITIVE_ANSWERS else "warning")


def test_bulk_action_asks_chargers_concurrently(browser, make_charger, ocpp_server):
    """Four chargers that each take a second to answer: the action takes about one
    second, not four."""
    ids = [f"SLOW-{n}" for n in range(4)]
    chargers = [make_charger(cp_id) for cp_id in ids]
    slow = {**ANSWERS_16, "Reset": _delayed(result16.Reset(status="Accepted"), 1.0)}

    async def scenario() -> tuple[str, float]:
        async with (
            charger_online(ocpp_server.url(ids[0]), ids[0], "1.6", slow),
            charger_online(ocpp_server.url(ids[1]), ids[1], "1.6", slow),
            charger_online(ocpp_server.url(ids[2]), ids[2], "1.6", slow),
            charger_online(ocpp_server.url(ids[3]), ids[3], "1.6", slow),
        ):
            started = time.monotonic()
            _, page = await browser.action("hard_reset", chargers)
            return page, time.monotonic() - started

    page, elapsed = run(scenario())

    for cp_id in ids:
        assert message_for(page, cp_id) == ("success", f"{cp_id}: reset → Accepted")
    assert elapsed < 3.0, f"the chargers were asked one after the other ({elapsed:.1f} s)"


def test_bulk_action_reports_a_charger_that_does_not_answer(
    browser, make_charger, ocpp_server, settings
):
    settings.OCPP_ADMIN_COMMAND_TIMEOUT = 1
    chargers = [make_charger("QUICK-1"), make_charger("MUTE-1")]

    async def scenario() -> str:
        async with (
            charger_online(ocpp_server.url("QUICK-1"), "QUICK-1", "1.6"),
            # A raw socket: it reads the CALL and never answers.
            connect(ocpp_server.url("MUTE-1")),
        ):
            await asyncio.to_thread(_wait_online, "MUTE-1")
            _, page = await browser.action("soft_reset", chargers)
            return page

    page = run(scenario())

    assert message_for(page, "QUICK-1") == ("success", "QUICK-1: reset → Accepted")
    level, text = message_for(page, "MUTE-1")
    assert level == "error"
    assert text.startswith("MUTE-1: no answer.")
    assert CommandLog.objects.get(charger__charge_point_id="MUTE-1").outcome == "timeout"


def test_viewer_cannot_run_command_actions(ocpp_server, org_a, make_charger):
    viewer = factories.UserFactory(username="viewer")
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    charger = make_charger("VIEW-1")
    browser = AdminBrowser(ocpp_server.port, viewer)

    async def scenario() -> tuple[str, str, list]:
        async with charger_online(ocpp_server.url("VIEW-1"), "VIEW-1", "1.6") as cp:
            _, listing = await asyncio.to_thread(browser.get, CHANGELIST)
            _, page = await browser.action("soft_reset", [charger])
            return listing, page, cp.received

    listing, page, received = run(scenario())

    # The viewer sees the charger but is offered no action, and a forged POST does nothing.
    assert "VIEW-1" in listing
    assert 'value="soft_reset"' not in listing
    assert "soft_reset" not in page
    assert received == []
    assert not CommandLog.objects.exists()


def test_another_organizations_charger_is_not_actionable(browser, make_charger, ocpp_server, org_b):
    theirs = make_charger("THEIRS-1", org=org_b)

    async def scenario() -> tuple[int, str, list]:
        async with charger_online(ocpp_server.url("THEIRS-1"), "THEIRS-1", "1.6") as cp:
            status, page = await browser.action("hard_reset", [theirs])
            return status, page, cp.received

    status, page, received = run(scenario())

    assert status == 200
    assert "THEIRS-1" not in page
    assert received == []
    assert not CommandLog.objects.exists()


def test_bulk_action_skips_chargers_the_user_only_views(ocpp_server, org_a, org_b, make_charger):
    """A manager in one organization and a viewer in another: only the managed
    charger is commanded."""
    user = factories.UserFactory(username="mixed")
    factories.MembershipFactory(
        user=user, organization=org_a, role=Membership.Role.PROPERTY_MANAGER
    )
    factories.MembershipFactory(user=user, organization=org_b, role=Membership.Role.VIEWER)
    managed, viewed = make_charger("MANAGED-1"), make_charger("VIEWED-1", org=org_b)
    browser = AdminBrowser(ocpp_server.port, user)

    async def scenario() -> tuple[str, list, list]:
        async with (
            charger_online(ocpp_server.url("MANAGED-1"), "MANAGED-1", "1.6") as cp_managed,
            charger_online(ocpp_server.url("VIEWED-1"), "VIEWED-1", "1.6") as cp_viewed,
        ):
            _, page = await browser.action("soft_reset", [managed, viewed])
            return page, cp_managed.received, cp_viewed.received

    page, received_managed, received_viewed = run(scenario())

    assert message_for(page, "MANAGED-1") == ("success", "MANAGED-1: reset → Accepted")
    assert (
        "warning",
        "1 of the selected chargers may not be commanded by you: skipped.",
    ) in messages_of(page)
    assert received_managed == [("Reset", {"type": "Soft"})]
    assert received_viewed == []
    assert list(CommandLog.objects.values_list("charger__charge_point_id", flat=True)) == [
        "MANAGED-1"
    ]


# --- the remote command page ----------------------------------------------------------


def _command_url(charger: Charger) -> str:
    return reverse("admin:chargers_charger_command", args=[charger.pk])


def test_remote_command_page_sends_any_command_and_shows_the_answer(
    browser, make_charger, ocpp_server
):
    """OCA TC_019_1_CSMS (get configuration) from the admin's command page."""
    charger = make_charger("PAGE-1")
    url = _command_url(charger)

    async def scenario() -> tuple[int, str, list]:
        async with charger_online(ocpp_server.url("PAGE-1"), "PAGE-1", "1.6") as cp:
            status, page = await asyncio.to_thread(
                browser.post,
                url,
                {"command": "get-configuration", "params": '{"keys": ["HeartbeatInterval"]}'},
            )
            return status, page, cp.received

    status, page, received = run(scenario())

    assert status == 200
    assert received == [("GetConfiguration", {"key": ["HeartbeatInterval"]})]
    assert "Answer: Accepted" in page
    assert "&quot;HeartbeatInterval&quot;" in page  # the configuration the charger sent
    log = CommandLog.objects.get()
    assert (log.command, log.params, log.outcome) == (
        "get-configuration",
        {"keys": ["HeartbeatInterval"]},
        "answered",
    )
    assert f"Command log entry #{log.pk}" in page
    # The page lists the charger's recent commands, with who sent them.
    assert "manager_a" in page


def test_remote_command_page_reports_an_offline_charger(browser, make_charger, ocpp_server):
    charger = make_charger("PAGE-OFF")

    status, page = browser.post(
        _command_url(charger), {"command": "reset", "params": '{"type": "hard"}'}
    )

    assert status == 200
    assert message_for(page, "PAGE-OFF") == (
        "warning",
        "PAGE-OFF: offline, the command was not sent.",
    )
    assert CommandLog.objects.get().outcome == "offline"


def test_remote_command_page_refuses_bad_json_and_the_password_key(
    browser, make_charger, ocpp_server
):
    charger = make_charger("PAGE-BAD")
    url = _command_url(charger)

    async def scenario() -> tuple[str, str, str, list]:
        async with charger_online(ocpp_server.url("PAGE-BAD"), "PAGE-BAD", "1.6") as cp:
            _, not_json = await asyncio.to_thread(
                browser.post, url, {"command": "reset", "params": "{type: soft"}
            )
            _, not_object = await asyncio.to_thread(
                browser.post, url, {"command": "reset", "params": "[1]"}
            )
            _, password = await asyncio.to_thread(
                browser.post,
                url,
                {
                    "command": "change-configuration",
                    "params": '{"key": "AuthorizationKey", "value": "0123456789abcdefXYZ"}',
                },
            )
            return not_json, not_object, password, cp.received

    not_json, not_object, password, received = run(scenario())

    assert "Not valid JSON" in not_json
    assert "must be a JSON object" in not_object
    level, text = message_for(password, "PAGE-BAD")
    assert level == "error"
    assert "Rotate OCPP password" in text
    assert received == []
    assert not CommandLog.objects.exists()


def test_remote_command_page_is_for_those_who_may_change_the_charger(
    ocpp_server, org_a, org_b, manager_a, make_charger
):
    viewer = factories.UserFactory(username="viewer")
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    mine, theirs = make_charger("MINE-1"), make_charger("THEIRS-2", org=org_b)

    viewer_status, _ = AdminBrowser(ocpp_server.port, viewer).get(_command_url(mine))
    manager = AdminBrowser(ocpp_server.port, manager_a)
    other_status, other_page = manager.get(_command_url(theirs))
    change_status, change_page = manager.get(
        reverse("admin:chargers_charger_change", args=[mine.pk])
    )

    assert viewer_status == 403
    # Another organization's charger does not exist for this user.
    assert other_status == 200
    assert "THEIRS-2" not in other_page
    assert "doesn’t exist" in html.unescape(other_page)
    # The change page links to the command page and the charger's command log.
    assert change_status == 200
    assert _command_url(mine) in change_page
    assert f"?charger__id__exact={mine.pk}" in change_page
