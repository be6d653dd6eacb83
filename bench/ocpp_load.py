"""OCPP load benchmark: N light simulated chargers against a running Plugboard server.

Not a test: a script that prints what one server process holds. See
docs/benchmarks.md for the recorded numbers and bench/README.md for the steps.

    # 1. chargers the server knows (same DATABASE_URL as the server):
    .venv/bin/python bench/ocpp_load.py setup --count 10000
    # 2. the server (another shell), e.g. PostgreSQL + Redis mode, as `make serve`
    #    runs it (docs/benchmarks.md, "How to run it", has the full environment):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/plugboard_bench \\
      REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python -m config.asgi_server \\
      -b 127.0.0.1 -p 8100 --websocket_timeout -1 --websocket_connect_timeout 30 \\
      --ping-interval 60 config.asgi:application
    # 3. the load:
    .venv/bin/python bench/ocpp_load.py run --url ws://127.0.0.1:8100 --count 10000 \\
      --heartbeat 300 --meter-interval 60 --ramp 500 --duration 60 --server-pid <daphne pid>

Each charger boots, reports its connector, starts a transaction, then sends
Heartbeat and MeterValues (2.0.1: TransactionEvent Updated with meter values) at
the given intervals, each charger at its own random phase so the load is even;
at the end it stops its transaction.

Like a real fleet, a charger whose handshake fails (refused, e.g. HTTP 403 from a
server shedding load or from daphne's own 5 s handshake timeout; connection
refused while the server restarts; no answer) or whose connection drops tries
again after --retry-min + random(0..--retry-random) seconds, the minimum doubling
after each failure up to --retry-max (OCPP 2.0.1 RetryBackOffWaitMinimum,
RetryBackOffRandomRange, RetryBackOffRepeatTimes), then boots again and resumes
its schedule. --no-retry restores the old behaviour (one attempt; a failure
stays failed). The measurement window starts after the ramp and --settle, and
with --wait-all S after up to S more seconds waiting for every charger to be held.

Printed: connections held (ever, at the end of ramp+settle, at the end of the
window, when the count first reached N, a timeline every --timeline seconds),
handshake attempts, refusals by HTTP status and timeouts, messages per second
and round trip p50/p95/p99 inside the window, CPU of the machine, of the server
(--server-pid), of PostgreSQL and Redis (--watch) and of this client, the
server+database CPU per answered call with what a dedicated 2-core server would
answer at that cost, and the server's memory per connection.

The client is deliberately thin so that it costs the 2-core machine little (its
CPU in the window is printed; ~230 µs per call at 1,000 calls/s and ~150 µs at
2,000/s on this VM, against ~370 µs before; ~115 µs at 2,000/s on uvloop, the
default --loop): its own minimal websocket protocol (bench/ocpp_load_ws.py)
instead of the `websockets` client, MeterValues frames rendered from a
per-connection template, answers matched by id without parsing,
timestamps formatted once per second, one timer per sleeping charger and one
watchdog per process instead of a timer per call, no client keepalive pings
(daphne pings every 20 s and the client answers; --ping-interval adds the
client's own). `--processes` spreads it over several processes. Only loopback
servers are accepted, every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import multiprocessing as mp
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or imported
from ocpp_load_client import (  # noqa: E402
    RESPONSE_TIMEOUT_S,
    Charger,
    Plan,
    Stats,
    bench_tag,
    loop_monitor,
    watchdog,
)

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_COUNT = 20_000
MAX_DURATION_S = 600
MAX_WAIT_ALL_S = 1800


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker(ids: list[tuple[int, str]], plan: Plan, seed: int, out: Any, loop: str) -> None:
    """One client process: its share of the chargers in one event loop (uvloop's by
    default: measured, it cut the client's CPU per call by a quarter, CPU the
    server under test gets back on a shared machine)."""
    raise_fd_limit()
    stats = Stats()
    rng = random.Random(seed)  # noqa: S311 (jitter, not security)

    async def main() -> None:
        chargers = [Charger(cp, i, plan, stats, random.Random(rng.random())) for i, cp in ids]  # noqa: S311
        dog = asyncio.create_task(watchdog(chargers))
        monitor = asyncio.create_task(loop_monitor(plan, stats))
        await asyncio.gather(*(c.run() for c in chargers))
        dog.cancel()
        monitor.cancel()

    try:
        if loop == "uvloop":
            import uvloop

            uvloop.run(main())
        else:
            asyncio.run(main())
    finally:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        stats.cpu_s = usage.ru_utime + usage.ru_stime
        out.put(stats)


# ---------------------------------------------------------- server metrics


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def pids_cpu_s(pids: list[int]) -> float:
    """Summed CPU seconds of these processes; NaN if one has ended (a restarted server)."""
    try:
        return sum(proc_cpu_s(pid) for pid in pids)
    except OSError:
        return math.nan


def pids_rss_kib(pids: list[int]) -> int:
    try:
        return sum(proc_rss_kib(pid) for pid in pids)
    except OSError:
        return 0


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def comm_cpu_s(names: list[str], database: str | None = None) -> dict[str, dict[int, float]]:
    """CPU seconds per command name (e.g. postgres, redis-server), per process.
    With a database name, PostgreSQL backends (and autovacuum workers) of other
    databases are left out: on a shared machine they are the neighbours' load."""
    totals: dict[str, dict[int, float]] = {name: {} for name in names}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if comm not in totals:
                continue
            if comm == "postgres" and database and not ours(entry, database):
                continue
            totals[comm][int(entry.name)] = proc_cpu_s(int(entry.name))
        except OSError:  # the process ended meanwhile
            continue
    return totals


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two `comm_cpu_s` readings, per process: a process
    that ended in between is left out (its CPU is gone with it; summing totals
    instead made the figure negative), one that started counts whole."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def ours(entry: Path, database: str) -> bool:
    """A PostgreSQL process working for this database, or for all (postmaster, WAL
    writer, checkpointer...). Backends are titled
    "postgres: [CLUSTER:] USER DATABASE HOST(PORT) STATE"."""
    title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    if not title.startswith("postgres: "):
        return True  # the postmaster
    words = title.split()[1:]
    if words and words[0].endswith(":"):  # the cluster name, e.g. "15/main:"
        words = words[1:]
    if words[:2] == ["autovacuum", "worker"]:
        return words[2:3] == [database]
    if len(words) >= 3 and ("(" in words[2] or words[2] == "[local]"):
        return words[1] == database  # a client backend: postgres: user db host(port) state
    return True


def server_database(pids: list[int]) -> str | None:
    """The database name in the first server process's DATABASE_URL, if it can be read."""
    for pid in pids:
        with contextlib.suppress(OSError):
            for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                if item.startswith(b"DATABASE_URL="):
                    return urlparse(item.decode()[len("DATABASE_URL=") :]).path.strip("/") or None
    return None


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


# ---------------------------------------------------------------- commands


def cmd_setup(args: argparse.Namespace) -> None:
    """Register the benchmark's chargers (and a tag they may all use) in the database
    the server uses. Idempotent; bulk inserts, because 10,000 service calls would
    take minutes for rows a benchmark does not need audited."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from fleet import bench_chargers, bench_zone

    from apps.access.models import IdToken

    zone = bench_zone(slug="load-bench", label="Benchmark")
    ids = [f"{args.prefix}{n:05d}" for n in range(1, args.count + 1)]
    IdToken.objects.bulk_create(
        [
            IdToken(organization=zone.property.organization, uid=bench_tag(n))
            for n in range(1, args.count + 1)
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    bench_chargers(zone, ids)
    print(f"{len(ids)} chargers {ids[0]}..{ids[-1]} registered, with tags {bench_tag(1)}...")


def cmd_run(args: argparse.Namespace) -> None:
    for url in args.url:
        if (urlparse(url).hostname or "") not in LOOPBACK:
            raise SystemExit(f"refusing {url}: this benchmark only loads a loopback server")
    if not 1 <= args.count <= MAX_COUNT:
        raise SystemExit(f"--count must be 1..{MAX_COUNT}")
    if not 1 <= args.duration <= MAX_DURATION_S:
        raise SystemExit(f"--duration must be 1..{MAX_DURATION_S} s")
    if not 0 <= args.wait_all <= MAX_WAIT_ALL_S:
        raise SystemExit(f"--wait-all must be 0..{MAX_WAIT_ALL_S} s")
    if args.ramp <= 0 or args.heartbeat <= 0 or args.meter_interval <= 0:
        raise SystemExit("--ramp, --heartbeat and --meter-interval must be positive")
    if args.retry_min <= 0 or args.retry_random < 0 or args.retry_max < args.retry_min:
        raise SystemExit("need 0 < --retry-min <= --retry-max and --retry-random >= 0")
    processes = max(1, min(args.processes, 8, args.count))
    ramp_s = args.count / args.ramp
    t0 = time.time() + 1.0
    ramp_end = t0 + ramp_s + args.settle
    ctx = mp.get_context("fork")
    window = ctx.RawArray("d", 2)  # [start, end], set below once the window starts
    held = ctx.RawArray("i", processes)  # connections held now, per client process
    plan = Plan(
        urls=[u.rstrip("/") for u in args.url],
        subprotocol="ocpp1.6" if args.ocpp == "1.6" else "ocpp2.0.1",
        version=args.ocpp,
        heartbeat_s=args.heartbeat,
        meter_interval_s=args.meter_interval,
        samples=args.samples,
        transactions=not args.no_transactions,
        t0=t0,
        ramp_per_s=args.ramp,
        window=window,
        earliest_end=ramp_end + args.duration,
        held=held,
        password=args.password,
        retry=not args.no_retry,
        retry_min_s=args.retry_min,
        retry_random_s=args.retry_random,
        retry_max_s=args.retry_max,
        ping_interval_s=args.ping_interval or None,
    )
    ids = [(i, f"{args.prefix}{i + 1:05d}") for i in range(args.count)]
    servers = args.server_pid or []
    rss0 = pids_rss_kib(servers)
    database = None if args.all_databases else server_database(servers)
    print(f"load average before the run: {Path('/proc/loadavg').read_text().split()[:3]}")
    retry = (
        "no reconnects"
        if args.no_retry
        else f"reconnect after {args.retry_min:g}+random({args.retry_random:g}) s, "
        f"doubling up to {args.retry_max:g} s"
    )
    print(
        f"{args.count} chargers (OCPP {args.ocpp}) in {processes} client process(es), "
        f"ramp {args.ramp}/s ({ramp_s:.0f} s), heartbeat {args.heartbeat:g} s, MeterValues "
        f"every {args.meter_interval:g} s ({args.samples} sampled values), measuring "
        f"{args.duration:g} s after {args.settle:g} s settle"
        + (f" (and up to {args.wait_all:g} s waiting for all)" if args.wait_all else "")
        + f"; {retry}",
        flush=True,
    )
    queue = ctx.Queue()
    workers = [
        ctx.Process(
            target=worker,
            args=(
                ids[p::processes],
                dataclasses.replace(plan, slot=p),
                args.seed + p,
                queue,
                args.loop,
            ),
        )
        for p in range(processes)
    ]
    for w in workers:
        w.start()
    clients = [os.getpid()] + [w.pid for w in workers if w.pid]

    time.sleep(max(0.0, t0 - time.time()))
    ramp_cpu0 = pids_cpu_s(servers)
    ramp_busy0, _ = machine_busy_s()
    time.sleep(max(0.0, ramp_end - time.time()))
    held_after_settle = sum(held)
    deadline = ramp_end + args.wait_all
    while sum(held) < args.count and time.time() < deadline:
        time.sleep(0.2)
    window_start = max(ramp_end, time.time())
    window_end = window_start + args.duration
    window[1] = window_end  # the end first: a charger that sees the start sees the end
    window[0] = window_start
    cpu0 = pids_cpu_s(servers)
    client0 = pids_cpu_s(clients)
    ramp_busy1, _ = machine_busy_s()
    rss1 = pids_rss_kib(servers)
    held_at_start = sum(held)
    busy0, _ = machine_busy_s()
    others0 = comm_cpu_s(args.watch, database)
    time.sleep(max(0.0, window_end - time.time()))
    cpu1 = pids_cpu_s(servers)
    client1 = pids_cpu_s(clients)
    busy1, _ = machine_busy_s()
    others1 = comm_cpu_s(args.watch, database)

    stats = Stats()
    # Workers end when their chargers have stopped their transactions; bounded.
    deadline = time.time() + RESPONSE_TIMEOUT_S + 70
    try:
        for _ in workers:
            stats.merge(queue.get(timeout=max(1.0, deadline - time.time())))
    finally:
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()

    window_s = window_end - window_start
    completed = sum(stats.completed_in_window.values())
    everything = [v for values in stats.latencies_ms.values() for v in values]
    never = sum(1 for attempts, first in stats.per_charger if first != first)
    print(
        f"connections held       {args.count - never} of {args.count}"
        f" (failed {never}, dropped {stats.dropped})"
        + (
            f"; reconnects after a drop or failure: {stats.attempts - args.count}"
            if stats.attempts > args.count
            else ""
        )
    )
    report_connections(args, stats, t0, ramp_end, window_start, window_end)
    print(
        f"held                   {held_after_settle} after ramp+settle, {held_at_start} at the"
        f" window's start ({window_start - ramp_end:.1f} s later"
        + (f", --wait-all {args.wait_all:g}" if args.wait_all else "")
        + f"), {held_at(held_curve(stats), window_end)} at its end"
    )
    print(
        f"connect+boot ms        p50 {percentile(stats.connect_ms, 50):.1f}  "
        f"p99 {percentile(stats.connect_ms, 99):.1f}  max {max(stats.connect_ms, default=0):.1f}"
    )
    print(
        f"messages/s (window)    {completed / window_s:.1f}"
        f"  ({completed} calls answered in {window_s:.0f} s)"
    )
    for action, values in sorted(stats.latencies_ms.items()):
        print(
            f"  {action:<20} {len(values) / window_s:8.1f}/s"
            f"  p50 {percentile(values, 50):7.2f} ms  "
            f"p95 {percentile(values, 95):7.2f} ms  p99 {percentile(values, 99):7.2f} ms  "
            f"max {max(values):8.2f} ms"
        )
    print(
        f"round trip, all        p50 {percentile(everything, 50):.2f} ms  "
        f"p95 {percentile(everything, 95):.2f} ms  p99 {percentile(everything, 99):.2f} ms"
    )
    lags = stats.client_lag_ms
    print(
        f"client loop lag        p50 {percentile(lags, 50):.2f} ms  p99 {percentile(lags, 99):.2f}"
        f" ms  max {max(lags, default=0):.2f} ms  (how late the load client ran: part of every"
        " round trip above)"
    )
    print(
        f"CALLERRORs {stats.call_errors}, timeouts {stats.timeouts}, "
        f"skipped send slots {stats.missed_slots} (server slower than the offered rate)"
        + (f", errors {stats.errors}" if stats.errors else "")
    )
    print(
        f"machine CPU            {(busy1 - busy0) / window_s:.2f} cores busy of {os.cpu_count()}"
        f" (everything: server, database, Redis, this client)"
    )
    watched = 0.0
    for name in args.watch:
        used = cpu_delta(others0[name], others1[name])
        watched += used
        mine = f" (database {database} only)" if name == "postgres" and database else ""
        print(
            f"{name + ' CPU':<22} {used / window_s:.2f} cores{mine}"
            f" ({used * 1000 / max(completed, 1):.2f} ms per answered call)"
        )
    client_used = client1 - client0
    print(
        f"client CPU             {client_used / window_s:.3f} cores in the window"
        f" ({client_used * 1e6 / max(completed, 1):.0f} µs per answered call; taken from"
        f" the server on this machine), {stats.cpu_s:.1f} s over the whole run"
    )
    ramp_window = window_start - t0
    print(
        f"during ramp+settle     machine {(ramp_busy1 - ramp_busy0) / ramp_window:.2f} cores busy"
        + (f", server {(cpu0 - ramp_cpu0) / ramp_window:.2f} cores" if servers else "")
    )
    if not servers:
        return
    if math.isnan(cpu1 - cpu0):
        print("server CPU             n/a: a --server-pid ended during the run (restarted?)")
        return
    print(
        f"server CPU (pids {','.join(map(str, servers))})  {(cpu1 - cpu0) / window_s:.2f} cores"
        f" ({(cpu1 - cpu0) * 1000 / max(completed, 1):.2f} ms per answered call)"
    )
    per_call_ms = (cpu1 - cpu0 + watched) * 1000 / max(completed, 1)
    if completed:
        print(
            f"server+database CPU per answered call {per_call_ms:.2f} ms"
            f" -> a dedicated 2-core server would answer about {2000 / per_call_ms:,.0f}"
            f" calls/s at this mix (server pids + {' + '.join(args.watch) or 'nothing else'})"
        )
    if held_at_start:
        per = (rss1 - rss0) / held_at_start
        print(
            f"server memory          RSS {rss0 / 1024:.0f} MiB -> {rss1 / 1024:.0f} MiB:"
            f" {per:.1f} KiB per connection ({held_at_start} held at the window's start)"
        )


def held_curve(stats: Stats) -> list[tuple[float, int]]:
    """(time, connections held from then on), in time order."""
    curve, held = [], 0
    for when, delta in sorted(stats.held_events):
        held += delta
        curve.append((when, held))
    return curve


def held_at(curve: list[tuple[float, int]], when: float) -> int:
    held = 0
    for t, n in curve:
        if t > when:
            break
        held = n
    return held


def report_connections(
    args: argparse.Namespace,
    stats: Stats,
    t0: float,
    ramp_end: float,
    window_start: float,
    window_end: float,
) -> None:
    """Handshakes, refusals, when the fleet was all held, and a timeline of it."""
    refusals = ", ".join(f"HTTP {s}: {n}" for s, n in sorted(stats.refusals.items())) or "none"
    print(
        f"handshake attempts     {stats.attempts} (failed {stats.connect_failed}; refusals"
        f" {refusals}, of which {stats.late_refusals} after >= 4.5 s = daphne's handshake"
        f" timeout; client timeouts {stats.handshake_timeouts})"
    )
    tries: dict[int, int] = {}
    firsts = []
    for attempts, first in stats.per_charger:
        tries[attempts] = tries.get(attempts, 0) + 1
        if first == first:
            firsts.append(first)
    print(
        "attempts per charger   "
        + ", ".join(f"{a}: {n}" for a, n in sorted(tries.items()))
        + (
            f"; first held after its ramp slot p50 {percentile(firsts, 50):.1f} s"
            f"  p99 {percentile(firsts, 99):.1f} s  max {max(firsts):.1f} s"
            if firsts
            else "; none was ever held"
        )
    )
    curve = held_curve(stats)
    # Every moment the count (re)reached N: the first, then after each reconnect storm.
    full = [
        t
        for (t, n), (_, before) in zip(curve, [(t0, 0), *curve], strict=False)
        if n >= args.count > before
    ]
    if full:
        again = ", again at " + ", ".join(f"t={t - t0:.1f}s" for t in full[1:]) if full[1:] else ""
        print(
            f"{'all held':<22} all {args.count} first at t={full[0] - t0:.1f}s{again}"
            f" (ramp+settle ends t={ramp_end - t0:.0f}s)"
        )
    else:
        top = max(curve, key=lambda point: point[1], default=(t0, 0))
        print(f"all held               never; at most {top[1]} at t={top[0] - t0:.1f}s")
    step = max(1.0, args.timeline)
    points = [
        f"t={k * step:.0f}s held={held_at(curve, t0 + k * step)}"
        for k in range(int((window_end - t0) // step) + 1)
    ]
    points.append(f"window t={window_start - t0:.0f}..{window_end - t0:.0f}s")
    print(
        "timeline               "
        + ("\n" + " " * 23).join("  ".join(points[i : i + 6]) for i in range(0, len(points), 6))
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("setup", help="Register the benchmark chargers in the database.")
    setup.add_argument("--count", type=int, default=1000)
    setup.add_argument("--prefix", default="BENCH-")
    run = sub.add_parser("run", help="Load a running server.")
    run.add_argument(
        "--url",
        nargs="+",
        default=["ws://127.0.0.1:8000"],
        help="Server base URL(s); chargers are spread round-robin over several.",
    )
    run.add_argument("--count", type=int, default=1000)
    run.add_argument("--prefix", default="BENCH-")
    run.add_argument("--ocpp", choices=["1.6", "2.0.1"], default="1.6")
    run.add_argument("--password", help="HTTP Basic password, if the chargers have one.")
    run.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="The client processes' event loop (the server's is daphne's).",
    )
    run.add_argument("--heartbeat", type=float, default=300.0, help="Seconds between heartbeats.")
    run.add_argument(
        "--meter-interval", type=float, default=60.0, help="Seconds between MeterValues."
    )
    run.add_argument("--samples", type=int, default=4, help="Sampled values per MeterValues (1-7).")
    run.add_argument(
        "--no-transactions", action="store_true", help="MeterValues outside a session."
    )
    run.add_argument("--ramp", type=float, default=200.0, help="New connections per second.")
    run.add_argument("--settle", type=float, default=5.0, help="Seconds between ramp and window.")
    run.add_argument(
        "--wait-all",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="After ramp+settle, wait up to this long for every charger to be held"
        " before the window starts (default 0: start at once).",
    )
    run.add_argument("--duration", type=float, default=60.0, help="Measured seconds.")
    run.add_argument(
        "--no-retry",
        action="store_true",
        help="A failed handshake or a dropped connection is final (the old behaviour).",
    )
    run.add_argument(
        "--retry-min", type=float, default=10.0, help="Back-off minimum, seconds (default 10)."
    )
    run.add_argument(
        "--retry-random",
        type=float,
        default=10.0,
        help="Random part added to each back-off, 0..this many seconds (default 10).",
    )
    run.add_argument(
        "--retry-max",
        type=float,
        default=120.0,
        help="Cap of the doubling minimum, seconds (default 120; the random part comes on top).",
    )
    run.add_argument(
        "--ping-interval",
        type=float,
        default=0.0,
        help="The client's websocket keepalive pings, seconds (default 0: none; the server"
        " pings, and 10,000 client pings cost the client CPU).",
    )
    run.add_argument(
        "--timeline", type=float, default=10.0, help="Seconds between timeline points."
    )
    run.add_argument("--processes", type=int, default=1, help="Client processes (1-8).")
    run.add_argument(
        "--server-pid", type=int, nargs="+", help="Server process id(s), for CPU and memory."
    )
    run.add_argument(
        "--watch",
        nargs="*",
        default=["postgres", "redis-server"],
        help="Also report the CPU of every process with these names.",
    )
    run.add_argument(
        "--all-databases",
        action="store_true",
        help="Count every PostgreSQL backend; by default only those of the database in"
        " the --server-pid's DATABASE_URL (and the shared background processes).",
    )
    run.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "setup":
        cmd_setup(args)
    else:
        cmd_run(args)


if __name__ == "__main__":
    main()
