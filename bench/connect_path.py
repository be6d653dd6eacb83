"""What a charger's connection and session setup costs the server, in-process.

Not a test: a script that runs, for N benchmark chargers one after the other,
the domain calls a charger's connect and first session make (the services the
OCPP consumer calls, without a socket), and prints per step the database queries
and the CPU of this process (`time.process_time`: Python, Django and the database
driver; not PostgreSQL's own CPU). On this VM each query costs ~0.3-0.7 ms of
CPU, so the query count is what to watch.

    # your own database (the chargers are bench/ocpp_load.py's, made here if missing):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/plugboard_<you> \\
      .venv/bin/python bench/connect_path.py --count 500

Steps, per charger: admission + connection record, BootNotification, two
StatusNotifications (Available, Charging), StartTransaction with its valid tag,
StopTransaction, disconnect. The first `--warmup` chargers are run but not counted
(connection setup, Django's caches). Runs with DEBUG off (as production), so that
Django does not keep every query's SQL, and with persistent database connections;
each service call is wrapped as the server's ORM thread hop wraps it
(close_old_connections before and after).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

STEPS = ("admit+connect", "boot", "status", "status2", "start", "stop", "disconnect")
MAX_COUNT = 5_000


class Meter:
    """Queries and CPU per step: queries are counted by a database execute wrapper
    (cheap, unlike DEBUG's query log)."""

    def __init__(self) -> None:
        self.queries: dict[str, list[int]] = {step: [] for step in STEPS}
        self.cpu_ms: dict[str, list[float]] = {step: [] for step in STEPS}
        self._count = 0
        # --show-sql: the statements of the first measured charger, per step.
        self.show_sql = False
        self._step = ""

    def wrapper(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any
    ) -> Any:
        self._count += 1
        if self.show_sql:
            print(f"  [{self._step}] {sql[:160]}")
        return execute(sql, params, many, ctx)

    def step(self, name: str, call: Callable[[], Any], record: bool, hops: int = 1) -> Any:
        """Run one step as the OCPP server does: each service call is a hop to an
        ORM thread, which closes obsolete connections before and after it
        (Channels' DatabaseSyncToAsync); `call` makes `hops` service calls."""
        from django.db import close_old_connections

        self._step = name
        count0, cpu0 = self._count, time.process_time()
        for _ in range(hops):
            close_old_connections()
        result = call()
        for _ in range(hops):
            close_old_connections()
        cpu, count = time.process_time() - cpu0, self._count - count0
        if record:
            self.queries[name].append(count)
            self.cpu_ms[name].append(cpu * 1000)
        return result


def run_one(meter: Meter, services: Any, number: int, prefix: str, record: bool) -> None:
    from django.utils import timezone
    from ocpp_load import bench_tag  # bench/ is sys.path[0] when run as a script

    cp_id = f"{prefix}{number:05d}"
    channel = f"bench.connect_path!{number}"
    now = timezone.now()
    admit_connect = getattr(services, "charger_admit_connect", None)

    def admit() -> Any:
        if admit_connect is not None:
            connection = admit_connect(
                charge_point_id=cp_id,
                onboarding_key=None,
                username=None,
                password=None,
                channel_name=channel,
                ocpp_version="1.6",
                at=now,
            )
            return connection.charger
        # Before charger_admit_connect: two service calls (two ORM thread hops).
        admission = services.charger_admit(
            charge_point_id=cp_id, onboarding_key=None, username=None, password=None
        )
        services.charger_connected(
            charger=admission.charger, channel_name=channel, ocpp_version="1.6", at=now
        )
        return admission.charger

    charger = meter.step("admit+connect", admit, record, hops=1 if admit_connect else 2)
    if charger is None:
        raise SystemExit(f"{cp_id} was refused: run with a database the bench set up")
    meter.step(
        "boot",
        lambda: services.charger_boot(
            charger=charger,
            vendor="Plugboard",
            model="LoadBench",
            ocpp_version="1.6",
            details={"chargePointVendor": "Plugboard", "chargePointModel": "LoadBench"},
        ),
        record,
    )
    for step, status in (("status", "available"), ("status2", "charging")):
        meter.step(
            step,
            lambda status=status: services.connector_status_update(
                charger=charger, connector_id=1, status=status, at=timezone.now()
            ),
            record,
        )
    result = meter.step(
        "start",
        lambda: services.session_start(
            charger=charger,
            connector_id=1,
            id_tag=bench_tag(number),
            meter_start_wh=10_000,
            started_at=now,
        ),
        record,
    )
    if not result.authorization.accepted:
        raise SystemExit(f"{cp_id}: tag {bench_tag(number)} not accepted ({result.authorization})")
    meter.step(
        "stop",
        lambda: services.session_stop(
            charger=charger,
            transaction_id=result.session.ocpp_transaction_id,
            meter_stop_wh=12_000,
            stopped_at=now + timedelta(seconds=1),
            reason="local",
        ),
        record,
    )
    meter.step(
        "disconnect",
        lambda: services.charger_disconnected(
            charger=charger, channel_name=channel, at=timezone.now()
        ),
        record,
    )


def report(meter: Meter, count: int, wall_s: float) -> None:
    print(f"{'step':<15}{'queries':>9}{'CPU ms mean':>13}{'median':>9}{'p95':>9}")
    total_q = 0.0
    total_cpu = 0.0
    for step in STEPS:
        queries, cpu = meter.queries[step], meter.cpu_ms[step]
        q = statistics.mean(queries)
        ordered = sorted(cpu)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        total_q += q
        total_cpu += statistics.mean(cpu)
        print(
            f"{step:<15}{q:>9.2f}{statistics.mean(cpu):>13.2f}"
            f"{statistics.median(cpu):>9.2f}{p95:>9.2f}"
        )
    print(f"{'total':<15}{total_q:>9.2f}{total_cpu:>13.2f}")
    print(f"{count} chargers in {wall_s:.1f} s wall ({count / wall_s:.0f} chargers/s, one thread)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500, help="chargers measured")
    parser.add_argument("--warmup", type=int, default=20, help="chargers run first, not counted")
    parser.add_argument("--prefix", default="CPATH-")
    parser.add_argument(
        "--show-sql", action="store_true", help="print the first measured charger's statements"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.count <= MAX_COUNT or args.warmup < 0:
        raise SystemExit(f"--count must be 1..{MAX_COUNT}, --warmup at least 0")

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    # Production runs with DEBUG off: Django then keeps no per-query log.
    os.environ.setdefault("DEBUG", "0")
    # ... and keeps its database connections (config/settings/production.py).
    os.environ.setdefault("DB_CONN_MAX_AGE", "600")
    os.environ.setdefault("SECRET_KEY", "bench-connect-path-only-not-a-deployment-key-0123456789")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from ocpp_load import cmd_setup

    from apps.chargers import services

    total = args.count + args.warmup
    print(f"database: {settings.DATABASES['default']['ENGINE']} {connection.settings_dict['NAME']}")
    cmd_setup(argparse.Namespace(count=total, prefix=args.prefix))
    meter = Meter()
    with connection.execute_wrapper(meter.wrapper):
        for number in range(1, args.warmup + 1):
            run_one(meter, services, number, args.prefix, record=False)
        wall0 = time.perf_counter()
        for number in range(args.warmup + 1, total + 1):
            meter.show_sql = args.show_sql and number == args.warmup + 1
            run_one(meter, services, number, args.prefix, record=True)
        wall = time.perf_counter() - wall0
    report(meter, args.count, wall)


if __name__ == "__main__":
    main()
