"""The remote-command service (apps/chargers/commands.py) and its API operation.

The service is exercised over the real in-memory channel layer, with a stand-in
for the consumer that reads the charger's channel and answers on the reply
channel exactly as the consumer does; the end-to-end tests
(tests/ocpp_consumer/test_commands_e2e.py) put a real consumer and a real
charger behind it. The API tests here cover what is decided before a charger
is reached: tenancy, roles, offline chargers, bad bodies, unknown commands."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.chargers.commands import COMMAND_NAMES, command_send, command_send_sync
from apps.chargers.exceptions import (
    ChargerNoAnswer,
    ChargerOffline,
    CommandInvalid,
    CommandRejected,
)
from apps.chargers.models import CommandLog
from apps.chargers.schemas import COMMAND_SCHEMAS
from apps.chargers.tasks import charger_command_send
from apps.sites.exceptions import Forbidden, NotFound
from apps.sites.models import Membership
from apps.sites.services import api_token_create
from tests import factories


def bearer(user) -> dict[str, str]:
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def command_url(charge_point_id: str, command: str) -> str:
    return f"/api/v1/chargers/{charge_point_id}/commands/{command}"


class StandInConsumer:
    """Reads one "ocpp.command" message from a channel and answers it with `reply`
    (a dict merged into the result message, or None to stay silent)."""

    def __init__(self, reply: dict[str, Any] | None) -> None:
        self.reply = reply
        self.received: list[dict[str, Any]] = []
        self.got_message = asyncio.Event()
        self.layer = get_channel_layer()

    async def __aenter__(self) -> StandInConsumer:
        self.channel_name = await self.layer.new_channel()
        self._task = asyncio.create_task(self._serve())
        return self

    async def __aexit__(self, *exc: object) -> None:
        # One message, then done: a receive cancelled mid-read makes channels-redis
        # wait out its blocking pop, and may leave its lock to this test's loop.
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def _serve(self) -> None:
        message = await self.layer.receive(self.channel_name)
        self.received.append(message)
        self.got_message.set()
        if self.reply is not None:
            await self.layer.send(
                message["reply_channel"],
                {"type": "ocpp.command.result", "command_id": message["command_id"], **self.reply},
            )


async def _charger(**kwargs: Any):
    return await sync_to_async(factories.ChargerFactory)(**kwargs)


async def _log(pk: int) -> CommandLog:
    return await sync_to_async(CommandLog.objects.get)(pk=pk)


# --- the service ----------------------------------------------------------------------

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _channel_layer_per_test():
    """Each async test runs its own event loop; channels-redis (REDIS_URL set) keeps
    locks and connections bound to the loop that first used them, and finishes
    its receive cleanup in background tasks. A process uses one loop for its life,
    so give each test the fresh layer a new process would get."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def test_command_send_returns_the_answer_and_logs_it():
    user = await sync_to_async(factories.UserFactory)(is_superuser=True)
    reply = {"ok": True, "result": {"status": "Accepted"}}
    async with StandInConsumer(reply) as consumer:
        charger = await _charger(charge_point_id="CP-1", channel_name=consumer.channel_name)

        result = await command_send(
            charger=charger,
            command="reset",
            params={"type": "soft"},
            issued_by=user,
            source=CommandLog.Source.API,
        )

    assert result.status == "Accepted"
    assert result.response == {"status": "Accepted"}
    [message] = consumer.received
    assert message["type"] == "ocpp.command"
    assert message["command"] == "reset"
    assert message["params"] == {"type": "soft"}
    assert message["command_id"] == result.command_id
    log = await _log(result.command_id)
    assert log.outcome == CommandLog.Outcome.ANSWERED
    assert log.status == "Accepted"
    assert log.response == {"status": "Accepted"}
    assert log.params == {"type": "soft"}
    assert log.issued_by_id == user.pk
    assert log.source == "api"
    assert log.answered_at is not None


async def test_command_send_passes_the_log_id_as_request_id_for_later_reports():
    reply = {"ok": True, "result": {"status": "Accepted", "remote_start_id": 1}}
    async with StandInConsumer(reply) as consumer:
        await _charger(charge_point_id="CP-1", channel_name=consumer.channel_name)

        result = await command_send(
            charger="CP-1",
            command="remote-start",
            params={"id_tag": "TAG1"},
            source=CommandLog.Source.TASK,
        )

    assert consumer.received[0]["params"] == {"id_tag": "TAG1", "request_id": result.command_id}
    # The log keeps what the caller asked for.
    assert (await _log(result.command_id)).params == {"id_tag": "TAG1"}


async def test_command_send_reads_the_channel_fresh_from_the_database():
    """A row loaded before the charger reconnected names a dead channel; the command
    must go where the socket is now."""
    reply = {"ok": True, "result": {"status": "Accepted"}}
    async with StandInConsumer(reply) as consumer:
        stale = await _charger(charge_point_id="CP-1", channel_name="")
        await sync_to_async(type(stale).objects.filter(pk=stale.pk).update)(
            channel_name=consumer.channel_name
        )

        result = await command_send(charger=stale, command="clear-cache", source="system")

    assert result.status == "Accepted"


async def test_command_send_to_an_offline_charger_raises_and_logs_offline():
    await _charger(charge_point_id="CP-1", channel_name="")

    with pytest.raises(ChargerOffline, match="CP-1 is offline"):
        await command_send(charger="CP-1", command="clear-cache", source="system")

    log = await sync_to_async(CommandLog.objects.get)()
    assert log.outcome == CommandLog.Outcome.OFFLINE


async def test_command_send_without_an_answer_raises_no_answer_and_logs_timeout():
    async with StandInConsumer(reply=None) as consumer:
        await _charger(charge_point_id="CP-1", channel_name=consumer.channel_name)

        with pytest.raises(ChargerNoAnswer, match="did not answer clear-cache"):
            await command_send(charger="CP-1", command="clear-cache", source="system", timeout=0.2)

    assert len(consumer.received) == 1
    log = await sync_to_async(CommandLog.objects.get)()
    assert log.outcome == CommandLog.Outcome.TIMEOUT
    assert "0.2 s" in log.error


@pytest.mark.parametrize(
    ("error", "exception", "outcome"),
    [
        ("timeout", ChargerNoAnswer, CommandLog.Outcome.TIMEOUT),
        ("bad_request", CommandInvalid, CommandLog.Outcome.ERROR),
        ("call_error", CommandRejected, CommandLog.Outcome.ERROR),
        ("error", CommandRejected, CommandLog.Outcome.ERROR),
    ],
)
async def test_command_send_maps_the_consumers_failures(error, exception, outcome):
    reply = {"ok": False, "error": error, "message": "NotImplemented: no handler for Reset"}
    async with StandInConsumer(reply) as consumer:
        await _charger(charge_point_id="CP-1", channel_name=consumer.channel_name)

        with pytest.raises(exception, match="no handler for Reset"):
            await command_send(
                charger="CP-1", command="reset", params={"type": "hard"}, source="api"
            )

    log = await sync_to_async(CommandLog.objects.get)()
    assert log.outcome == outcome
    assert log.error == f"{error}: NotImplemented: no handler for Reset"
    assert log.answered_at is None


async def test_command_send_cancelled_by_its_caller_does_not_stay_pending():
    async with StandInConsumer(reply=None) as consumer:
        await _charger(charge_point_id="CP-1", channel_name=consumer.channel_name)
        task = asyncio.create_task(
            command_send(charger="CP-1", command="clear-cache", source="api", timeout=30)
        )
        await asyncio.wait_for(consumer.got_message.wait(), 5)

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    log = await sync_to_async(CommandLog.objects.get)()
    assert log.outcome == CommandLog.Outcome.TIMEOUT
    assert "stopped waiting" in log.error


async def test_command_send_refuses_an_unknown_command_listing_the_valid_ones():
    await _charger(charge_point_id="CP-1", channel_name="specific.x")

    with pytest.raises(CommandInvalid, match=r"Unknown command 'explode'.*remote-start"):
        await command_send(charger="CP-1", command="explode", source="api")

    assert not await sync_to_async(CommandLog.objects.exists)()


async def test_command_send_checks_the_issuers_tenancy_and_role(org_a, org_b):
    viewer = await sync_to_async(factories.UserFactory)()
    await sync_to_async(factories.MembershipFactory)(
        user=viewer, organization=org_a, role=Membership.Role.VIEWER
    )
    await _charger(charge_point_id="A-1", zone__property__organization=org_a, channel_name="x")
    await _charger(charge_point_id="B-1", zone__property__organization=org_b, channel_name="x")

    with pytest.raises(NotFound):
        await command_send(charger="B-1", command="clear-cache", issued_by=viewer, source="api")
    with pytest.raises(Forbidden, match="does not allow commands"):
        await command_send(charger="A-1", command="clear-cache", issued_by=viewer, source="api")

    assert not await sync_to_async(CommandLog.objects.exists)()


async def test_command_send_of_an_unknown_charger_is_not_found():
    with pytest.raises(NotFound, match="NOPE"):
        await command_send(charger="NOPE", command="clear-cache", source="system")


def test_command_send_sync_works_from_synchronous_code():
    factories.ChargerFactory(charge_point_id="CP-1", channel_name="")

    with pytest.raises(ChargerOffline):
        command_send_sync(charger="CP-1", command="clear-cache", source="admin")

    assert CommandLog.objects.get().source == "admin"


def test_charger_command_task_sends_through_the_service():
    charger = factories.ChargerFactory(charge_point_id="CP-1", channel_name="")
    user = factories.UserFactory(is_superuser=True)

    with pytest.raises(ChargerOffline):
        charger_command_send(charger.pk, "reset", {"type": "soft"}, issued_by_id=user.pk)

    log = CommandLog.objects.get()
    assert (log.command, log.params, log.source) == ("reset", {"type": "soft"}, "task")
    assert log.issued_by_id == user.pk


def test_command_catalogue_and_api_schemas_agree():
    assert set(COMMAND_SCHEMAS) == set(COMMAND_NAMES)


# --- the API operation, up to the charger ---------------------------------------------


@pytest.fixture
def charger_a(org_a):
    return factories.ChargerFactory(
        charge_point_id="ELM-01", zone__property__organization=org_a, channel_name=""
    )


def test_api_command_to_an_offline_charger_is_409(client, manager_a, charger_a):
    response = client.post(
        command_url("ELM-01", "reset"),
        {"type": "soft"},
        content_type="application/json",
        **bearer(manager_a),
    )

    assert response.status_code == 409
    assert "offline" in response.json()["detail"]
    log = CommandLog.objects.get()
    assert (log.outcome, log.issued_by, log.source) == ("offline", manager_a, "api")


def test_api_command_reverses_by_name(manager_a, charger_a):
    url = reverse("api:charger_command_reset", kwargs={"charge_point_id": "ELM-01"})
    assert url == command_url("ELM-01", "reset")


def test_api_command_without_answer_is_504(client, manager_a, charger_a, settings):
    # A channel nobody reads: the consumer's process died before it could mark the
    # charger offline.
    charger_a.channel_name = "specific.dead!channel"
    charger_a.save(update_fields=["channel_name"])
    settings.OCPP_COMMAND_TIMEOUT = 0.2

    response = client.post(
        command_url("ELM-01", "clear-cache"),
        {},
        content_type="application/json",
        **bearer(manager_a),
    )

    assert response.status_code == 504
    assert CommandLog.objects.get().outcome == CommandLog.Outcome.TIMEOUT


def test_api_command_of_another_organization_is_404(client, manager_a, org_b):
    factories.ChargerFactory(charge_point_id="B-1", zone__property__organization=org_b)

    response = client.post(
        command_url("B-1", "reset"),
        {"type": "soft"},
        content_type="application/json",
        **bearer(manager_a),
    )

    assert response.status_code == 404
    assert not CommandLog.objects.exists()


def test_api_command_by_a_viewer_is_403(client, org_a, charger_a):
    viewer = factories.UserFactory()
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)

    response = client.post(
        command_url("ELM-01", "reset"),
        {"type": "soft"},
        content_type="application/json",
        **bearer(viewer),
    )

    assert response.status_code == 403
    assert not CommandLog.objects.exists()


@pytest.mark.parametrize(
    ("command", "body", "field"),
    [
        ("reset", {"type": "soft", "delay": 5}, "delay"),
        ("reset", {}, "type"),
        ("unlock-connector", {"connector_id": 0}, "connector_id"),
        ("unlock-connector", {"conector_id": 1}, "conector_id"),
        ("change-availability", {"available": "maybe"}, "available"),
        ("reserve-now", {"id_tag": "T", "expiry_at": "2030-01-01T10:00:00"}, "expiry_at"),
        (
            "set-charging-profile",
            {"profile": {"id": 1, "purpose": "tx_default", "schedule": {"rate_unit": "A"}}},
            "profile.schedule.periods",
        ),
    ],
)
def test_api_command_with_a_bad_body_is_422(client, manager_a, charger_a, command, body, field):
    response = client.post(
        command_url("ELM-01", command), body, content_type="application/json", **bearer(manager_a)
    )

    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}
    assert not CommandLog.objects.exists()


def test_api_unknown_command_is_422_listing_the_valid_ones(client, manager_a, charger_a):
    response = client.post(
        command_url("ELM-01", "self-destruct"),
        {},
        content_type="application/json",
        **bearer(manager_a),
    )

    assert response.status_code == 422
    assert "remote-start" in response.json()["detail"]


def test_api_command_without_a_token_is_401(client, charger_a):
    response = client.post(
        command_url("ELM-01", "reset"), {"type": "soft"}, content_type="application/json"
    )

    assert response.status_code == 401


def test_api_documents_every_command(client, manager_a):
    schema = client.get("/api/v1/openapi.json").json()

    paths = {p for p in schema["paths"] if "/commands/" in p}

    assert paths == {f"/api/v1/chargers/{{charge_point_id}}/commands/{c}" for c in COMMAND_NAMES}


# --- manage.py charger_command (the cross-process run is in tests/ocpp_consumer) ------


def test_charger_command_refuses_an_in_memory_channel_layer(settings):
    """A shell process never holds a socket: with the embedded in-memory layer the
    command could only time out, so it says what to configure instead."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    factories.ChargerFactory(charge_point_id="CP-1", channel_name="specific.x")

    with pytest.raises(CommandError, match="REDIS_URL"):
        call_command("charger_command", "CP-1", "reset", '{"type": "soft"}')

    assert not CommandLog.objects.exists()


@pytest.mark.redis
def test_charger_command_reports_bad_json_and_domain_errors():
    factories.ChargerFactory(charge_point_id="CP-1", channel_name="")

    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("charger_command", "CP-1", "reset", "{type: soft}")
    with pytest.raises(CommandError, match="ChargerOffline"):
        call_command("charger_command", "CP-1", "reset", '{"type": "soft"}')
    with pytest.raises(CommandError, match="Unknown command"):
        call_command("charger_command", "CP-1", "explode")
