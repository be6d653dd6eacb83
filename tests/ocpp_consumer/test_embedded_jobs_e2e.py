"""Embedded mode's periodic jobs send commands to chargers as a worker would.

In `make run` the channel layer is in memory and lives on daphne's event loop; a job
that sends a command (a self-healing reset, a configuration re-read) must reach the
consumer there and get the charger's answer at once, not at the command timeout."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from celery import shared_task
from django.db import connection

from apps.chargers.models import Charger, CommandLog
from config.embedded import EmbeddedScheduler, Job
from tests import factories
from tests.ocpp_consumer.conftest import run, wait_for
from tests.ocpp_consumer.stations import connect

COMMAND_TIMEOUT_S = 8.0

pytestmark = pytest.mark.django_db(transaction=True)


@shared_task(name="tests.embedded_reset_job")
def embedded_reset_job(charger_id: int) -> dict[str, Any]:
    from apps.chargers.tasks import charger_command_send

    return charger_command_send(charger_id, "reset", {"type": "soft"}, timeout=COMMAND_TIMEOUT_S)


def _online(charge_point_id: str) -> bool:
    try:
        return (
            Charger.objects.filter(charge_point_id=charge_point_id)
            .exclude(channel_name="")
            .exists()
        )
    finally:
        connection.close()  # this worker thread's connection, not the test's


def test_embedded_job_command_reaches_the_charger_through_the_servers_loop(ocpp_server, org_a):
    charger = factories.ChargerFactory(
        charge_point_id="JOB-1", zone__property__organization=org_a, ocpp_version="1.6"
    )
    job = Job(name="reset", task=embedded_reset_job, schedule=0.0, args=(charger.pk,))
    job.interval_s = 0.0
    scheduler = EmbeddedScheduler([job], loop=ocpp_server.loop)

    async def scenario() -> tuple[float, list[Any]]:
        async with connect(ocpp_server.url("JOB-1")) as ws:
            assert await asyncio.to_thread(wait_for, lambda: _online("JOB-1"))
            started = time.monotonic()
            running = asyncio.create_task(asyncio.to_thread(scheduler.run_pending))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
            await asyncio.wait_for(running, COMMAND_TIMEOUT_S + 5)
            return time.monotonic() - started, frame

    elapsed, frame = run(scenario(), timeout=30)

    assert frame[2] == "Reset" and frame[3] == {"type": "Soft"}
    log = CommandLog.objects.get(charger=charger)
    assert log.outcome == CommandLog.Outcome.ANSWERED
    assert log.status == "Accepted"
    assert job.failures == 0
    # The answer came back with the charger's reply, well before the command timeout.
    assert elapsed < COMMAND_TIMEOUT_S / 2, f"took {elapsed:.1f} s"
