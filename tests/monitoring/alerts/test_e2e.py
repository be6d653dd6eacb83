"""The issue's proof, end to end: real OCPP 1.6 charge points (the `ocpp` package on
real websockets) against the running daphne server, a fake clock (time_machine,
ticking, shifted by hand: the server's thread sees the same clock), and the real
evaluation, remedies and emails.

The evaluation runs the way the server runs its work: in a worker thread of the
server's event loop (sync_to_async), so that a remedy's command, sent after the
evaluation commits, reaches the consumer through the in-memory channel layer of
that loop and the charger's answer comes back (tests/ocpp_consumer/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.core import mail
from django.db import connections
from django.utils import timezone

# The charge point's side of the conversation speaks OCPP, as in tests/ocpp_consumer.
from ocpp.v16 import call as c16  # noqa: TID251
from ocpp.v16 import call_result as result16  # noqa: TID251

from apps.access.services import id_token_create
from apps.chargers import services as charger_services
from apps.chargers.models import CommandLog
from apps.monitoring.models import Alert, AlertRule, Notification, RemedyAttempt
from apps.monitoring.services.alerts import alert_rules_ensure_defaults, alerts_evaluate
from apps.monitoring.services.notifications import driver_notifications_send
from tests import factories
from tests.monitoring.alerts.conftest import set_rule
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.test_commands_e2e import charger_online

Kind = AlertRule.Kind
MIN = timedelta(minutes=1)


def stamp() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


def _in_server_thread(fn: Any) -> Any:
    try:
        return fn()
    finally:
        connections.close_all()  # this worker thread's connection, not the test's


# The server writes a little after it answers (the consumer's last-seen update):
# on SQLite's shared cache a write of ours at that moment would fail, not wait.
SERVER_WRITES_S = 0.3


async def on_server(server: Any, fn: Any) -> Any:
    """Run `fn` (sync, with its after-commit work) in a worker thread of the server's
    event loop, without blocking the charge points' loop meanwhile."""
    await asyncio.sleep(SERVER_WRITES_S)
    coroutine = sync_to_async(_in_server_thread, thread_sensitive=False)(fn)
    return await asyncio.to_thread(server.on_server_loop, coroutine, 60)


def evaluate() -> dict[str, int]:
    return alerts_evaluate().summary()


async def boot(cp: Any) -> None:
    await cp.call(
        c16.BootNotification(charge_point_vendor="ABB", charge_point_model="Terra AC"),
        suppress=False,
    )


async def status(cp: Any, state: str, error_code: str = "NoError", vendor: str = "") -> None:
    await cp.call(
        c16.StatusNotification(
            connector_id=1,
            error_code=error_code,
            status=state,
            timestamp=stamp(),
            vendor_error_code=vendor or None,
        ),
        suppress=False,
    )


@pytest.fixture(autouse=True)
def _no_background_seen_writes(monkeypatch):
    # With the clock shifted by minutes, every frame would make the consumer write
    # last_seen_at after answering, at the moment a remedy's command log is
    # written: SQLite's shared cache (tests only) fails one of the two instead of
    # waiting. Heartbeats still write it, as the tests need.
    monkeypatch.setattr(charger_services, "SEEN_WRITE_INTERVAL_S", 24 * 3600)


@pytest.fixture
def clock():
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        yield traveller


@pytest.fixture
def site(ocpp_server, org_a, manager_a):
    alert_rules_ensure_defaults(organization=org_a)
    return org_a


def test_a_silent_charger_raises_one_offline_alert_and_one_email_until_it_returns(
    ocpp_server, site, manager_a, clock
):
    factories.ChargerFactory(charge_point_id="ALERT-OFF", zone__property__organization=site)
    rounds: list[dict[str, int]] = []

    async def talk() -> None:
        async with charger_online(ocpp_server.url("ALERT-OFF"), "ALERT-OFF", "1.6") as cp:
            await boot(cp)
            await cp.call(c16.Heartbeat(), suppress=False)
            rounds.append(await on_server(ocpp_server, evaluate))
            # The charger stops heartbeating; its socket stays open.
            clock.shift(20 * MIN)
            for _ in range(3):
                rounds.append(await on_server(ocpp_server, evaluate))
                clock.shift(MIN)
            # It speaks again.
            await cp.call(c16.Heartbeat(), suppress=False)
            rounds.append(await on_server(ocpp_server, evaluate))

    run(talk())
    assert [r["opened"] for r in rounds] == [0, 1, 0, 0, 0]
    assert [r["resolved"] for r in rounds] == [0, 0, 0, 0, 1]
    [alert] = Alert.objects.all()
    assert alert.kind == Kind.CHARGER_OFFLINE
    assert alert.charger.charge_point_id == "ALERT-OFF"
    assert "no heartbeat" in alert.title
    assert alert.status == Alert.Status.RESOLVED
    [email] = mail.outbox
    assert email.to == [manager_a.email]
    assert "ALERT-OFF is offline" in email.subject


def test_a_dropped_socket_raises_the_alert_and_a_reconnect_resolves_it(
    ocpp_server, site, manager_a, clock
):
    factories.ChargerFactory(charge_point_id="ALERT-DROP", zone__property__organization=site)

    async def connect_once() -> None:
        async with charger_online(ocpp_server.url("ALERT-DROP"), "ALERT-DROP", "1.6") as cp:
            await boot(cp)

    run(connect_once())  # connects, then the socket closes
    clock.shift(16 * MIN)
    opened = alerts_evaluate().summary()
    connections.close_all()
    assert opened["opened"] == 1
    assert "connection dropped" in Alert.objects.get().title

    async def come_back() -> None:
        async with charger_online(ocpp_server.url("ALERT-DROP"), "ALERT-DROP", "1.6") as cp:
            await boot(cp)
            assert (await on_server(ocpp_server, evaluate))["resolved"] == 1

    run(come_back())
    assert Alert.objects.get().status == Alert.Status.RESOLVED
    assert len(mail.outbox) == 1


RESET_ACCEPTED = {"Reset": result16.Reset(status="Accepted")}


def test_a_faulted_connector_gets_one_soft_reset_then_escalates(
    ocpp_server, site, manager_a, clock
):
    set_rule(
        site,
        Kind.CONNECTOR_FAULTED,
        remedy_max_attempts=1,
        remedy_backoff_minutes=2,
        escalation_recipients="tech@example.com",
    )
    factories.ChargerFactory(charge_point_id="ALERT-FLT", zone__property__organization=site)
    rounds: list[dict[str, int]] = []
    received: list[list[tuple[str, dict[str, Any]]]] = []

    async def talk() -> None:
        url = ocpp_server.url("ALERT-FLT")
        async with charger_online(url, "ALERT-FLT", "1.6", answers=RESET_ACCEPTED) as cp:
            await boot(cp)
            await status(cp, "Faulted", "InternalError", "E42")
            for minutes in (0, 6, 1, 1, 1, 5):
                clock.shift(minutes * MIN)
                await cp.call(c16.Heartbeat(), suppress=False)  # online, only faulted
                rounds.append(await on_server(ocpp_server, evaluate))
                received.append(list(cp.received))

    run(talk())
    # t+0: not yet (5 min threshold); t+6: opened and reset; t+7: backing off;
    # t+8: the reset did not clear it: escalated; afterwards nothing more.
    assert [r["opened"] for r in rounds] == [0, 1, 0, 0, 0, 0]
    assert [r["remedies"] for r in rounds] == [0, 1, 0, 0, 0, 0]
    assert [r["escalated"] for r in rounds] == [0, 0, 0, 1, 0, 0]
    # The station really got one soft Reset, answered before the round ended.
    assert received[1] == [("Reset", {"type": "Soft"})]
    assert received[-1] == [("Reset", {"type": "Soft"})]

    alert = Alert.objects.get(kind=Kind.CONNECTOR_FAULTED)
    assert alert.details == {"error_code": "InternalError", "vendor_error_code": "E42"}
    assert "InternalError" in alert.title and "E42" in alert.title
    assert alert.status == Alert.Status.OPEN
    assert "soft reset did not clear it (1 attempt)" in alert.escalation_reason
    [attempt] = RemedyAttempt.objects.all()
    assert attempt.outcome == RemedyAttempt.Outcome.ACCEPTED
    assert attempt.detail == "reset: Accepted"
    [command] = attempt.commands.all()
    assert (command.source, command.outcome, command.status) == (
        CommandLog.Source.SYSTEM,
        CommandLog.Outcome.ANSWERED,
        "Accepted",
    )
    opened_mail, escalation = mail.outbox
    assert opened_mail.to == [manager_a.email]
    assert set(escalation.to) == {manager_a.email, "tech@example.com"}
    assert "ESCALATED" in escalation.subject and "ALERT-FLT" in escalation.subject
    assert "E42" in escalation.body


def test_a_remedy_that_works_resolves_the_alert_without_escalation(
    ocpp_server, site, manager_a, clock
):
    set_rule(
        site,
        Kind.CONNECTOR_FAULTED,
        remedy="availability_toggle",
        remedy_max_attempts=1,
        remedy_backoff_minutes=2,
    )
    factories.ChargerFactory(charge_point_id="ALERT-FIX", zone__property__organization=site)
    answers = {"ChangeAvailability": result16.ChangeAvailability(status="Accepted")}
    rounds: list[dict[str, int]] = []
    received: list[tuple[str, dict[str, Any]]] = []

    async def talk() -> None:
        url = ocpp_server.url("ALERT-FIX")
        async with charger_online(url, "ALERT-FIX", "1.6", answers=answers) as cp:
            await boot(cp)
            await status(cp, "Faulted", "OtherError")
            clock.shift(6 * MIN)
            rounds.append(await on_server(ocpp_server, evaluate))
            # Toggled back to Operative, the connector recovers.
            await status(cp, "Available")
            clock.shift(3 * MIN)
            rounds.append(await on_server(ocpp_server, evaluate))
            received.extend(cp.received)

    run(talk())
    assert received == [
        ("ChangeAvailability", {"connector_id": 1, "type": "Inoperative"}),
        ("ChangeAvailability", {"connector_id": 1, "type": "Operative"}),
    ]
    assert [(r["opened"], r["remedies"], r["resolved"], r["escalated"]) for r in rounds] == [
        (1, 1, 0, 0),
        (0, 0, 1, 0),
    ]
    attempt = RemedyAttempt.objects.get()
    assert attempt.commands.count() == 2
    assert len(mail.outbox) == 1


def test_driver_gets_move_your_car_and_session_end_once_each(ocpp_server, site, clock):
    person = factories.PersonFactory(
        organization=site, email="dana@example.com", notify_session_email=True
    )
    id_token_create(organization=site, uid="DANA-CARD", person=person)
    factories.AccessPolicyFactory(
        zone=factories.ZoneFactory(property__organization=site), admits="public"
    )
    charger = factories.ChargerFactory(
        charge_point_id="ALERT-DRV", zone__property__organization=site
    )
    factories.AccessPolicyFactory(zone=charger.zone, admits="public")
    counts: list[int] = []

    def scan() -> int:
        return len(driver_notifications_send())

    async def talk() -> None:
        async with charger_online(ocpp_server.url("ALERT-DRV"), "ALERT-DRV", "1.6") as cp:
            await boot(cp)
            await status(cp, "Preparing")
            started = await cp.call(
                c16.StartTransaction(
                    connector_id=1, id_tag="DANA-CARD", meter_start=1000, timestamp=stamp()
                ),
                suppress=False,
            )
            await status(cp, "Charging")
            clock.shift(MIN)
            await status(cp, "SuspendedEV")  # the car is full
            counts.append(await on_server(ocpp_server, scan))  # too early
            clock.shift(6 * MIN)
            counts.append(await on_server(ocpp_server, scan))  # move your car
            counts.append(await on_server(ocpp_server, scan))  # not twice
            await cp.call(
                c16.StopTransaction(
                    transaction_id=started.transaction_id, meter_stop=9000, timestamp=stamp()
                ),
                suppress=False,
            )
            await status(cp, "Finishing")
            counts.append(await on_server(ocpp_server, scan))  # ended
            counts.append(await on_server(ocpp_server, scan))  # not twice

    run(talk())
    assert counts == [0, 1, 0, 1, 0]
    move, ended = mail.outbox
    assert move.to == ended.to == ["dana@example.com"]
    assert "please move it" in move.subject
    assert "has ended" in ended.subject
    assert "8.00 kWh" in ended.body
    assert Notification.objects.filter(person=person).count() == 2


def test_embedded_mode_sends_remedies_from_the_scheduler_thread(ocpp_server, site, clock, settings):
    """Embedded mode's scheduler (config/embedded.py) runs the periodic task in a worker
    thread of the server's event loop: the remedy reaches the charger and its answer
    comes back at once, not at the timeout."""
    from apps.monitoring.tasks.alerts import alerts_evaluate as evaluate_task
    from config.embedded import EmbeddedScheduler, Job

    settings.ALERTS_REMEDY_TIMEOUT_S = 20
    factories.ChargerFactory(charge_point_id="ALERT-EMB", zone__property__organization=site)
    took: dict[str, Any] = {}

    def scheduler_thread() -> None:
        started = time.monotonic()
        job = Job(name="alerts", task=evaluate_task, schedule=0.0, interval_s=0.0)
        scheduler = EmbeddedScheduler([job], loop=ocpp_server.loop)
        try:
            took["result"] = scheduler._call(lambda: evaluate_task.apply().get())
        finally:
            connections.close_all()
        took["seconds"] = time.monotonic() - started

    async def talk() -> None:
        url = ocpp_server.url("ALERT-EMB")
        async with charger_online(url, "ALERT-EMB", "1.6", answers=RESET_ACCEPTED) as cp:
            await boot(cp)
            await status(cp, "Faulted", "InternalError")
            clock.shift(6 * MIN)
            await asyncio.to_thread(scheduler_thread)
            took["received"] = list(cp.received)

    run(talk())
    assert took["result"]["remedies"] == 1
    assert took["received"] == [("Reset", {"type": "Soft"})]
    assert RemedyAttempt.objects.get().outcome == RemedyAttempt.Outcome.ACCEPTED
    assert took["seconds"] < 5, took
