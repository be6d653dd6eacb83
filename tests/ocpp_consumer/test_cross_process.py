"""A command crosses processes: daphne, in a process of its own, holds the
charger's socket; `manage.py charger_command`, in another process, sends the
command through channels-redis and prints the charger's answer.

Needs Redis (REDIS_URL). The three processes share a SQLite file database made
for this module (the test database of pytest-django lives in this process only);
the test reads it with sqlite3 to see what the server and the command wrote."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.ocpp_consumer.test_commands_e2e import charger_online_at

pytestmark = pytest.mark.redis

ROOT = Path(settings.BASE_DIR)
SETUP = """
from tests import factories
zone = factories.ZoneFactory()
for cp_id, version in [("CP-16", "1.6"), ("CP-201", "2.0.1"), ("CP-OFF", "1.6")]:
    factories.ChargerFactory(charge_point_id=cp_id, zone=zone, ocpp_version=version)
"""


class Deployment:
    """A database file, the environment every process gets, a daphne process."""

    def __init__(self, directory: Path) -> None:
        self.database = directory / "db.sqlite3"
        self.log = directory / "daphne.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"sqlite:///{self.database}",
            "REDIS_URL": os.environ["REDIS_URL"],
        }
        self.port = _free_port()

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def url(self, charge_point_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{charge_point_id}"

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.database, timeout=10) as db:
            return db.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    deployed = Deployment(tmp_path_factory.mktemp("cross_process"))
    deployed.manage("migrate", "--noinput")
    deployed.manage("shell", "-c", SETUP)
    with deployed.log.open("w") as log:
        server = subprocess.Popen(  # noqa: S603 (our own interpreter and daphne)
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(deployed.port),
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=deployed.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(deployed.port, server)
        yield deployed
    finally:
        server.terminate()
        server.wait(10)


def run(coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
    # Not conftest.run(): that one waits on the test database, which the processes
    # here do not use.
    return asyncio.run(asyncio.wait_for(coro, timeout))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, server: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"daphne exited with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("daphne did not start listening")


async def _charger_command(deployed: Deployment, *args: str) -> tuple[int, str, str]:
    """`manage.py charger_command ...` in another process, while this process's event
    loop keeps the charger answering."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "manage.py",
        "charger_command",
        *args,
        cwd=ROOT,
        env=deployed.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, stdout.decode(), stderr.decode()


def _online(deployed: Deployment, charge_point_id: str) -> bool:
    rows = deployed.query(
        "SELECT channel_name FROM chargers_charger WHERE charge_point_id = ?", charge_point_id
    )
    return bool(rows and rows[0][0])


@pytest.mark.parametrize(
    ("charge_point_id", "version", "command", "params", "action", "expected"),
    [
        ("CP-16", "1.6", "reset", {"type": "soft"}, "Reset", {"status": "Accepted"}),
        (
            "CP-201",
            "2.0.1",
            "get-configuration",
            {"keys": ["HeartbeatInterval"]},
            "GetVariables",
            {
                "status": "Accepted",
                "configuration": [
                    {
                        "key": "OCPPCommCtrlr.HeartbeatInterval",
                        "value": "300",
                        "attribute_status": "Accepted",
                    }
                ],
                "unknown_keys": [],
            },
        ),
    ],
)
def test_command_from_another_process_gets_the_chargers_answer(
    deployment, charge_point_id, version, command, params, action, expected
):
    async def scenario() -> tuple[int, str, str, list]:
        url = deployment.url(charge_point_id)
        async with charger_online_at(
            url, charge_point_id, version, online=lambda: _online(deployment, charge_point_id)
        ) as cp:
            code, out, err = await _charger_command(
                deployment, charge_point_id, command, json.dumps(params), "--timeout", "20"
            )
            return code, out, err, cp.received

    code, out, err, received = run(scenario(), timeout=90)

    assert code == 0, err + deployment.log.read_text()
    answer = json.loads(out)
    assert answer == {**expected, "command_id": answer["command_id"]}
    assert [a for a, _ in received] == [action]
    [(outcome, status, source)] = deployment.query(
        "SELECT outcome, status, source FROM chargers_commandlog WHERE id = ?",
        answer["command_id"],
    )
    assert (outcome, status, source) == ("answered", expected["status"], "system")


def test_command_from_another_process_to_an_offline_charger_says_offline(deployment):
    result = deployment.manage(
        "charger_command", "CP-OFF", "reset", '{"type": "hard"}', check=False
    )

    assert result.returncode == 1
    assert "ChargerOffline" in result.stderr
    assert deployment.query(
        "SELECT outcome FROM chargers_commandlog WHERE command = 'reset' ORDER BY id DESC LIMIT 1"
    ) == [("offline",)]


WORKER = """
import json
from apps.chargers.models import Charger
from apps.chargers.tasks import charger_command_send
charger = Charger.objects.get(charge_point_id="CP-16")
# Two tasks in one worker process: each runs in an event loop of its own, and the
# channel layer must serve both.
for command, params in [("reset", {"type": "hard"}), ("clear-cache", {})]:
    print(json.dumps(charger_command_send(charger.pk, command, params, timeout=20)))
"""


def test_celery_task_in_a_worker_process_gets_the_chargers_answers(deployment):
    async def scenario() -> tuple[int, str, str, list]:
        async with charger_online_at(
            deployment.url("CP-16"), "CP-16", "1.6", online=lambda: _online(deployment, "CP-16")
        ) as cp:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                WORKER,
                cwd=ROOT,
                env=deployment.env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
            return process.returncode or 0, stdout.decode(), stderr.decode(), cp.received

    code, out, err, received = run(scenario(), timeout=90)

    assert code == 0, err
    answers = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [a["status"] for a in answers] == ["Accepted", "Rejected"]
    assert [(a, k) for a, k in received] == [("Reset", {"type": "Hard"}), ("ClearCache", {})]
    sources = deployment.query(
        "SELECT source, outcome FROM chargers_commandlog WHERE id IN (?, ?)",
        answers[0]["command_id"],
        answers[1]["command_id"],
    )
    assert sources == [("task", "answered"), ("task", "answered")]
