"""The simulated charger of bench/ocpp_load.py: frames, statistics, reconnect with back-off.

Kept apart from the command so that each file reads on its own. The charger is
deliberately thin: frames built by hand (the frequent ones from templates made once
per connection), answers matched by their message id without parsing when possible,
one timer per charger while it sleeps and a watchdog per process for unanswered
calls, the connection itself in bench/ocpp_load_ws.py.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from ocpp_load_ws import HandshakeRefused, open_socket

RESPONSE_TIMEOUT_S = 30.0
OPEN_TIMEOUT_S = 60.0
# daphne answers a handshake it did not finish within --websocket_connect_timeout
# (5 s by default) with the same 403 as a refusal: a 403 this late is that timeout.
HANDSHAKE_TIMEOUT_HINT_S = 4.5


def bench_tag(number: int) -> str:
    """Charger n's drivers' tag: one per charger, so no tag is in two sessions at once."""
    return f"BENCHTAG{number:05d}"


# --------------------------------------------------------------------- frames

_ts_second = -1
_ts_prefix = ""


def now_iso() -> str:
    """UTC timestamp with milliseconds; the date part is formatted once per second."""
    global _ts_second, _ts_prefix
    now = time.time()
    second = int(now)
    if second != _ts_second:
        _ts_second = second
        _ts_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_ts_prefix}.{int((now - second) * 1000):03d}Z"


def frame(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, message_id, action, payload], separators=(",", ":"))


def template(action: str, payload: dict[str, Any]) -> str:
    """A CALL as a %-format string. In the payload, "@name@" inside a string becomes
    that string's text and the string "#name#" becomes a bare (numeric) value; the
    message id is `id`. Rendering is then one `%` with a dict, not a json.dumps."""
    text = frame("@id@", action, payload).replace("%", "%%")
    while "@" in text or '"#' in text:
        if '"#' in text:
            name = text.split('"#', 1)[1].split('#"', 1)[0]
            text = text.replace(f'"#{name}#"', f"%({name})s")
        else:
            name = text.split("@", 2)[1]
            text = text.replace(f"@{name}@", f"%({name})s")
    return text


SAMPLES_16 = [
    {"value": "@reg@", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
    {"value": "7360", "measurand": "Power.Active.Import", "unit": "W"},
    {"value": "32.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
    {"value": "56.5", "measurand": "SoC", "unit": "Percent", "location": "EV"},
    {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
    {"value": "32.0", "measurand": "Current.Import", "unit": "A", "phase": "L2"},
    {"value": "32.0", "measurand": "Current.Import", "unit": "A", "phase": "L3"},
]


def sampled_16(samples: int, context: str) -> list[dict[str, Any]]:
    """One meterValue with "@reg@" and "@ts@" slots for the register and the time."""
    values = [dict(v, context=context) for v in SAMPLES_16[: max(1, samples)]]
    return [{"timestamp": "@ts@", "sampledValue": values}]


def sampled_201(samples: int, context: str) -> list[dict[str, Any]]:
    out = []
    for v in sampled_16(samples, context)[0]["sampledValue"]:
        value = "#reg#" if v["value"] == "@reg@" else float(v["value"])
        item: dict[str, Any] = {
            "value": value,
            "measurand": v["measurand"],
            "context": context,
            "unitOfMeasure": {"unit": v["unit"]},
        }
        for key in ("phase", "location"):
            if key in v:
                item[key] = v[key]
        out.append(item)
    return [{"timestamp": "@ts@", "sampledValue": out}]


def render(text: str, **slots: Any) -> str:
    return text % slots


# ---------------------------------------------------------------------- stats


@dataclass
class Stats:
    connected: int = 0  # successful boots (a charger that reconnects counts again)
    connect_failed: int = 0  # failed attempts (handshake or boot)
    dropped: int = 0  # connections lost after the boot
    call_errors: int = 0
    timeouts: int = 0  # calls unanswered after RESPONSE_TIMEOUT_S
    missed_slots: int = 0  # sends skipped because the previous answer came too late
    attempts: int = 0  # handshakes tried
    handshake_timeouts: int = 0  # client-side: no handshake answer in OPEN_TIMEOUT_S
    late_refusals: int = 0  # refusals after HANDSHAKE_TIMEOUT_HINT_S (daphne's timeout)
    refusals: dict[int, int] = field(default_factory=dict)  # HTTP status -> count
    completed_in_window: dict[str, int] = field(default_factory=dict)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    connect_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    held_events: list[tuple[float, int]] = field(default_factory=list)  # (time, +1/-1)
    per_charger: list[tuple[int, float]] = field(default_factory=list)  # attempts, first ok
    cpu_s: float = 0.0
    # How late this process's event loop woke up, sampled every LAG_SAMPLE_S in the
    # window: a late client inflates the round trips it measures.
    client_lag_ms: list[float] = field(default_factory=list)

    COUNTERS = (
        "connected",
        "connect_failed",
        "dropped",
        "call_errors",
        "timeouts",
        "missed_slots",
        "attempts",
        "handshake_timeouts",
        "late_refusals",
    )

    def merge(self, other: Stats) -> None:
        for name in self.COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in (
            (self.completed_in_window, other.completed_in_window),
            (self.errors, other.errors),
            (self.refusals, other.refusals),
        ):
            add_counts(mine, theirs)
        for action, values in other.latencies_ms.items():
            self.latencies_ms.setdefault(action, []).extend(values)
        self.connect_ms.extend(other.connect_ms)
        self.client_lag_ms.extend(other.client_lag_ms)
        self.held_events.extend(other.held_events)
        self.per_charger.extend(other.per_charger)
        self.cpu_s += other.cpu_s

    def error(self, key: str) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1


def add_counts(mine: dict[Any, int], theirs: dict[Any, int]) -> None:
    for key, n in theirs.items():
        mine[key] = mine.get(key, 0) + n


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
    # Shared with the parent (multiprocessing RawArray 'd'): [window start, window end],
    # 0 until the parent starts the window (after the ramp, settle and --wait-all).
    window: Any
    earliest_end: float  # the window cannot end before this (no --wait-all wait)
    held: Any  # RawArray 'i': connections held now, one slot per client process
    slot: int = 0
    password: str | None = None
    retry: bool = True
    retry_min_s: float = 10.0
    retry_random_s: float = 10.0
    retry_max_s: float = 120.0
    ping_interval_s: float | None = None

    def bounds(self) -> tuple[float, float]:
        start, end = self.window[0], self.window[1]
        return (start, end) if start else (math.inf, math.inf)

    def over(self) -> bool:
        return time.time() >= self.bounds()[1]

    def horizon(self, now: float) -> float:
        """How far a charger may sleep without missing the end of the window."""
        end = self.bounds()[1]
        return end if end < math.inf else max(self.earliest_end, now + 1.0)


class ConnectionLost(ConnectionError):
    """The server closed the connection while the charger was waiting."""


class Charger:
    def __init__(self, cp_id: str, index: int, plan: Plan, stats: Stats, rng: random.Random):
        self.cp_id, self.index, self.plan, self.stats, self.rng = cp_id, index, plan, stats, rng
        self.tag = bench_tag(index + 1)
        self.ws: Any = None
        self.seq = 0
        self.register_wh = rng.randint(10_000, 1_000_000)
        self.tx_id: Any = None
        self.tx_seq = 0
        self.mv_template = ""
        self.sleeper: asyncio.Future[None] | None = None
        self.attempts = 0
        self.waiting_since = 0.0  # when the unanswered call was sent, 0 if none
        self.first_held = math.nan  # seconds from its ramp slot to its first boot

    # --------------------------------------------------------------- timing

    def wake(self) -> None:
        if self.sleeper is not None and not self.sleeper.done():
            self.sleeper.set_result(None)

    async def pause(self, seconds: float) -> None:
        """Sleep; woken early when the connection is lost."""
        if seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        self.sleeper = loop.create_future()
        handle = loop.call_later(seconds, self.wake)
        try:
            await self.sleeper
        finally:
            handle.cancel()
            self.sleeper = None
        if self.ws is not None and self.ws.closed:
            raise ConnectionLost("connection lost")

    async def pause_until(self, target: float) -> None:
        """Sleep until target or the end of the window, whichever comes first."""
        while (now := time.time()) < target and not self.plan.over():
            await self.pause(min(target, self.plan.horizon(now)) - now)

    # ---------------------------------------------------------------- calls

    async def call(self, action: str, text: str, message_id: str, label: str) -> Any:
        """Send one CALL and wait for its answer; records latency inside the window.
        A plain CALLRESULT for our id is recognised without parsing it."""
        plan = self.plan
        sent = time.time()
        self.ws.send(text)
        expected = f'[3,"{message_id}",'
        self.waiting_since = sent  # the watchdog ends calls unanswered too long
        while True:
            raw = await self.ws.recv()
            if raw.startswith(expected):
                message: Any = None
                break
            message = json.loads(raw)
            if message[0] == 2:  # a command from the server: not part of this benchmark
                reply = [4, message[1], "NotImplemented", "benchmark client", {}]
                self.ws.send(json.dumps(reply))
                continue
            if message[1] == message_id:
                break
        self.waiting_since = 0.0
        done = time.time()
        start, end = plan.bounds()
        if start <= sent and done <= end:
            self.stats.latencies_ms.setdefault(label, []).append((done - sent) * 1000)
            self.stats.completed_in_window[label] = self.stats.completed_in_window.get(label, 0) + 1
        if message is None:
            return raw
        if message[0] == 4:
            self.stats.call_errors += 1
            self.stats.error(f"{action}: {message[2]}")
            return None
        return message[2]

    def next_id(self) -> str:
        self.seq += 1
        return f"{self.index}-{self.seq}"

    async def send(self, action: str, payload: dict[str, Any]) -> Any:
        """A rare CALL (boot, status, start, stop): built with json.dumps, answer parsed."""
        message_id = self.next_id()
        answer = await self.call(action, frame(message_id, action, payload), message_id, action)
        return json.loads(answer)[2] if isinstance(answer, str) else answer

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
        await self.send("BootNotification", payload)

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
        await self.send("StatusNotification", payload)

    def meter(self, samples: int, context: str) -> list[dict[str, Any]]:
        """A rare message's meter value: the template's slots filled in at once."""
        version = sampled_16 if self.plan.version == "1.6" else sampled_201
        text = json.dumps(version(samples, context)).replace('"#reg#"', str(self.register_wh))
        return json.loads(text.replace("@reg@", str(self.register_wh)).replace("@ts@", now_iso()))

    async def start(self) -> None:
        if self.plan.version == "1.6":
            answer = await self.send(
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
            await self.send(
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": now_iso(),
                    "triggerReason": "Authorized",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": self.tx_id, "chargingState": "Charging"},
                    "idToken": {"idToken": self.tag, "type": "ISO14443"},
                    "evse": {"id": 1, "connectorId": 1},
                    "meterValue": self.meter(1, "Transaction.Begin"),
                },
            )

    def build_meter_template(self) -> None:
        """The MeterValues frame of this connection, made once (it depends on the
        transaction); each send then fills in id, time, register (and 2.0.1 seqNo)."""
        samples = self.plan.samples
        if self.plan.version == "1.6":
            payload: dict[str, Any] = {
                "connectorId": 1,
                "meterValue": sampled_16(samples, "Sample.Periodic"),
            }
            if self.tx_id is not None:
                payload["transactionId"] = self.tx_id
            self.mv_template = template("MeterValues", payload)
        elif self.tx_id is not None:
            payload = {
                "eventType": "Updated",
                "timestamp": "@ts@",
                "triggerReason": "MeterValuePeriodic",
                "seqNo": "#seq#",
                "transactionInfo": {"transactionId": self.tx_id, "chargingState": "Charging"},
                "meterValue": sampled_201(samples, "Sample.Periodic"),
            }
            self.mv_template = template("TransactionEvent", payload)
        else:
            payload = {"evseId": 1, "meterValue": sampled_201(samples, "Sample.Periodic")}
            self.mv_template = template("MeterValues", payload)

    async def meter_values(self) -> None:
        self.register_wh += self.rng.randint(50, 200)
        self.tx_seq += 1
        message_id = self.next_id()
        text = self.mv_template % {
            "id": message_id,
            "ts": now_iso(),
            "reg": self.register_wh,
            "seq": self.tx_seq,
        }
        await self.call("MeterValues", text, message_id, "MeterValues")

    async def heartbeat(self) -> None:
        message_id = self.next_id()
        await self.call(
            "Heartbeat", f'[2,"{message_id}","Heartbeat",{{}}]', message_id, "Heartbeat"
        )

    async def stop(self) -> None:
        if self.tx_id is None:
            return
        if self.plan.version == "1.6":
            await self.send(
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
            await self.send(
                "TransactionEvent",
                {
                    "eventType": "Ended",
                    "timestamp": now_iso(),
                    "triggerReason": "StopAuthorized",
                    "seqNo": self.tx_seq,
                    "transactionInfo": {"transactionId": self.tx_id, "stoppedReason": "Local"},
                    "meterValue": self.meter(1, "Transaction.End"),
                },
            )
        self.tx_id = None

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Connect at this charger's ramp slot; on a failed handshake or a lost
        connection wait retry_min + random(0..retry_random), doubling the minimum
        after each failure up to retry_max (OCPP 2.0.1 RetryBackOff*), and start over."""
        plan = self.plan
        slot = plan.t0 + self.index / plan.ramp_per_s
        await asyncio.sleep(max(0.0, slot - time.time()))
        backoff = plan.retry_min_s
        try:
            while not plan.over():
                outcome = await self.connection()
                if outcome == "done" or not plan.retry:
                    return
                if outcome == "dropped":
                    backoff = plan.retry_min_s  # it had been held: start the back-off over
                wait = min(backoff, plan.retry_max_s) + self.rng.uniform(0, plan.retry_random_s)
                backoff = min(backoff * 2, plan.retry_max_s)
                await self.pause_until(time.time() + wait)
        finally:
            first = self.first_held - slot if self.first_held == self.first_held else math.nan
            self.stats.per_charger.append((self.attempts, first))

    async def connection(self) -> str:
        """One connection: "done" (the window ended), "failed" (never booted) or "dropped"."""
        plan = self.plan
        headers = {}
        if plan.password:
            token = base64.b64encode(f"{self.cp_id}:{plan.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        self.attempts += 1
        self.stats.attempts += 1
        started = time.time()
        held = False
        self.ws = None
        try:
            self.ws = ws = await open_socket(
                f"{plan.urls[self.index % len(plan.urls)]}/ocpp/{self.cp_id}",
                plan.subprotocol,
                headers,
                OPEN_TIMEOUT_S,
                on_lost=self.wake,  # a lost connection wakes the charger at once
            )
            if plan.ping_interval_s:
                ws.start_pings(plan.ping_interval_s)
            await self.boot()
            held = True
            now = time.time()
            if self.first_held != self.first_held:
                self.first_held = now
            self.stats.connect_ms.append((now - started) * 1000)
            self.stats.connected += 1
            self.mark_held(now, +1)
            await self.status("Available")
            if plan.transactions:
                await self.status("Charging")
                await self.start()
            self.build_meter_template()
            await self.steady()
            # Stops come after the window, so they do not count as steady load.
            await self.pause(plan.bounds()[1] - time.time())
            await self.stop()
            return "done"
        except (OSError, TimeoutError) as exc:
            self.failure(exc, held, time.time() - started)
            return "dropped" if held else "failed"
        finally:
            if self.ws is not None:
                self.ws.close()
            self.ws = None
            if held:
                self.mark_held(time.time(), -1)

    def mark_held(self, now: float, delta: int) -> None:
        self.plan.held[self.plan.slot] += delta
        self.stats.held_events.append((now, delta))

    def failure(self, exc: BaseException, held: bool, elapsed: float) -> None:
        stats = self.stats
        if self.plan.over() and held:
            return  # closed at the end of the run (the server went first): not a drop
        if held:
            stats.dropped += 1
        else:
            stats.connect_failed += 1
            if isinstance(exc, HandshakeRefused):
                status = exc.status
                stats.refusals[status] = stats.refusals.get(status, 0) + 1
                stats.late_refusals += elapsed >= HANDSHAKE_TIMEOUT_HINT_S
            elif isinstance(exc, TimeoutError) and self.ws is None:
                stats.handshake_timeouts += 1
        if isinstance(exc, TimeoutError) and self.ws is not None:
            stats.timeouts += 1  # a call unanswered in RESPONSE_TIMEOUT_S (see watchdog)
        stats.error(type(exc).__name__)

    async def steady(self) -> None:
        plan = self.plan
        now = time.time()
        # A random phase per charger: chargers are not synchronised in the field either.
        next_hb = now + self.rng.uniform(0, plan.heartbeat_s)
        next_mv = now + self.rng.uniform(0, plan.meter_interval_s)
        while True:
            due = min(next_hb, next_mv)
            now = time.time()
            if due >= plan.bounds()[1]:
                return
            horizon = plan.horizon(now)
            if due > horizon:  # the window's end is not known yet: look again then
                await self.pause(horizon - now)
                continue
            await self.pause(due - now)
            if next_mv <= next_hb:
                await self.meter_values()
                next_mv += plan.meter_interval_s
            else:
                await self.heartbeat()
                next_hb += plan.heartbeat_s
            # A server slower than the offered rate: skip the slots we missed rather
            # than catch up in a burst (a real charger samples at its own clock).
            now = time.time()
            if next_mv < now:
                missed = int((now - next_mv) // plan.meter_interval_s) + 1
                self.stats.missed_slots += missed
                next_mv += missed * plan.meter_interval_s
            if next_hb < now:
                missed = int((now - next_hb) // plan.heartbeat_s) + 1
                self.stats.missed_slots += missed
                next_hb += missed * plan.heartbeat_s


LAG_SAMPLE_S = 0.05
CLIENT_FREEZE_S = 10.0


async def loop_monitor(plan: Plan, stats: Stats) -> None:
    """Sample how late this client's event loop runs (in the window), and keep the
    client's own full garbage collections short: with 5,000 chargers per process
    they stop it for a large part of a second, which the round trips would count
    against the server. Freezing every CLIENT_FREEZE_S, as the server does
    (apps/ocpp_consumer/heap.py); a benchmark process ends before the cycles of
    dropped connections that stay frozen matter."""
    frozen_at = time.monotonic()
    while True:
        before = time.monotonic()
        await asyncio.sleep(LAG_SAMPLE_S)
        now = time.monotonic()
        start, end = plan.bounds()
        if start <= time.time() < end:
            stats.client_lag_ms.append((now - before - LAG_SAMPLE_S) * 1000)
        if now - frozen_at >= CLIENT_FREEZE_S:
            frozen_at = now
            gc.collect()
            gc.freeze()


async def watchdog(chargers: list[Charger]) -> None:
    """Once a second, end the connection of any charger whose call has waited more than
    RESPONSE_TIMEOUT_S (it reconnects). One scan instead of a timer per call: a timer
    per call cost more than the rest of the call's client-side work."""
    while True:
        await asyncio.sleep(1.0)
        limit = time.time() - RESPONSE_TIMEOUT_S
        for charger in chargers:
            if 0 < charger.waiting_since < limit and charger.ws is not None:
                charger.waiting_since = 0.0
                charger.ws.fail(TimeoutError("no answer in time"))
