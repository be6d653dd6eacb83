"""OCPP load benchmark: N light simulated chargers against a running Plugboard server.

Not a test: a script that prints what one server process holds. See
docs/benchmarks.md for the recorded numbers and bench/README.md for the steps.

    # 1. chargers the server knows (same DATABASE_URL as the server):
    .venv/bin/python bench/ocpp_load.py setup --count 10000
    # 2. the server (another shell), e.g. PostgreSQL + Redis mode:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/plugboard_bench \\
      REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/daphne -b 127.0.0.1 -p 8100 \\
      --websocket_timeout -1 config.asgi:application
    # 3. the load:
    .venv/bin/python bench/ocpp_load.py run --url ws://127.0.0.1:8100 --count 10000 \\
      --heartbeat 300 --meter-interval 60 --ramp 500 --duration 60 --server-pid <daphne pid>

Each charger boots, reports its connector, starts a transaction, then sends
Heartbeat and MeterValues (2.0.1: TransactionEvent Updated with meter values) at
the given intervals, each charger at its own random phase so the load is even;
at the end it stops its transaction. The client is deliberately thin (frames
built by hand on a bare `websockets` connection, no `ocpp` ChargePoint, no schema
validation) so that it costs the 2-core machine little; `--processes` spreads it
over several processes. Only loopback servers are accepted, every loop is
bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_COUNT = 20_000
MAX_DURATION_S = 600
RESPONSE_TIMEOUT_S = 30.0


def bench_tag(number: int) -> str:
    """Charger n's drivers' tag: one per charger, so no tag is in two sessions at once."""
    return f"BENCHTAG{number:05d}"


# --------------------------------------------------------------------- frames


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def frame(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, message_id, action, payload], separators=(",", ":"))


def sampled_16(register_wh: int, samples: int, context: str) -> list[dict[str, Any]]:
    values = [
        {"value": str(register_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "7360", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "32.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
        {"value": "56.5", "measurand": "SoC", "unit": "Percent", "location": "EV"},
        {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
        {"value": "32.0", "measurand": "Current.Import", "unit": "A", "phase": "L2"},
        {"value": "32.0", "measurand": "Current.Import", "unit": "A", "phase": "L3"},
    ][: max(1, samples)]
    for v in values:
        v["context"] = context
    return [{"timestamp": now_iso(), "sampledValue": values}]


def sampled_201(register_wh: int, samples: int, context: str) -> list[dict[str, Any]]:
    out = []
    for v in sampled_16(register_wh, samples, context)[0]["sampledValue"]:
        item: dict[str, Any] = {
            "value": float(v["value"]),
            "measurand": v["measurand"],
            "context": context,
            "unitOfMeasure": {"unit": v["unit"]},
        }
        for key in ("phase", "location"):
            if key in v:
                item[key] = v[key]
        out.append(item)
    return [{"timestamp": now_iso(), "sampledValue": out}]


# ---------------------------------------------------------------------- stats


@dataclass
class Stats:
    connected: int = 0
    connect_failed: int = 0
    dropped: int = 0
    call_errors: int = 0
    timeouts: int = 0
    missed_slots: int = 0  # sends skipped because the previous answer came too late
    completed_in_window: dict[str, int] = field(default_factory=dict)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    connect_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    cpu_s: float = 0.0

    def merge(self, other: Stats) -> None:
        for name in (
            "connected",
            "connect_failed",
            "dropped",
            "call_errors",
            "timeouts",
            "missed_slots",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for action, n in other.completed_in_window.items():
            self.completed_in_window[action] = self.completed_in_window.get(action, 0) + n
        for action, values in other.latencies_ms.items():
            self.latencies_ms.setdefault(action, []).extend(values)
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n
        self.connect_ms.extend(other.connect_ms)
        self.cpu_s += other.cpu_s


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# --------------------------------------------------------------------- client


@dataclass
class Plan:
    urls: list[str]  # several: chargers are spread over them, as a load balancer would
    subprotocol: str
    version: str
    heartbeat_s: float
    meter_interval_s: float
    samples: int
    transactions: bool
    t0: float  # wall clock when the first connection opens
    ramp_per_s: float
    window_start: float
    window_end: float
    password: str | None = None


class Charger:
    def __init__(self, cp_id: str, index: int, plan: Plan, stats: Stats, rng: random.Random):
        self.cp_id, self.index, self.plan, self.stats, self.rng = cp_id, index, plan, stats, rng
        self.tag = bench_tag(index + 1)
        self.ws: Any = None
        self.seq = 0
        self.register_wh = rng.randint(10_000, 1_000_000)
        self.tx_id: Any = None
        self.tx_seq = 0

    async def call(self, action: str, payload: dict[str, Any], label: str | None = None) -> Any:
        """Send one CALL and wait for its answer; records latency inside the window."""
        self.seq += 1
        message_id = f"{self.index}-{self.seq}"
        text = frame(message_id, action, payload)
        sent = time.time()
        await self.ws.send(text)
        deadline = sent + RESPONSE_TIMEOUT_S
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                self.stats.timeouts += 1
                raise TimeoutError(action)
            raw = await asyncio.wait_for(self.ws.recv(), remaining)
            message = json.loads(raw)
            if message[0] == 2:  # a command from the server: not part of this benchmark
                reply = [4, message[1], "NotImplemented", "benchmark client", {}]
                await self.ws.send(json.dumps(reply))
                continue
            if message[1] != message_id:
                continue
            break
        done = time.time()
        label = label or action
        if self.plan.window_start <= sent and done <= self.plan.window_end:
            self.stats.latencies_ms.setdefault(label, []).append((done - sent) * 1000)
            self.stats.completed_in_window[label] = self.stats.completed_in_window.get(label, 0) + 1
        if message[0] == 4:
            self.stats.call_errors += 1
            key = f"{action}: {message[2]}"
            self.stats.errors[key] = self.stats.errors.get(key, 0) + 1
            return None
        return message[2]

    # One function per message keeps the version differences in one place.
    async def boot(self) -> None:
        if self.plan.version == "1.6":
            payload: dict[str, Any] = {
                "chargePointVendor": "Plugboard",
                "chargePointModel": "LoadBench",
            }
        else:
            payload = {
                "chargingStation": {"vendorName": "Plugboard", "model": "LoadBench"},
                "reason": "PowerUp",
            }
        await self.call("BootNotification", payload)

    async def status(self, status: str) -> None:
        if self.plan.version == "1.6":
            payload = {"connectorId": 1, "errorCode": "NoError", "status": status}
            payload["timestamp"] = now_iso()
        else:
            mapped = "Available" if status == "Available" else "Occupied"
            payload = {
                "timestamp": now_iso(),
                "connectorStatus": mapped,
                "evseId": 1,
                "connectorId": 1,
            }
        await self.call("StatusNotification", payload)

    async def start(self) -> None:
        if self.plan.version == "1.6":
            answer = await self.call(
                "StartTransaction",
                {
                    "connectorId": 1,
                    "idTag": self.tag,
                    "meterStart": self.register_wh,
                    "timestamp": now_iso(),
                },
            )
            self.tx_id = answer["transactionId"] if answer else None
        else:
            self.tx_id = f"bench-{self.cp_id}-{self.rng.getrandbits(48):012x}"
            self.tx_seq = 0
            await self.call(
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": now_iso(),
                    "triggerReason": "Authorized",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": self.tx_id, "chargingState": "Charging"},
                    "idToken": {"idToken": self.tag, "type": "ISO14443"},
                    "evse": {"id": 1, "connectorId": 1},
                    "meterValue": sampled_201(self.register_wh, 1, "Transaction.Begin"),
                },
            )

    async def meter_values(self) -> None:
        self.register_wh += self.rng.randint(50, 200)
        samples = self.plan.samples
        if self.plan.version == "1.6":
            payload: dict[str, Any] = {
                "connectorId": 1,
                "meterValue": sampled_16(self.register_wh, samples, "Sample.Periodic"),
            }
            if self.tx_id is not None:
                payload["transactionId"] = self.tx_id
            await self.call("MeterValues", payload)
        elif self.tx_id is not None:
            self.tx_seq += 1
            await self.call(
                "TransactionEvent",
                {
                    "eventType": "Updated",
                    "timestamp": now_iso(),
                    "triggerReason": "MeterValuePeriodic",
                    "seqNo": self.tx_seq,
                    "transactionInfo": {"transactionId": self.tx_id, "chargingState": "Charging"},
                    "meterValue": sampled_201(self.register_wh, samples, "Sample.Periodic"),
                },
                label="MeterValues",
            )
        else:
            await self.call(
                "MeterValues",
                {
                    "evseId": 1,
                    "meterValue": sampled_201(self.register_wh, samples, "Sample.Periodic"),
                },
            )

    async def stop(self) -> None:
        if self.tx_id is None:
            return
        if self.plan.version == "1.6":
            await self.call(
                "StopTransaction",
                {
                    "transactionId": self.tx_id,
                    "meterStop": self.register_wh,
                    "timestamp": now_iso(),
                    "reason": "Local",
                },
            )
        else:
            self.tx_seq += 1
            await self.call(
                "TransactionEvent",
                {
                    "eventType": "Ended",
                    "timestamp": now_iso(),
                    "triggerReason": "StopAuthorized",
                    "seqNo": self.tx_seq,
                    "transactionInfo": {
                        "transactionId": self.tx_id,
                        "stoppedReason": "Local",
                    },
                    "meterValue": sampled_201(self.register_wh, 1, "Transaction.End"),
                },
            )
        self.tx_id = None

    async def run(self) -> None:
        import websockets
        from websockets.asyncio.client import connect

        plan = self.plan
        await asyncio.sleep(max(0.0, plan.t0 + self.index / plan.ramp_per_s - time.time()))
        headers = {}
        if plan.password:
            import base64

            token = base64.b64encode(f"{self.cp_id}:{plan.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        started = time.time()
        try:
            async with connect(
                f"{plan.urls[self.index % len(plan.urls)]}/ocpp/{self.cp_id}",
                subprotocols=[plan.subprotocol],  # type: ignore[list-item]
                additional_headers=headers,
                proxy=None,
                compression=None,
                ping_interval=None,
                open_timeout=60,
                close_timeout=5,
                max_size=65536,
                max_queue=4,
            ) as ws:
                self.ws = ws
                await self.boot()
                self.stats.connect_ms.append((time.time() - started) * 1000)
                self.stats.connected += 1
                await self.status("Available")
                if plan.transactions:
                    await self.status("Charging")
                    await self.start()
                await self.steady()
                # Stops come after the window, so they do not count as steady load.
                await asyncio.sleep(max(0.0, plan.window_end - time.time()))
                with contextlib.suppress(Exception):
                    await self.stop()
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            if self.ws is None:
                self.stats.connect_failed += 1
            else:
                self.stats.dropped += 1
            key = type(exc).__name__
            self.stats.errors[key] = self.stats.errors.get(key, 0) + 1

    async def steady(self) -> None:
        plan = self.plan
        now = time.time()
        # A random phase per charger: chargers are not synchronised in the field either.
        next_hb = now + self.rng.uniform(0, plan.heartbeat_s)
        next_mv = now + self.rng.uniform(0, plan.meter_interval_s)
        while time.time() < plan.window_end:
            due = min(next_hb, next_mv)
            if due >= plan.window_end:
                return
            await asyncio.sleep(max(0.0, due - time.time()))
            if next_mv <= next_hb:
                await self.meter_values()
                next_mv += plan.meter_interval_s
            else:
                await self.call("Heartbeat", {})
                next_hb += plan.heartbeat_s
            # A server slower than the offered rate: skip the slots we missed rather
            # than catch up in a burst (a real charger samples at its own clock).
            now = time.time()
            for name in ("next_mv", "next_hb"):
                slot = next_mv if name == "next_mv" else next_hb
                interval = plan.meter_interval_s if name == "next_mv" else plan.heartbeat_s
                if slot < now:
                    missed = int((now - slot) // interval) + 1
                    self.stats.missed_slots += missed
                    slot += missed * interval
                    if name == "next_mv":
                        next_mv = slot
                    else:
                        next_hb = slot


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker(ids: list[tuple[int, str]], plan: Plan, seed: int, out: Any) -> None:
    """One client process: its share of the chargers in one event loop."""
    raise_fd_limit()
    stats = Stats()
    rng = random.Random(seed)  # noqa: S311 (jitter, not security)

    async def main() -> None:
        chargers = [Charger(cp, i, plan, stats, random.Random(rng.random())) for i, cp in ids]  # noqa: S311
        await asyncio.gather(*(c.run() for c in chargers))

    try:
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


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def comm_cpu_s(names: list[str]) -> dict[str, float]:
    """CPU seconds per command name (e.g. postgres, redis-server), over all its processes."""
    totals = dict.fromkeys(names, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if comm in totals:
                totals[comm] += proc_cpu_s(int(entry.name))
        except OSError:  # the process ended meanwhile
            continue
    return totals


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
    from apps.access.models import AccessPolicy, IdToken
    from apps.chargers.models import Charger, Connector
    from apps.sites.models import Organization, Property, Zone

    org, _ = Organization.objects.get_or_create(
        slug="load-bench", defaults={"name": "Load benchmark"}
    )
    prop, _ = Property.objects.get_or_create(
        organization=org,
        name="Benchmark depot",
        defaults={"city": "Loopback", "country": "US", "time_zone": "UTC", "grid_limit_w": 10**9},
    )
    zone, _ = Zone.objects.get_or_create(
        property=prop, name="Benchmark zone", defaults={"kind": Zone.Kind.PUBLIC}
    )
    AccessPolicy.objects.get_or_create(zone=zone, admits=AccessPolicy.Admits.PUBLIC)
    ids = [f"{args.prefix}{n:05d}" for n in range(1, args.count + 1)]
    IdToken.objects.bulk_create(
        [IdToken(organization=org, uid=bench_tag(n)) for n in range(1, args.count + 1)],
        ignore_conflicts=True,
        batch_size=1000,
    )
    Charger.objects.bulk_create(
        [Charger(charge_point_id=cp, zone=zone, max_power_w=7_400, phases=1) for cp in ids],
        ignore_conflicts=True,
        batch_size=1000,
    )
    chargers = Charger.objects.filter(charge_point_id__in=ids).values_list("pk", flat=True)
    Connector.objects.bulk_create(
        [Connector(charger_id=pk, connector_id=1) for pk in chargers],
        ignore_conflicts=True,
        batch_size=1000,
    )
    print(f"{len(ids)} chargers {ids[0]}..{ids[-1]} registered, with tags {bench_tag(1)}...")


def cmd_run(args: argparse.Namespace) -> None:
    for url in args.url:
        if (urlparse(url).hostname or "") not in LOOPBACK:
            raise SystemExit(f"refusing {url}: this benchmark only loads a loopback server")
    if not 1 <= args.count <= MAX_COUNT:
        raise SystemExit(f"--count must be 1..{MAX_COUNT}")
    if not 1 <= args.duration <= MAX_DURATION_S:
        raise SystemExit(f"--duration must be 1..{MAX_DURATION_S} s")
    if args.ramp <= 0 or args.heartbeat <= 0 or args.meter_interval <= 0:
        raise SystemExit("--ramp, --heartbeat and --meter-interval must be positive")
    processes = max(1, min(args.processes, 8, args.count))
    ramp_s = args.count / args.ramp
    t0 = time.time() + 1.0
    window_start = t0 + ramp_s + args.settle
    window_end = window_start + args.duration
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
        window_start=window_start,
        window_end=window_end,
        password=args.password,
    )
    ids = [(i, f"{args.prefix}{i + 1:05d}") for i in range(args.count)]
    servers = args.server_pid or []
    rss0 = sum(proc_rss_kib(pid) for pid in servers)
    print(f"load average before the run: {Path('/proc/loadavg').read_text().split()[:3]}")
    print(
        f"{args.count} chargers (OCPP {args.ocpp}) in {processes} client process(es), "
        f"ramp {args.ramp}/s ({ramp_s:.0f} s), heartbeat {args.heartbeat:g} s, MeterValues "
        f"every {args.meter_interval:g} s ({args.samples} sampled values), measuring "
        f"{args.duration:g} s after {args.settle:g} s settle",
        flush=True,
    )
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=worker, args=(ids[p::processes], plan, args.seed + p, queue))
        for p in range(processes)
    ]
    for w in workers:
        w.start()

    time.sleep(max(0.0, t0 - time.time()))
    ramp_cpu0 = sum(proc_cpu_s(pid) for pid in servers)
    ramp_busy0, _ = machine_busy_s()
    time.sleep(max(0.0, window_start - time.time()))
    cpu0 = sum(proc_cpu_s(pid) for pid in servers)
    ramp_busy1, _ = machine_busy_s()
    rss1 = sum(proc_rss_kib(pid) for pid in servers)
    busy0, total0 = machine_busy_s()
    others0 = comm_cpu_s(args.watch)
    time.sleep(max(0.0, window_end - time.time()))
    cpu1 = sum(proc_cpu_s(pid) for pid in servers)
    busy1, total1 = machine_busy_s()
    others1 = comm_cpu_s(args.watch)
    window = window_end - window_start

    stats = Stats()
    # Workers end when their chargers have stopped their transactions; bounded.
    deadline = time.time() + RESPONSE_TIMEOUT_S + 60
    try:
        for _ in workers:
            stats.merge(queue.get(timeout=max(1.0, deadline - time.time())))
    finally:
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()

    completed = sum(stats.completed_in_window.values())
    everything = [v for values in stats.latencies_ms.values() for v in values]
    print(
        f"connections held       {stats.connected} of {args.count}"
        f" (failed {stats.connect_failed}, dropped {stats.dropped})"
    )
    print(
        f"connect+boot ms        p50 {percentile(stats.connect_ms, 50):.1f}  "
        f"p99 {percentile(stats.connect_ms, 99):.1f}  max {max(stats.connect_ms, default=0):.1f}"
    )
    print(
        f"messages/s (window)    {completed / window:.1f}"
        f"  ({completed} calls answered in {window:.0f} s)"
    )
    for action, values in sorted(stats.latencies_ms.items()):
        print(
            f"  {action:<20} {len(values) / window:8.1f}/s  p50 {percentile(values, 50):7.2f} ms  "
            f"p95 {percentile(values, 95):7.2f} ms  p99 {percentile(values, 99):7.2f} ms  "
            f"max {max(values):8.2f} ms"
        )
    print(
        f"round trip, all        p50 {percentile(everything, 50):.2f} ms  "
        f"p95 {percentile(everything, 95):.2f} ms  p99 {percentile(everything, 99):.2f} ms"
    )
    print(
        f"CALLERRORs {stats.call_errors}, timeouts {stats.timeouts}, "
        f"skipped send slots {stats.missed_slots} (server slower than the offered rate)"
        + (f", errors {stats.errors}" if stats.errors else "")
    )
    print(
        f"machine CPU            {(busy1 - busy0) / window:.2f} cores busy of {os.cpu_count()}"
        f" (everything: server, database, Redis, this client)"
    )
    for name in args.watch:
        used = others1[name] - others0[name]
        print(
            f"{name + ' CPU':<22} {used / window:.2f} cores"
            f" ({used * 1000 / max(completed, 1):.2f} ms per answered call)"
        )
    print(f"client CPU             {stats.cpu_s:.1f} s in total over the whole run")
    ramp_window = window_start - t0
    print(
        f"during ramp+settle     machine {(ramp_busy1 - ramp_busy0) / ramp_window:.2f} cores busy"
        + (f", server {(cpu0 - ramp_cpu0) / ramp_window:.2f} cores" if servers else "")
    )
    if servers:
        print(
            f"server CPU (pids {','.join(map(str, servers))})  {(cpu1 - cpu0) / window:.2f} cores"
            f" ({(cpu1 - cpu0) * 1000 / max(completed, 1):.2f} ms per answered call)"
        )
        if stats.connected:
            per = (rss1 - rss0) / stats.connected
            print(
                f"server memory          RSS {rss0 / 1024:.0f} MiB -> {rss1 / 1024:.0f} MiB:"
                f" {per:.1f} KiB per connection"
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
    run.add_argument("--duration", type=float, default=60.0, help="Measured seconds.")
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
    run.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "setup":
        cmd_setup(args)
    else:
        cmd_run(args)


if __name__ == "__main__":
    main()
