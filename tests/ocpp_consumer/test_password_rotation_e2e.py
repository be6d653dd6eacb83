"""OCPP password rotation end to end: the admin (a browser session on a real
daphne server) rotates the password of a charger connected with HTTP Basic auth
(security profile 1) over a real websocket; then the charger reconnects.

OCA test cases: TC_073_CSMS (1.6, update the Charge Point password),
TC_A_09_CSMS (2.0.1, update the password, accepted), TC_A_10_CSMS (2.0.1,
rejected). The new hash is stored as pending before it is sent: Accepted makes
it the password and the old one is refused at once on the next connection; any
other answer leaves the old password alone working. No answer keeps both: the
first login with the new one makes it the password. The password never reaches
a log line or the command log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.v16 import call_result as result16
from ocpp.v201 import call_result as result201

from apps.chargers import credentials, services
from apps.chargers.models import Charger, CommandLog, OcppMessage
from apps.chargers.services import charger_set_password
from apps.sites.services import api_token_create
from tests import factories
from tests.ocpp_consumer.conftest import basic_auth, run, wait_for
from tests.ocpp_consumer.stations import connect, refused_status
from tests.ocpp_consumer.test_admin_commands_e2e import AdminBrowser, message_for
from tests.ocpp_consumer.test_commands_e2e import (
    ANSWERS_16,
    ANSWERS_201,
    Answering16,
    Answering201,
    Api,
    _is_online,
)

OLD = "the-old-password-0123456"
STATION_LOGGER = "tests.station"


class _Quiet:
    """The test charger logs what it receives (the new password among it) under a
    logger of its own, so that the server's log lines can be checked alone."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)  # type: ignore[call-arg]
        self.logger = logging.getLogger(STATION_LOGGER)


class Station16(_Quiet, Answering16):
    pass


class Station201(_Quiet, Answering201):
    pass


def _set_variables(status: str) -> Any:
    """A 2.0.1 SetVariables answer with `status` for each variable it was given."""

    def answer(set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
                for item in set_variable_data
            ]
        )

    return answer


def _answers(version: str, status: str) -> dict[str, Any]:
    if version == "1.6":
        return {**ANSWERS_16, "ChangeConfiguration": result16.ChangeConfiguration(status=status)}
    return {**ANSWERS_201, "SetVariables": _set_variables(status)}


@contextlib.asynccontextmanager
async def station_online(
    url: str, charge_point_id: str, version: str, password: str, answers: dict[str, Any]
) -> AsyncIterator[Any]:
    """A charger connected with HTTP Basic auth, once the server recorded it."""
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    async with connect(url, subprotocol, basic_auth(charge_point_id, password)) as ws:
        cp = (Station16 if version == "1.6" else Station201)(charge_point_id, ws, answers)
        reader = asyncio.create_task(cp.start())
        try:
            online = await asyncio.to_thread(wait_for, lambda: _is_online(charge_point_id))
            assert online, f"{charge_point_id} never came online"
            yield cp
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


def sent_password(version: str, received: list[tuple[str, dict[str, Any]]]) -> str:
    """The password the charger got, checking the request's shape for its version."""
    assert len(received) == 1
    action, request = received[0]
    if version == "1.6":
        assert action == "ChangeConfiguration"
        assert request["key"] == "AuthorizationKey"
        return str(request["value"])
    assert action == "SetVariables"
    [item] = request["set_variable_data"]
    assert item["component"] == {"name": "SecurityCtrlr"}
    assert item["variable"] == {"name": "BasicAuthPassword"}
    return str(item["attribute_value"])


@pytest.fixture
def secured(org_a):
    def make(charge_point_id: str, version: str) -> Charger:
        charger = factories.ChargerFactory(
            charge_point_id=charge_point_id,
            zone__property__organization=org_a,
            ocpp_version=version,
        )
        charger_set_password(charger=charger, password=OLD)
        return charger

    return make


@pytest.fixture
def browser(ocpp_server, manager_a) -> AdminBrowser:
    return AdminBrowser(ocpp_server.port, manager_a)


def _connects(ocpp_server: Any, charge_point_id: str, password: str) -> bool:
    status = run(
        refused_status(
            ocpp_server.url(charge_point_id), headers=basic_auth(charge_point_id, password)
        )
    )
    return status == 0


def _assert_nowhere(password: str, page: str, caplog: Any) -> None:
    """Not on the page, not in the command log, not in any log line of the server."""
    assert password not in page
    for log in CommandLog.objects.all():
        stored = json.dumps([log.params, log.response, log.error, log.status])
        assert password not in stored
    leaks = [
        r.name for r in caplog.records if r.name != STATION_LOGGER and password in r.getMessage()
    ]
    assert leaks == [], f"the password was logged by {leaks}"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_rotation_accepted_new_password_works_old_refused(
    browser, secured, ocpp_server, caplog, version
):
    """TC_073_CSMS (1.6), TC_A_09_CSMS (2.0.1)."""
    caplog.set_level(logging.DEBUG)
    charger = secured("ROT-OK", version)

    async def scenario() -> tuple[str, list]:
        url = ocpp_server.url("ROT-OK")
        async with station_online(url, "ROT-OK", version, OLD, _answers(version, "Accepted")) as cp:
            _, page = await browser.action("rotate_ocpp_password", [charger])
            return page, cp.received

    page, received = run(scenario())

    new = sent_password(version, received)
    assert new != OLD
    credentials.validate_password(new)
    assert message_for(page, "ROT-OK") == (
        "success",
        "ROT-OK: the charger accepted its new OCPP password; the old one is refused from now on.",
    )
    charger.refresh_from_db()
    assert credentials.check_password(new, charger.password_hash)
    # The next connection: the old password is refused at once, the new one works.
    assert not _connects(ocpp_server, "ROT-OK", OLD)
    assert _connects(ocpp_server, "ROT-OK", new)
    log = CommandLog.objects.get()
    assert (log.command, log.params, log.outcome, log.status) == (
        "change-configuration",
        {"key": "AuthorizationKey", "value": "***"},
        "answered",
        "Accepted",
    )
    assert log.issued_by is not None and log.issued_by.username == "manager_a"
    _assert_nowhere(new, page, caplog)
    # The raw OCPP message log shows the call, with the password masked.
    logged = dict(
        OcppMessage.objects.filter(charger=charger, direction="out", message_type=2).values_list(
            "action", "frame"
        )
    )
    sent = logged["ChangeConfiguration" if version == "1.6" else "SetVariables"]
    assert '"***"' in sent
    assert not OcppMessage.objects.filter(frame__contains=new).exists()


@pytest.mark.parametrize(
    ("version", "status"),
    [
        ("1.6", "Rejected"),
        # The charger would switch at a reboot we cannot see coming: not rotated.
        ("1.6", "RebootRequired"),
        ("1.6", "NotSupported"),
        ("2.0.1", "Rejected"),
        ("2.0.1", "UnknownVariable"),
    ],
)
def test_rotation_refused_keeps_the_old_password(
    browser, secured, ocpp_server, caplog, version, status
):
    """TC_A_10_CSMS (2.0.1, rejected) and its 1.6 counterpart."""
    caplog.set_level(logging.DEBUG)
    charger = secured("ROT-NO", version)
    old_hash = charger.password_hash

    async def scenario() -> tuple[str, list]:
        url = ocpp_server.url("ROT-NO")
        async with station_online(url, "ROT-NO", version, OLD, _answers(version, status)) as cp:
            _, page = await browser.action("rotate_ocpp_password", [charger])
            return page, cp.received

    page, received = run(scenario())

    new = sent_password(version, received)
    # 2.0.1 attribute statuses are reported in the 1.6 vocabulary.
    answered = "NotSupported" if status == "UnknownVariable" else status
    assert message_for(page, "ROT-NO") == (
        "warning",
        f"ROT-NO: the charger answered {answered}: its old OCPP password stays in force.",
    )
    charger.refresh_from_db()
    assert charger.password_hash == old_hash
    assert _connects(ocpp_server, "ROT-NO", OLD)
    assert not _connects(ocpp_server, "ROT-NO", new)
    assert CommandLog.objects.get().params == {"key": "AuthorizationKey", "value": "***"}
    _assert_nowhere(new, page, caplog)


def test_rotation_without_an_answer_keeps_the_old_password_and_the_new_pending(
    browser, secured, ocpp_server, caplog, settings
):
    caplog.set_level(logging.DEBUG)
    settings.OCPP_COMMAND_TIMEOUT = 1
    charger = secured("ROT-MUTE", "1.6")
    old_hash = charger.password_hash

    async def scenario() -> tuple[str, list[Any]]:
        # A raw socket: it reads the CALL and never answers.
        url = ocpp_server.url("ROT-MUTE")
        async with connect(url, "ocpp1.6", basic_auth("ROT-MUTE", OLD)) as ws:
            await asyncio.to_thread(wait_for, lambda: _is_online("ROT-MUTE"))
            _, page = await browser.action("rotate_ocpp_password", [charger])
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            return page, frame

    page, frame = run(scenario())

    level, text = message_for(page, "ROT-MUTE")
    assert level == "error"
    assert text.startswith("ROT-MUTE: no answer, the password change is pending")
    charger.refresh_from_db()
    assert charger.password_hash == old_hash
    new = sent_password("1.6", [(frame[2], frame[3])])
    assert credentials.check_password(new, charger.pending_password_hash)
    assert _connects(ocpp_server, "ROT-MUTE", OLD)
    assert CommandLog.objects.get().outcome == "timeout"
    _assert_nowhere(new, page, caplog)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_charger_that_applies_the_password_and_drops_the_socket_is_not_locked_out(
    browser, secured, ocpp_server, caplog, monkeypatch, version
):
    """The charger takes the new password and its socket drops before it answers:
    the rotation keeps the new hash pending; the charger's reconnect with the new
    password is admitted and makes it the password, and the old one is refused."""
    caplog.set_level(logging.DEBUG)
    charger = secured("ROT-DROP", version)
    old_hash = charger.password_hash
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    # The test database is SQLite in memory (shared cache), which refuses two
    # write transactions at once instead of waiting: the server's record of the
    # dropped socket is held until the rotation has written its outcome. (On
    # PostgreSQL the two simply run in either order.)
    action_done = threading.Event()
    disconnected = services.charger_disconnected

    def charger_disconnected_after_the_action(**kwargs: Any) -> None:
        action_done.wait(30)
        disconnected(**kwargs)

    monkeypatch.setattr(services, "charger_disconnected", charger_disconnected_after_the_action)

    async def scenario() -> tuple[str, list[Any]]:
        url = ocpp_server.url("ROT-DROP")
        async with connect(url, subprotocol, basic_auth("ROT-DROP", OLD)) as ws:
            assert await asyncio.to_thread(wait_for, lambda: _is_online("ROT-DROP"))
            action = asyncio.create_task(browser.action("rotate_ocpp_password", [charger]))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            # Applied on the charger; the answer never leaves: the socket drops.
            await ws.close()
        try:
            _, page = await asyncio.wait_for(action, 30)
        finally:
            action_done.set()
        assert await asyncio.to_thread(wait_for, lambda: not _is_online("ROT-DROP"))
        return page, frame

    page, frame = run(scenario())

    if version == "1.6":
        new = sent_password(version, [(frame[2], frame[3])])
    else:
        # The raw frame spells the 2.0.1 fields in camelCase.
        assert frame[2] == "SetVariables"
        [item] = frame[3]["setVariableData"]
        assert item["variable"] == {"name": "BasicAuthPassword"}
        new = item["attributeValue"]
    level, text = message_for(page, "ROT-DROP")
    assert level == "error"
    assert text.startswith("ROT-DROP: no answer, the password change is pending")
    assert CommandLog.objects.get().outcome == "timeout"
    charger.refresh_from_db()
    assert charger.password_hash == old_hash
    assert credentials.check_password(new, charger.pending_password_hash)
    status, change_page = browser.get(f"/admin/chargers/charger/{charger.pk}/change/")
    assert status == 200
    assert "password change pending since" in change_page

    # The charger reconnects with the password it applied: admitted, and promoted.
    assert _connects(ocpp_server, "ROT-DROP", new)
    charger.refresh_from_db()
    assert credentials.check_password(new, charger.password_hash)
    assert (charger.pending_password_hash, charger.pending_password_set_at) == ("", None)
    assert not _connects(ocpp_server, "ROT-DROP", OLD)
    assert _connects(ocpp_server, "ROT-DROP", new)
    status, change_page = browser.get(f"/admin/chargers/charger/{charger.pk}/change/")
    assert "password change pending since" not in change_page
    _assert_nowhere(new, page + change_page, caplog)


def test_rotation_from_the_chargers_command_page(browser, secured, ocpp_server):
    """TC_A_09_CSMS through the "Rotate OCPP password" button of the command page."""
    charger = secured("ROT-PAGE", "2.0.1")
    url = f"/admin/chargers/charger/{charger.pk}/command/"

    async def scenario() -> tuple[int, str, list]:
        async with station_online(
            ocpp_server.url("ROT-PAGE"), "ROT-PAGE", "2.0.1", OLD, _answers("2.0.1", "Accepted")
        ) as cp:
            status, page = await asyncio.to_thread(
                browser.post, url, {"rotate_password": "Rotate OCPP password"}
            )
            return status, page, cp.received

    status, page, received = run(scenario())

    assert status == 200
    new = sent_password("2.0.1", received)
    assert message_for(page, "ROT-PAGE")[0] == "success"
    assert not _connects(ocpp_server, "ROT-PAGE", OLD)
    assert _connects(ocpp_server, "ROT-PAGE", new)
    assert new not in page


@pytest.mark.parametrize(
    ("version", "body"),
    [
        ("1.6", {"key": "AuthorizationKey", "value": "0123456789abcdefXYZ"}),
        ("2.0.1", {"key": "AuthorizationKey", "value": "0123456789abcdefXYZ"}),
        ("2.0.1", {"key": "SecurityCtrlr.BasicAuthPassword", "value": "0123456789abcdefXYZ"}),
        (
            "2.0.1",
            {
                "component": "SecurityCtrlr",
                "variable": "BasicAuthPassword",
                "value": "0123456789abcdefXYZ",
            },
        ),
        ("2.0.1", {"values": {"SecurityCtrlr.BasicAuthPassword": "0123456789abcdefXYZ"}}),
    ],
)
def test_api_change_configuration_refuses_the_password_keys(
    ocpp_server, secured, manager_a, version, body
):
    """The generic command cannot make the stored hash and the charger disagree: it
    answers 422 and points to the rotation; nothing is sent or logged."""
    secured("ROT-API", version)
    _, token = api_token_create(user=manager_a, name="e2e")
    api = Api(ocpp_server.port, token)

    async def scenario() -> tuple[int, Any, list]:
        url = ocpp_server.url("ROT-API")
        async with station_online(
            url, "ROT-API", version, OLD, _answers(version, "Accepted")
        ) as cp:
            status, answer = await api.command("ROT-API", "change-configuration", body)
            return status, answer, cp.received

    status, answer, received = run(scenario())

    assert status == 422
    assert "Rotate OCPP password" in answer["detail"]
    assert "0123456789abcdefXYZ" not in json.dumps(answer)
    assert received == []
    assert not CommandLog.objects.exists()
    assert _connects(ocpp_server, "ROT-API", OLD)
