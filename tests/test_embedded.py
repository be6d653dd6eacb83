"""Embedded mode: the periodic jobs of CELERY_BEAT_SCHEDULE run in-process on their
schedule and survive a failing job; beat's DatabaseScheduler reads the same
schedule; `run_embedded` serves HTTP and OCPP websockets and stops cleanly."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import websockets
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.celery import app as celery_app
from config.embedded import EmbeddedScheduler, celery_tasks, jobs_from_schedule

BASE_DIR = Path(__file__).resolve().parent.parent

calls: list[str] = []


@celery_app.task(name="tests.embedded.count")
def count(label: str = "count") -> str:
    calls.append(label)
    return label


@celery_app.task(name="tests.embedded.boom")
def boom() -> None:
    calls.append("boom")
    raise RuntimeError("this job always fails")


@pytest.fixture(autouse=True)
def _clear_calls():
    calls.clear()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


TEST_TASKS = {"tests.embedded.count": count, "tests.embedded.boom": boom}


# --- the scheduler ------------------------------------------------------------


def test_a_job_runs_once_per_interval_starting_one_interval_after_start():
    clock = FakeClock()
    schedule = {"every-minute": {"task": "tests.embedded.count", "schedule": 60.0}}
    scheduler = EmbeddedScheduler(jobs_from_schedule(schedule, TEST_TASKS), clock=clock)

    assert scheduler.run_pending() == 60.0 and calls == []
    clock.now += 59.9
    assert scheduler.run_pending() == pytest.approx(0.1) and calls == []
    clock.now += 0.1
    assert scheduler.run_pending() == 60.0 and calls == ["count"]
    clock.now += 30
    scheduler.run_pending()
    assert calls == ["count"]
    clock.now += 30
    scheduler.run_pending()
    assert calls == ["count", "count"]


def test_a_late_loop_runs_an_overdue_job_once_not_in_a_burst():
    clock = FakeClock()
    schedule = {"every-minute": {"task": "tests.embedded.count", "schedule": 60}}
    scheduler = EmbeddedScheduler(jobs_from_schedule(schedule, TEST_TASKS), clock=clock)

    clock.now += 600  # ten intervals pass unseen (a suspended laptop)
    scheduler.run_pending()
    scheduler.run_pending()

    assert calls == ["count"]


def test_jobs_keep_their_own_intervals_and_arguments():
    clock = FakeClock()
    schedule = {
        "fast": {"task": "tests.embedded.count", "schedule": 10, "args": ["fast"]},
        "slow": {"task": "tests.embedded.count", "schedule": 25, "kwargs": {"label": "slow"}},
    }
    scheduler = EmbeddedScheduler(jobs_from_schedule(schedule, TEST_TASKS), clock=clock)

    for _ in range(50):
        clock.now += 1
        scheduler.run_pending()

    assert calls.count("fast") == 5 and calls.count("slow") == 2


def test_a_failing_job_is_logged_and_neither_stops_the_others_nor_itself(caplog):
    clock = FakeClock()
    schedule = {
        "broken": {"task": "tests.embedded.boom", "schedule": 60},
        "healthy": {"task": "tests.embedded.count", "schedule": 60},
    }
    scheduler = EmbeddedScheduler(jobs_from_schedule(schedule, TEST_TASKS), clock=clock)

    with caplog.at_level(logging.ERROR, logger="config.embedded"):
        for _ in range(2):
            clock.now += 60
            scheduler.run_pending()

    assert calls == ["boom", "count", "boom", "count"]
    broken = next(job for job in scheduler.jobs if job.name == "broken")
    assert (broken.runs, broken.failures) == (2, 2)
    failures = [r for r in caplog.records if "Periodic job broken failed" in r.getMessage()]
    assert len(failures) == 2
    assert "this job always fails" in (failures[0].exc_text or "")


def test_the_thread_runs_jobs_on_a_short_interval_and_stops_promptly():
    schedule = {
        "broken": {"task": "tests.embedded.boom", "schedule": 0.02},
        "healthy": {"task": "tests.embedded.count", "schedule": 0.02},
    }
    scheduler = EmbeddedScheduler(jobs_from_schedule(schedule, TEST_TASKS))
    scheduler.start()
    try:
        deadline = time.monotonic() + 5
        while calls.count("count") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stopped = scheduler.stop(timeout=5)

    assert stopped
    assert calls.count("count") >= 3 and calls.count("boom") >= 3
    assert not any(t.name == "embedded-scheduler" for t in threading.enumerate())


def test_an_unknown_task_or_a_bad_interval_fails_at_start():
    with pytest.raises(ImproperlyConfigured, match="'tests.nope'"):
        jobs_from_schedule({"x": {"task": "tests.nope", "schedule": 60}}, TEST_TASKS)
    with pytest.raises(ImproperlyConfigured, match="interval must be > 0"):
        jobs_from_schedule({"x": {"task": "tests.embedded.count", "schedule": 0}}, TEST_TASKS)


def test_the_project_schedule_runs_the_presence_sweep_every_minute():
    jobs = jobs_from_schedule(settings.CELERY_BEAT_SCHEDULE, celery_tasks(celery_app))

    sweep = next(job for job in jobs if job.task.name == "chargers.charger_presence_sweep")
    assert sweep.interval_s == 60.0


@pytest.mark.django_db
def test_the_presence_sweep_runs_through_the_embedded_scheduler():
    from apps.chargers.models import Charger, ChargerEvent
    from tests import factories

    stale = factories.ChargerFactory(channel_name="specific.dead!1", last_seen_at=None)
    clock = FakeClock()
    scheduler = EmbeddedScheduler(
        jobs_from_schedule(settings.CELERY_BEAT_SCHEDULE, celery_tasks(celery_app)), clock=clock
    )

    clock.now += 60
    scheduler.run_pending()

    assert not Charger.objects.get(pk=stale.pk).online
    assert ChargerEvent.objects.filter(charger=stale, kind="connection").count() == 1


# --- production: celery beat reads the same schedule ----------------------------


# transaction=True: the scheduler closes connections it finds inside a transaction,
# as a test's wrapping one would be.
@pytest.mark.django_db(transaction=True)
def test_beat_database_scheduler_registers_the_schedule_in_its_tables():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    DatabaseScheduler(app=celery_app)  # what `celery beat` does on start

    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        task = PeriodicTask.objects.get(name=name)
        assert task.task == entry["task"] and task.enabled
        assert task.interval.every == entry["schedule"] and task.interval.period == "seconds"


# --- run_embedded, a real process -------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedded_env(database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    return env | {
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{database}",
        "DEBUG": "true",
        "PYTHONUNBUFFERED": "1",
    }


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own manage.py, fixed arguments)
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def online(database: Path) -> dict[str, bool]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT charge_point_id, channel_name FROM chargers_charger").fetchall()
    return {cp: bool(channel) for cp, channel in rows}


def wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own server)
            return response.status
    except OSError:
        return 0


async def boot(url: str) -> list:
    async with websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=5) as ws:
        await ws.send(
            json.dumps(
                [
                    2,
                    str(uuid.uuid4()),
                    "BootNotification",
                    {"chargePointVendor": "Alfen", "chargePointModel": "Eve"},
                ]
            )
        )
        return json.loads(await asyncio.wait_for(ws.recv(), 5))


def start_seeded_server(tmp_path: Path) -> tuple[Path, int, Any, subprocess.Popen[bytes]]:
    """A migrated, seeded SQLite database and `run_embedded --simulate 1` on it, on a
    free port, logging to a file. Returns (database, port, log file, process)."""
    database = tmp_path / "embedded.sqlite3"
    env = embedded_env(database)
    port = free_port()
    manage("migrate", "--noinput", env=env)
    manage("seed_demo", "--base-url", f"http://127.0.0.1:{port}", env=env)
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(  # noqa: S603 (our own manage.py, fixed arguments)
        [sys.executable, "manage.py", "run_embedded", "--port", str(port), "--simulate", "1"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return database, port, log, server


def test_run_embedded_serves_http_and_ocpp_then_stops_cleanly_on_sigterm(tmp_path):
    database, port, log, server = start_seeded_server(tmp_path)
    try:
        assert wait_until(lambda: http_status(f"http://127.0.0.1:{port}/admin/login/") == 200)
        assert wait_until(lambda: "Simulating 1 charger(s)" in log_text(log)), log_text(log)
        simulated = re.search(r"Simulating 1 charger\(s\) over OCPP 1.6: (\S+)", log_text(log))[1]
        ours = next(cp for cp in sorted(online(database)) if cp != simulated)
        answer = asyncio.run(boot(f"ws://127.0.0.1:{port}/ocpp/{ours}"))
        assert answer[0] == 3 and answer[2]["status"] == "Accepted"
        assert answer[2]["interval"] == 300
        # The simulated charger connects by itself once the server listens.
        assert wait_until(lambda: online(database).get(simulated)), log_text(log)

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    output = log_text(log)
    assert "Embedded scheduler: periodic jobs chargers.presence-sweep" in output
    assert f"Plugboard listening on http://127.0.0.1:{port}/admin/" in output
    assert "Stopped 1 charger(s)" in output  # the simulator ended before the server
    assert output.rstrip().endswith("Plugboard stopped.")
    assert "Traceback" not in output
    # Nothing looks online after the server is gone.
    assert not any(online(database).values())


def simulator_pids(parent_pid: int) -> list[int]:
    """Processes running simulate_chargers on behalf of `parent_pid` (from /proc)."""
    wanted = b"simulate_chargers\0--url"
    parent = f"--parent-pid\0{parent_pid}\0".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if wanted in cmdline and parent in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from Linux's /proc")
def test_run_embedded_killed_with_sigkill_leaves_no_simulator_behind(tmp_path):
    _, _, log, server = start_seeded_server(tmp_path)
    try:
        assert wait_until(lambda: simulator_pids(server.pid)), log_text(log)
        (child,) = simulator_pids(server.pid)
    finally:
        # SIGKILL: the server runs none of its cleanup.
        server.kill()
        server.wait()

    # The orphaned simulator notices within a second or two and stops by itself.
    assert wait_until(lambda: not Path(f"/proc/{child}").exists() or _is_zombie(child))


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


def test_run_embedded_says_so_when_the_port_is_taken(tmp_path):
    database = tmp_path / "embedded.sqlite3"
    env = embedded_env(database)
    manage("migrate", "--noinput", env=env)
    manage("seed_demo", env=env)
    # A charger held by the server that has the port (a first `make run`).
    with sqlite3.connect(database) as db:
        db.execute("UPDATE chargers_charger SET channel_name = 'specific.first!1'")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(  # noqa: S603 (our own manage.py, fixed arguments)
            [sys.executable, "manage.py", "run_embedded", "--port", str(port)],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode != 0
    assert f"Could not listen on 127.0.0.1:{port}" in result.stderr
    assert all(online(database).values()), "the first server's chargers were marked offline"


def log_text(log) -> str:
    log.flush()
    with open(log.name) as again:  # the server appends; read from the start
        return again.read()


@pytest.mark.django_db
def test_simulated_chargers_are_spread_over_properties_leaving_the_first_ids_free():
    from apps.chargers.models import Charger
    from apps.ocpp_consumer.management.commands.run_embedded import simulation_ids
    from tests import factories

    elm, depot = factories.ZoneFactory(), factories.ZoneFactory()
    for zone, prefix in ((elm, "ELM"), (depot, "SWF")):
        for n in (1, 2, 3):
            factories.ChargerFactory(zone=zone, charge_point_id=f"{prefix}-{n:02d}")
    factories.ChargerFactory(zone=elm, charge_point_id="ELM-09", password_hash="pbkdf2$x$y")
    factories.ChargerFactory(
        zone=depot, charge_point_id="SWF-09", registration=Charger.Registration.PENDING
    )

    assert simulation_ids(3) == ["ELM-03", "SWF-03", "ELM-02"]
    assert len(simulation_ids(100)) == 6
    assert simulation_ids(0) == []
