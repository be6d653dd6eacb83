"""A simulated charging station, independent of the OCPP version it speaks.

`Station` holds what survives a reconnect (connectors, meters, vehicles, the
configuration, charging profiles, the offline queue) and runs:

- the connection loop: connect, BootNotification, StatusNotification per
  connector, heartbeats, reconnect with randomised exponential back-off;
- one scenario loop per connector: a vehicle arrives, the driver presents an id
  tag, the transaction starts, meter values flow while the battery fills along
  its charging curve, the transaction stops, the connector becomes Available.

The protocol adapters in `v16.py` / `v201.py` (subclasses of the `ocpp`
package's ChargePoint, one per connection) turn these steps into OCPP messages
and remote commands into calls of the methods here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from apps.ocpp_consumer.simulator.profiles import ProfileStore
from apps.ocpp_consumer.simulator.vehicle import Meter, Vehicle, charge

if TYPE_CHECKING:
    from apps.ocpp_consumer.simulator.link import Link

logger = logging.getLogger("plugboard.simulator")

# Vehicles that arrive at a simulated AC or DC connector:
# (name, battery kWh, max AC kW, max DC kW).
FLEET = [
    ("Tesla Model 3", 75.0, 11.5, 250.0),
    ("Chevrolet Bolt EV", 65.0, 11.5, 55.0),
    ("Hyundai Ioniq 5", 77.4, 10.9, 235.0),
    ("Nissan Leaf", 60.0, 6.6, 100.0),
    ("Volkswagen ID.4", 77.0, 11.0, 135.0),
    ("Ford E-Transit", 68.0, 11.3, 115.0),
    ("Kia EV6", 77.4, 10.9, 235.0),
]


class Offline(Exception):
    """The station has no usable connection right now."""


class CallRejected(Exception):
    """The central system answered a CALL with a CALLERROR."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def isotime(at: datetime | None = None) -> str:
    at = at or utcnow()
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StationSpec:
    """What a station is: its identity and its electrical rating."""

    charge_point_id: str
    connectors: int = 1
    max_power_w: float = 11_000.0
    phases: int = 3
    voltage_v: float = 230.0
    dc: bool = False
    vendor: str = "Plugboard"
    model: str = "Simulator"
    serial_number: str = ""
    firmware_version: str = "1.0.0"
    # Tags its drivers present; empty: the run's `SimOptions.id_tags`.
    id_tags: list[str] = field(default_factory=list)


@dataclass
class SimOptions:
    """How the simulation behaves (shared by all stations of a run)."""

    url: str = "ws://127.0.0.1:8000"
    ocpp: str = "1.6"
    password: str | None = None
    id_tags: list[str] = field(default_factory=lambda: ["SIM-TAG-0001"])
    meter_interval_s: float = 30.0
    # Simulated charging time runs this much faster than the clock (timestamps stay
    # real): with 60, a session that would take an hour completes in a minute.
    speed: float = 1.0
    # Seconds (simulated) between a vehicle leaving and the next one arriving.
    arrival_s: tuple[float, float] = (20.0, 300.0)
    # Vehicles arrive by themselves; off for command-driven runs (tests, remote start only).
    auto_sessions: bool = True
    tick_s: float = 1.0
    response_timeout_s: float = 30.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    offline_queue_max: int = 1000
    # Tags in a transaction anywhere in this run: a driver is at one charger at a time.
    tags_in_use: set[str] = field(default_factory=set)


@dataclass
class Reservation:
    reservation_id: int
    id_tag: str
    expires_at: datetime


@dataclass
class ConnectorState:
    connector_id: int
    meter: Meter
    status: str = "Available"  # the 1.6 vocabulary; v201.py maps it
    error_code: str = "NoError"
    operative: bool = True
    inoperative_pending: bool = False
    vehicle: Vehicle | None = None
    id_tag: str | None = None
    transaction_id: str | None = None
    tx_started_at: datetime | None = None
    tx_meter_start_wh: int = 0
    seq_no: int = 0  # 2.0.1 TransactionEvent sequence number
    remote_start_id: int | None = None
    reservation: Reservation | None = None
    remote_tag: str | None = None  # a RemoteStart waiting for the scenario loop
    stop_reason: str | None = None  # a stop requested by a command (1.6 Reason vocabulary)
    charging_state: str | None = None  # 2.0.1: the last chargingState reported
    offered_w: float = 0.0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def in_transaction(self) -> bool:
        return self.transaction_id is not None


class Station:
    """One simulated charging station (see the module docstring)."""

    def __init__(
        self,
        spec: StationSpec,
        options: SimOptions,
        *,
        rng: random.Random,
        link_class: type[Link],
    ) -> None:
        self.spec = spec
        self.options = options
        self.rng = rng
        self.link_class = link_class
        self.subprotocol = link_class.subprotocol
        self.password = options.password
        self.firmware_version = spec.firmware_version
        # A DC station meters one DC circuit at the battery's voltage.
        voltage, phases = (400.0, 1) if spec.dc else (spec.voltage_v, spec.phases)
        self.connectors = {
            n: ConnectorState(n, Meter(voltage_v=voltage, phases=phases))
            for n in range(1, spec.connectors + 1)
        }
        # Each connector's register starts somewhere plausible for a used station.
        for c in self.connectors.values():
            c.meter.register_wh = float(rng.randint(100_000, 5_000_000))
        self.profiles = ProfileStore()
        self.heartbeat_interval_s = 300.0
        self.meter_interval_s = options.meter_interval_s
        self.local_list_version = 0
        self.local_list: dict[str, dict[str, Any]] = {}
        self.config: dict[Any, str] = link_class.default_config(self)
        self.link: Link | None = None
        self.online = asyncio.Event()  # connected and accepted by BootNotification
        self.stopping = asyncio.Event()  # stop transactions, then close
        self.closed = asyncio.Event()  # the connection loop may end
        self.reconnect = asyncio.Event()  # drop the socket and connect again (Reset, reboot)
        self.boot_reason = "PowerUp"
        self.tx_queue: deque[Any] = deque()
        self._flush_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stats: dict[str, int] = {"connects": 0, "sessions": 0, "calls": 0, "call_errors": 0}

    # ----------------------------------------------------------------- running

    @property
    def charge_point_id(self) -> str:
        return self.spec.charge_point_id

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run `coro` in the background, keeping a reference (asyncio only holds weak ones)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run(self, *, duration_s: float | None = None) -> None:
        """Run until `stop()` is called or `duration_s` elapses, then wind down cleanly."""
        connection = asyncio.create_task(self._connection_loop())
        scenarios = [asyncio.create_task(self._connector_loop(c)) for c in self.connectors.values()]
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), duration_s)
        finally:
            self.stopping.set()
            for c in self.connectors.values():
                c.wake.set()
            # Connector loops stop their transactions and report Available while the
            # socket is still open; give them a bounded time to do so.
            _, pending = await asyncio.wait(scenarios, timeout=15)
            for task in pending:
                task.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush_tx(), 5)
            self.closed.set()
            self.reconnect.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(connection, 10)
            for task in list(self._tasks):
                task.cancel()

    def stop(self) -> None:
        self.stopping.set()
        for c in self.connectors.values():
            c.wake.set()

    def _auth_header(self) -> dict[str, str]:
        if not self.password:
            return {}
        raw = f"{self.charge_point_id}:{self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    async def _connection_loop(self) -> None:
        attempt = 0
        url = f"{self.options.url.rstrip('/')}/ocpp/{self.charge_point_id}"
        while not self.closed.is_set():
            self.reconnect.clear()
            try:
                async with connect(
                    url,
                    subprotocols=[self.subprotocol],  # type: ignore[list-item]
                    additional_headers=self._auth_header(),
                    proxy=None,  # loopback or a URL given on purpose: never an env proxy
                    open_timeout=10,
                    ping_interval=None,  # OCPP has its own Heartbeat
                    compression=None,
                ) as ws:
                    if ws.subprotocol != self.subprotocol:
                        logger.warning("%s: server chose no OCPP subprotocol", self.charge_point_id)
                        raise ConnectionError("subprotocol not accepted")
                    attempt = 0
                    self.stats["connects"] += 1
                    await self._session(ws)
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                logger.info("%s: connection failed or lost: %r", self.charge_point_id, exc)
            if self.closed.is_set():
                break
            # Randomised exponential back-off: a server restart must not be met by
            # every station at the same instant (OCPP 2.0.1 B04, RetryBackOff*).
            delay = min(self.options.backoff_cap_s, self.options.backoff_base_s * 2**attempt)
            delay *= self.rng.uniform(0.5, 1.5)
            attempt = min(attempt + 1, 16)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), delay)

    async def _session(self, ws: ClientConnection) -> None:
        link = self.link_class(self, ws)
        reader = asyncio.create_task(link.start())
        self.link = link
        beats: asyncio.Task[None] | None = None
        try:
            await self._boot(link, reader)
            self.online.set()
            for c in self.connectors.values():
                await self.send_status(c)
            self.spawn(self.flush_tx())
            beats = asyncio.create_task(self._heartbeats(link))
            reconnect = asyncio.create_task(self.reconnect.wait())
            await asyncio.wait([reader, reconnect], return_when=asyncio.FIRST_COMPLETED)
            reconnect.cancel()
        except (Offline, CallRejected) as exc:
            logger.info("%s: session ended: %r", self.charge_point_id, exc)
        finally:
            self.online.clear()
            self.link = None
            if beats:
                beats.cancel()
            reader.cancel()
            await ws.close()

    async def _boot(self, link: Link, reader: asyncio.Task[Any]) -> None:
        while True:
            if reader.done():
                raise Offline("connection closed during boot")
            status, interval = await link.boot(self.boot_reason)
            if interval > 0:
                self.heartbeat_interval_s = float(interval)
            if status == "Accepted":
                self.boot_reason = "PowerUp"
                return
            # Pending or Rejected: not allowed to do anything else; retry after the interval.
            logger.info("%s: boot %s, retry in %ss", self.charge_point_id, status, interval)
            wait = interval if interval > 0 else 30
            done, _ = await asyncio.wait([reader], timeout=wait)
            if done:
                raise Offline("connection closed while pending")

    async def _heartbeats(self, link: Link) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            try:
                await link.heartbeat()
            except (Offline, CallRejected, TimeoutError):
                logger.info("%s: heartbeat failed", self.charge_point_id)

    # -------------------------------------------------------------- messaging

    async def call(self, payload: Any) -> Any:
        """Send a CALL on the current connection; Offline when there is none."""
        link = self.link
        if link is None:
            raise Offline("not connected")
        self.stats["calls"] += 1
        return await link.send_call(payload)

    async def send_status(self, c: ConnectorState) -> None:
        if self.link is None or not self.online.is_set():
            return
        with contextlib.suppress(Offline, CallRejected, TimeoutError):
            await self.link.status(c)

    async def set_status(self, c: ConnectorState, status: str) -> None:
        if c.status == status:
            return
        c.status = status
        await self.send_status(c)

    async def send_tx(self, payload: Any) -> Any:
        """Queue a transaction message and send the queue in order: transaction
        messages survive a lost connection (OCPP 1.6 §4.7, 2.0.1 E12). Returns the
        answer to `payload` if it went out now, None if it waits for a connection."""
        if len(self.tx_queue) >= self.options.offline_queue_max:
            self.tx_queue.popleft()  # a real station drops the oldest meter values first
        self.tx_queue.append(payload)
        return await self._flush(payload)

    async def flush_tx(self) -> None:
        await self._flush(None)

    async def _flush(self, target: Any) -> Any:
        answer = None
        async with self._flush_lock:
            while self.tx_queue and self.online.is_set():
                head = self.tx_queue[0]
                try:
                    result = await self.call(head)
                except (Offline, TimeoutError):
                    return None  # kept for the next connection
                except CallRejected as exc:
                    logger.warning("%s: transaction message refused: %s", self.charge_point_id, exc)
                    result = None
                self.tx_queue.popleft()
                if head is target:
                    answer = result
        return answer

    def new_transaction_id(self) -> str:
        """A 2.0.1 transactionId: the station chooses it; a UUID drawn from the seeded
        generator is unique and reproducible."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # -------------------------------------------------------------- scenario

    async def _sleep(self, c: ConnectorState, seconds: float) -> None:
        """Sleep `seconds` of real time unless woken by a command or shutdown."""
        c.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(c.wake.wait(), max(0.0, seconds))

    def _new_vehicle(self) -> Vehicle:
        name, kwh, ac_kw, dc_kw = self.rng.choice(FLEET)
        max_kw = dc_kw if self.spec.dc else ac_kw
        return Vehicle(
            capacity_wh=kwh * 1000,
            soc=self.rng.uniform(0.15, 0.6),
            max_power_w=max_kw * 1000,
            target_soc=self.rng.choice([0.8, 0.9, 1.0]),
            name=name,
        )

    def _pick_tag(self, c: ConnectorState) -> str:
        if c.reservation is not None:
            return c.reservation.id_tag  # the driver who reserved arrives
        tags = self.spec.id_tags or self.options.id_tags
        free = [t for t in tags if t not in self.options.tags_in_use]
        return self.rng.choice(free or tags)

    def _expire_reservation(self, c: ConnectorState) -> bool:
        if c.reservation and c.reservation.expires_at <= utcnow():
            c.reservation = None
            return True
        return False

    async def _connector_loop(self, c: ConnectorState) -> None:
        first = True
        while not self.stopping.is_set():
            try:
                await self._one_session(c, first=first)
            except (Offline, CallRejected, TimeoutError) as exc:
                logger.info("%s#%s: %r", self.charge_point_id, c.connector_id, exc)
                await asyncio.sleep(self.options.tick_s)
            first = False

    async def _one_session(self, c: ConnectorState, *, first: bool) -> None:
        # Idle until a vehicle arrives, a remote start comes in, or shutdown.
        if self.options.auto_sessions:
            low, high = self.options.arrival_s
            # The first vehicles come soon, so a fresh demo shows sessions at once.
            wait = self.rng.uniform(1.0, 5.0) if first else self.rng.uniform(low, high)
            deadline = asyncio.get_running_loop().time() + wait / self.options.speed
        else:
            deadline = None
        while not self.stopping.is_set() and c.remote_tag is None:
            if self._expire_reservation(c):
                await self.set_status(c, "Available")
            now = asyncio.get_running_loop().time()
            if deadline is not None and now >= deadline and c.operative:
                break
            await self._sleep(c, min(self.options.tick_s * 5, (deadline or now + 5) - now))
        if self.stopping.is_set() or not c.operative:
            return
        if not await self._wait_online():
            return

        remote = c.remote_tag is not None
        tag = c.remote_tag or self._pick_tag(c)
        c.remote_tag = None
        c.vehicle = c.vehicle or self._new_vehicle()
        await self.set_status(c, "Preparing")
        if not remote or self.authorize_remote_starts:
            accepted = await self.link_required().authorize(tag)
            if not accepted:
                logger.info("%s#%s: tag %s refused", self.charge_point_id, c.connector_id, tag)
                c.vehicle = None
                await self._sleep(c, 3)
                await self.set_status(c, "Available")
                await self._sleep(c, 30 / self.options.speed)  # the driver gives up
                return
        c.id_tag = tag
        c.stop_reason = None
        self.options.tags_in_use.add(tag)
        started = await self.link_required().start_transaction(c)
        if c.reservation and c.reservation.id_tag == tag:
            c.reservation = None
        self.stats["sessions"] += 1
        if not started:
            # 1.6: the central system refused the tag in StartTransaction: stop at once.
            c.stop_reason = "DeAuthorized"
        await self._charge(c)
        await self._stop(c)

    async def _wait_online(self) -> bool:
        """Wait for a connection; False when the station is stopping meanwhile."""
        while not self.online.is_set():
            if self.stopping.is_set():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.online.wait(), self.options.tick_s * 5)
        return True

    @property
    def authorize_remote_starts(self) -> bool:
        """1.6 AuthorizeRemoteTxRequests / 2.0.1 AuthCtrlr.AuthorizeRemoteStart."""
        value = self.config.get("AuthorizeRemoteTxRequests") or self.config.get(
            ("AuthCtrlr", "AuthorizeRemoteStart"), "false"
        )
        return str(value).lower() == "true"

    def link_required(self) -> Link:
        if self.link is None:
            raise Offline("not connected")
        return self.link

    def offered_power_w(self, c: ConnectorState, now: datetime) -> float:
        """What the station lets this connector draw: its rating shared with the other
        active connectors, capped by charging profiles."""
        spec = self.spec
        active = [x for x in self.connectors.values() if x.in_transaction] or [c]
        offered = spec.max_power_w
        own = self.profiles.connector_limit_w(
            c.connector_id,
            now,
            tx_started_at=c.tx_started_at,
            transaction_id=c.transaction_id,
            voltage_v=spec.voltage_v,
            phases=spec.phases,
        )
        if own is not None:
            offered = min(offered, own)
        station = self.profiles.station_limit_w(now, voltage_v=spec.voltage_v, phases=spec.phases)
        if station is not None:
            offered = min(offered, station / len(active))
        # A multi-connector station shares one supply: its rating is for the station.
        offered = min(offered, spec.max_power_w / len(active))
        return max(0.0, offered)

    async def _charge(self, c: ConnectorState) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        last_sample = last
        full_since: float | None = None
        while c.stop_reason is None:
            await self._sleep(c, self.options.tick_s)
            now_mono = loop.time()
            c.offered_w = self.offered_power_w(c, utcnow())
            charge(
                c.vehicle,
                c.meter,
                offered_w=c.offered_w,
                seconds=(now_mono - last) * self.options.speed,
            )
            last = now_mono
            vehicle = c.vehicle
            if vehicle is not None and vehicle.full:
                await self.set_status(c, "SuspendedEV")
                full_since = full_since or now_mono
                # The driver comes back a little after the car is full and unplugs.
                if (now_mono - full_since) * self.options.speed >= 60:
                    c.stop_reason = "EVDisconnected"
            elif c.offered_w <= 0:
                await self.set_status(c, "SuspendedEVSE")
            else:
                await self.set_status(c, "Charging")
            if self.stopping.is_set() and c.stop_reason is None:
                c.stop_reason = "Local"
            if now_mono - last_sample >= self.meter_interval_s:
                last_sample = now_mono
                await self.send_tx(self.link_class.meter_values_payload(self, c, "Sample.Periodic"))

    async def _stop(self, c: ConnectorState) -> None:
        reason = c.stop_reason or "Local"
        await self.send_tx(self.link_class.stop_payload(self, c, reason))
        if c.transaction_id is not None:
            self.profiles.drop_transaction(c.transaction_id)
        c.transaction_id = None
        c.tx_started_at = None
        self.options.tags_in_use.discard(c.id_tag or "")
        c.id_tag = None
        c.stop_reason = None
        c.meter.power_w = 0.0
        if reason not in ("HardReset", "SoftReset", "ImmediateReset"):
            await self.set_status(c, "Finishing")
            await self._sleep(c, min(5.0, 20 / self.options.speed))
        c.vehicle = None
        if c.inoperative_pending:
            c.inoperative_pending = False
            c.operative = False
        await self.set_status(c, "Available" if c.operative else "Unavailable")

    # ------------------------------------------------------- command effects

    def connector(self, connector_id: int | None) -> ConnectorState | None:
        if connector_id is None:
            for c in self.connectors.values():
                if not c.in_transaction and c.operative and c.remote_tag is None:
                    return c
            return None
        return self.connectors.get(connector_id)

    def by_transaction(self, transaction_id: str) -> ConnectorState | None:
        for c in self.connectors.values():
            if c.transaction_id is not None and c.transaction_id == str(transaction_id):
                return c
        return None

    def request_start(self, c: ConnectorState, id_tag: str) -> bool:
        if c.in_transaction or not c.operative or c.remote_tag is not None:
            return False
        if c.reservation and c.reservation.id_tag != id_tag:
            return False
        c.remote_tag = id_tag
        c.wake.set()
        return True

    def request_stop(self, c: ConnectorState, reason: str) -> bool:
        if not c.in_transaction:
            return False
        c.stop_reason = reason
        c.wake.set()
        return True

    async def reset(self, reason: str, *, hard: bool) -> None:
        """Stop every transaction, then reboot: drop the socket and boot again."""
        for c in self.connectors.values():
            self.request_stop(c, reason)
        for _ in range(int(20 / self.options.tick_s)):
            if not any(c.in_transaction for c in self.connectors.values()):
                break
            await asyncio.sleep(self.options.tick_s)
        await self.flush_tx()
        self.boot_reason = "PowerUp" if hard else "ApplicationReset"
        self.reconnect.set()

    def set_availability(self, connector_id: int, operative: bool) -> str:
        """Returns Accepted, Scheduled or Rejected."""
        targets = (
            list(self.connectors.values())
            if connector_id == 0
            else [c for c in [self.connectors.get(connector_id)] if c is not None]
        )
        if not targets:
            return "Rejected"
        scheduled = False
        for c in targets:
            if operative:
                c.operative, c.inoperative_pending = True, False
            elif c.in_transaction:
                c.inoperative_pending = True
                scheduled = True
            else:
                c.operative = False
        return "Scheduled" if scheduled else "Accepted"

    async def report_availability(self) -> None:
        for c in self.connectors.values():
            if c.in_transaction:
                continue
            await self.set_status(c, "Available" if c.operative else "Unavailable")
            c.wake.set()

    def reserve(
        self, connector_id: int, reservation_id: int, id_tag: str, expires_at: datetime
    ) -> str:
        """Returns Accepted, Occupied, Unavailable, Faulted or Rejected (1.6 vocabulary)."""
        c = self.connectors.get(connector_id)
        if c is None:
            return "Rejected"
        if c.reservation and c.reservation.reservation_id != reservation_id:
            return "Occupied"
        if not c.operative:
            return "Unavailable"
        if c.in_transaction or c.vehicle is not None:
            return "Occupied"
        c.reservation = Reservation(reservation_id, id_tag, expires_at)
        return "Accepted"

    def cancel_reservation(self, reservation_id: int) -> ConnectorState | None:
        for c in self.connectors.values():
            if c.reservation and c.reservation.reservation_id == reservation_id:
                c.reservation = None
                return c
        return None

    async def update_firmware(
        self, location: str, retrieve_at: datetime | None, request_id: int | None
    ) -> None:
        """Download, install, reboot, reporting each step (1.6 §6.46, 2.0.1 L01)."""
        # Reaching the firmware server takes a moment, even when the retrieve date
        # has passed.
        wait = (retrieve_at - utcnow()).total_seconds() if retrieve_at is not None else 0.0
        await asyncio.sleep(min(max(wait, 0.5), 10.0))
        for status in ("Downloading", "Downloaded", "Installing"):
            await self.link_required().firmware_status(status, request_id)
            await asyncio.sleep(1.0)
        name = location.rstrip("/").rsplit("/", 1)[-1] or "update"
        self.firmware_version = name.removesuffix(".bin")[:50]
        await self.link_required().firmware_status("Installed", request_id)
        await self.reset("Reboot", hard=True)

    async def upload_diagnostics(
        self, request_id: int | None, location: str, file_name: str
    ) -> None:
        """Upload a small log to `location` by HTTP POST (multipart), reporting each
        step (1.6 §6.18 / §4.4, 2.0.1 N01). Only http(s) is spoken: another scheme
        (ftp) is reported as a failed upload, as a charger without it would."""
        link = self.link_required()
        failed = "UploadFailed" if self.options.ocpp == "1.6" else "UploadFailure"
        if urllib.parse.urlsplit(location).scheme not in ("http", "https"):
            logger.info("%s: cannot upload to %s (http(s) only)", self.charge_point_id, location)
            await asyncio.sleep(0.5)
            await link.upload_status(failed, request_id)
            return
        # Gathering the logs takes a moment on a real charger.
        await asyncio.sleep(0.5)
        await link.upload_status("Uploading", request_id)
        try:
            status = await asyncio.to_thread(
                _http_upload, location, file_name, self.diagnostics_log().encode()
            )
        except (OSError, ValueError) as exc:
            logger.info("%s: upload to %s failed: %s", self.charge_point_id, location, exc)
            status = 0
        self.stats["uploads"] = self.stats.get("uploads", 0) + 1
        await link.upload_status("Uploaded" if 200 <= status < 300 else failed, request_id)

    def diagnostics_log(self) -> str:
        """A plausible diagnostics log: identity, connectors, counters."""
        now = utcnow().isoformat()
        lines = [
            f"{now} INFO  diagnostics of {self.charge_point_id}",
            f"{now} INFO  firmware {self.firmware_version}, OCPP {self.options.ocpp}",
        ]
        for number, c in sorted(self.connectors.items()):
            lines.append(
                f"{now} INFO  connector {number}: {c.status}, "
                f"meter {c.meter.register_int_wh} Wh, in transaction: {c.in_transaction}"
            )
        lines += [f"{now} INFO  {name}: {value}" for name, value in sorted(self.stats.items())]
        return "\n".join(lines) + "\n"

    def apply_local_list(
        self, version: int, update_type: str, entries: list[dict[str, Any]]
    ) -> str:
        if update_type == "Full":
            self.local_list = {}
        elif version <= self.local_list_version:
            return "VersionMismatch"
        for entry in entries:
            tag = entry.get("id_tag") or (entry.get("id_token") or {}).get("id_token")
            info = entry.get("id_tag_info") or entry.get("id_token_info")
            if tag is None:
                continue
            if info is None:
                self.local_list.pop(tag, None)
            else:
                self.local_list[tag] = info
        self.local_list_version = version
        return "Accepted"

    def expiry(self, value: str) -> datetime:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return at if at.tzinfo else at.replace(tzinfo=UTC)


def _http_upload(location: str, file_name: str, content: bytes, timeout: float = 30) -> int:
    """POST `content` as a multipart form with one file field ("file"), like
    chargers that upload diagnostics over HTTP do; returns the HTTP status."""
    boundary = uuid.uuid4().hex
    safe_name = file_name.replace('"', "").replace("\r", "").replace("\n", "")
    body = b"".join(
        [
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'.encode(),
            b"Content-Type: text/plain\r\n\r\n",
            content,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked: http(s) only)
        location,
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
