"""Fixtures for the maintenance tests: the real daphne server of the OCPP tests, a
simulated charger driven in its own event loop, and uploads kept in a temporary
directory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from django.db import OperationalError, connection

from apps.chargers.models import Connector
from apps.ocpp_consumer.simulator import SimOptions, StationSpec, build_stations
from apps.ocpp_consumer.simulator.station import Station
from tests.ocpp_consumer.conftest import _daphne, ocpp_server, run  # noqa: F401


@pytest.fixture(autouse=True)
def _uploads(settings: Any, tmp_path: Any) -> Any:
    settings.DIAGNOSTICS_UPLOAD_DIR = tmp_path / "diagnostics"
    settings.MAINTENANCE_COMMAND_TIMEOUT = 10
    return settings.DIAGNOSTICS_UPLOAD_DIR


def simulated(port: int, cp_id: str, version: str) -> Station:
    options = SimOptions(
        url=f"ws://127.0.0.1:{port}",
        ocpp=version,
        meter_interval_s=30,
        auto_sessions=False,
        tick_s=0.1,
        backoff_base_s=0.1,
        backoff_cap_s=0.5,
    )
    [station] = build_stations([StationSpec(cp_id)], options, seed=3)
    return station


async def until(predicate: Callable[[], Any], seconds: float = 10) -> Any:
    """Poll `predicate` (run in a thread: it may read the database) until truthy."""
    for _ in range(int(seconds / 0.1)):
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


def with_station(
    station: Station, scenario: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 90
) -> Any:
    """Run the station, wait until it is online, run the scenario, stop the station."""

    async def main() -> Any:
        task = asyncio.create_task(station.run())
        try:
            await asyncio.wait_for(station.online.wait(), 10)
            # The server has stored the boot and the connector's status: the test's
            # writes (in-memory SQLite does not wait for locks) won't race them.
            await until(
                lambda: Connector.objects.filter(
                    charger__charge_point_id=station.charge_point_id, status_at__isnull=False
                ).exists()
            )
            await server_quiet()
            return await scenario()
        finally:
            station.stop()
            await asyncio.wait_for(task, 30)

    return run(main(), timeout=timeout)


async def on_server(server: Any, func: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Call a synchronous service the way a view or admin action of the server does:
    in a worker thread of the server's event loop, so that its commands reach the
    in-memory channel layer, which lives on that loop."""
    from asgiref.sync import sync_to_async

    return await asyncio.to_thread(
        server.on_server_loop, sync_to_async(func, thread_sensitive=False)(**kwargs), 60
    )


def _no_writer(timeout: float = 10) -> None:
    """Wait until no connection holds SQLite's write lock (the server may still be
    committing what the charger's connection caused); PostgreSQL waits by itself."""
    if connection.vendor != "sqlite":
        return
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("BEGIN IMMEDIATE")
                    cursor.execute("ROLLBACK")
                return
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    finally:
        connection.close()  # this worker thread's connection


async def server_quiet() -> None:
    """Let the server finish recording a charger's connection before the test writes."""
    await asyncio.sleep(0.1)
    await asyncio.to_thread(_no_writer)
