"""Meter storage benchmark: the CPU that storing meter values costs the server
process, measured in-process (no sockets, no OCPP parsing), on the database that
DATABASE_URL names.

Not a test: a script that prints numbers. It calls the storage services the OCPP
server calls, the way its group writer calls them (apps/ocpp_consumer/handlers/
writers.py): many chargers' messages per call, each call one transaction.

    # 1. chargers with an open session each (idempotent):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/plugboard_x \\
      .venv/bin/python bench/meter_store.py setup --count 1000
    # 2. 1.6 MeterValues: groups of 200 reports of 4 sampled values:
    DATABASE_URL=... .venv/bin/python bench/meter_store.py run --mode v16 \\
      --group 200 --samples 4 --rounds 50
    # 3. 2.0.1 TransactionEvent Updated with the same meter values, stored as a
    #    group (session_events_record_many, what the server's writer calls) or
    #    one event per transaction (session_event, `--path single`):
    DATABASE_URL=... .venv/bin/python bench/meter_store.py run --mode v201 --path grouped
    DATABASE_URL=... .venv/bin/python bench/meter_store.py run --mode v201 --path single \\
      --rounds 10

It runs with production settings (config.settings.production: DEBUG off, so no
query log; persistent connection) unless DJANGO_SETTINGS_MODULE says otherwise.
Prints CPU milliseconds per report (`time.process_time` of this process: Python,
Django and psycopg, not PostgreSQL's own CPU) and wall milliseconds per group
(the time a charger waits for the commit, without the gathering window).
Building the domain values (what the OCPP mappers do) is not measured.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

MAX_COUNT = 20_000
MAX_ROUNDS = 10_000


def _django() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    if os.environ["DJANGO_SETTINGS_MODULE"].endswith("production"):
        # Production refuses to start without these; the benchmark uses neither.
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
        os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    import django

    django.setup()


def charger_ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n:05d}" for n in range(1, count + 1)]


def transaction_id(charge_point_id: str) -> str:
    return f"TX-{charge_point_id}"


# ---------------------------------------------------------------------- setup


def cmd_setup(args: argparse.Namespace) -> None:
    """Chargers, each with connector 1 and one active session (the transaction id
    TX-<charge point id>). Bulk inserts: the rows only need to exist."""
    _django()
    from fleet import bench_chargers, bench_zone

    from apps.chargers.models import ChargingSession, Connector

    zone = bench_zone(slug="meter-bench", label="Meter benchmark")
    ids = charger_ids(args.prefix, args.count)
    chargers = bench_chargers(zone, ids)
    connectors = dict(
        Connector.objects.filter(charger_id__in=chargers, connector_id=1).values_list(
            "charger_id", "pk"
        )
    )
    started = datetime.now(UTC).replace(microsecond=0)
    ChargingSession.objects.bulk_create(
        [
            ChargingSession(
                charger_id=pk,
                connector_id=connectors[pk],
                ocpp_transaction_id=transaction_id(cp),
                meter_start_wh=0,
                started_at=started,
                last_seq_no=0,
            )
            for pk, cp in chargers.items()
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    print(f"{len(ids)} chargers {ids[0]}..{ids[-1]} registered, each with an open session.")


# ------------------------------------------------------------------------ run


def samples(at: datetime, register_wh: int, count: int) -> list[Any]:
    """What a charger reports every minute (the same readings as bench/ocpp_load.py)."""
    from apps.chargers.services import Sample

    values = [
        ("Energy.Active.Import.Register", Decimal(register_wh), "Wh", "", ""),
        ("Power.Active.Import", Decimal("7360"), "W", "", ""),
        ("Current.Import", Decimal("32.0"), "A", "L1", ""),
        ("SoC", Decimal("56.5"), "Percent", "", "EV"),
        ("Voltage", Decimal("230.1"), "V", "L1-N", ""),
        ("Current.Import", Decimal("32.0"), "A", "L2", ""),
        ("Current.Import", Decimal("32.0"), "A", "L3", ""),
    ][: max(1, count)]
    return [
        Sample(
            sampled_at=at,
            value=value,
            measurand=measurand,
            unit=unit,
            phase=phase,
            location=location,
            context="Sample.Periodic",
        )
        for measurand, value, unit, phase, location in values
    ]


@dataclass
class Workload:
    # The messages of one group: (chargers, their timestamp, the round number).
    build: Callable[[Sequence[Any], datetime, int], list[Any]]
    # Stores one group (what the server's group writer calls).
    store: Callable[[list[Any]], None]


def v16_workload(chargers: Sequence[Any], args: argparse.Namespace) -> Workload:
    from apps.chargers.services import MeterReport, meter_samples_record_many

    def build(group: Sequence[Any], at: datetime, round_no: int) -> list[Any]:
        return [
            MeterReport(
                charger=charger,
                connector_id=1,
                transaction_id=transaction_id(charger.charge_point_id),
                samples=samples(at, 1000 * round_no, args.samples),
            )
            for charger in group
        ]

    def store(reports: list[Any]) -> None:
        meter_samples_record_many(reports=reports)

    return Workload(build, store)


def v201_workload(chargers: Sequence[Any], args: argparse.Namespace) -> Workload:
    from apps.chargers import services
    from apps.chargers.models import ChargingSession

    # Each run goes on from the sessions' highest seqNo, so every event is new.
    last = dict(
        ChargingSession.objects.filter(charger__in=chargers).values_list(
            "charger_id", "last_seq_no"
        )
    )

    def build(group: Sequence[Any], at: datetime, round_no: int) -> list[Any]:
        events = []
        for charger in group:
            last[charger.pk] = (last.get(charger.pk) or 0) + 1
            events.append(
                dict(
                    charger=charger,
                    transaction_id=transaction_id(charger.charge_point_id),
                    kind="updated",
                    seq_no=last[charger.pk],
                    at=at,
                    trigger="meter_value_periodic",
                    charging_state="charging",
                    connector_id=1,
                    samples=samples(at, 1000 * round_no, args.samples),
                )
            )
        return events

    def store_single(events: list[Any]) -> None:
        for event in events:
            services.session_event(**event)

    def store_grouped(events: list[Any]) -> None:
        services.session_events_record_many(
            events=[services.SessionEventReport(**event) for event in events]
        )

    return Workload(build, store_grouped if args.path == "grouped" else store_single)


def cmd_run(args: argparse.Namespace) -> None:
    if not 0 < args.group <= args.count <= MAX_COUNT or not 0 < args.rounds <= MAX_ROUNDS:
        raise SystemExit(f"need 0 < --group <= --count <= {MAX_COUNT}, --rounds <= {MAX_ROUNDS}")
    _django()
    from django.db import connection

    from apps.chargers.models import Charger

    chargers = list(
        Charger.objects.filter(charge_point_id__in=charger_ids(args.prefix, args.count))
        .select_related("zone")
        .order_by("charge_point_id")
    )
    if len(chargers) < args.count:
        raise SystemExit(f"only {len(chargers)} chargers: run `setup --count {args.count}` first")
    workload = (v16_workload if args.mode == "v16" else v201_workload)(chargers, args)
    # Timestamps of this run: after any earlier run's, one second apart per round,
    # so that no reading collides with a stored one (that would skip its insert).
    start = datetime.now(UTC).replace(microsecond=0)
    cpu_s: list[float] = []
    wall_s: list[float] = []
    for round_no in range(args.warmup + args.rounds):
        offset = (round_no * args.group) % args.count
        group = (chargers[offset:] + chargers[:offset])[: args.group]
        batch = workload.build(group, start + timedelta(seconds=round_no), round_no)
        cpu, wall = time.process_time(), time.perf_counter()
        workload.store(batch)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if round_no >= args.warmup:
            cpu_s.append(cpu)
            wall_s.append(wall)
    reports = args.group * args.rounds
    walls_ms = sorted(w * 1000 for w in wall_s)
    print(
        f"{connection.vendor} {args.mode} path={args.path}: {args.rounds} groups of {args.group}"
        f" reports x {args.samples} values"
    )
    print(f"  CPU per report: {sum(cpu_s) * 1000 / reports:.3f} ms")
    print(
        f"  wall per group: mean {statistics.fmean(walls_ms):.1f} ms,"
        f" p50 {walls_ms[len(walls_ms) // 2]:.1f} ms, max {walls_ms[-1]:.1f} ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("setup", help="Chargers with an open session each.")
    setup.add_argument("--count", type=int, default=1000)
    setup.add_argument("--prefix", default="METER-")
    run = sub.add_parser("run", help="Store meter values and print the cost.")
    run.add_argument("--mode", choices=["v16", "v201"], default="v16")
    run.add_argument(
        "--path",
        choices=["grouped", "single"],
        default="grouped",
        help="v201: TransactionEvents stored as a group or one per transaction.",
    )
    run.add_argument("--count", type=int, default=1000, help="Chargers used, round-robin.")
    run.add_argument("--prefix", default="METER-")
    run.add_argument("--group", type=int, default=200, help="Reports per call (per transaction).")
    run.add_argument("--samples", type=int, default=4, help="Sampled values per report (1-7).")
    run.add_argument("--rounds", type=int, default=50, help="Measured groups.")
    run.add_argument("--warmup", type=int, default=3, help="Groups stored before measuring.")
    args = parser.parse_args(argv)
    if args.command == "setup":
        cmd_setup(args)
    else:
        cmd_run(args)


if __name__ == "__main__":
    main()
