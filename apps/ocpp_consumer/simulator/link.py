"""What a station needs from its protocol adapter, shared by both OCPP versions."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

import websockets
from ocpp.exceptions import OCPPError

from apps.ocpp_consumer.simulator.station import CallRejected, Offline

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from apps.ocpp_consumer.simulator.station import ConnectorState, Station


class Link:
    """Mixed into an `ocpp` ChargePoint subclass: one instance per connection.

    Outgoing messages are methods (`boot`, `status`, ...); transaction messages
    are built by class methods, because the station queues them while offline
    and sends them on whichever connection comes next.
    """

    subprotocol: ClassVar[str]

    if TYPE_CHECKING:  # provided by the `ocpp` ChargePoint this is mixed into

        async def start(self) -> None: ...

        async def call(self, payload: Any, suppress: bool = True) -> Any: ...

        _connection: ClientConnection

    def __init__(self, station: Station, connection: ClientConnection) -> None:
        self.station = station
        super().__init__(  # type: ignore[call-arg]
            station.charge_point_id,
            connection,
            response_timeout=station.options.response_timeout_s,
        )

    async def send_call(self, payload: Any) -> Any:
        # The package's call() waits for the answer on a queue, not on the socket: a
        # connection lost in between would hold it (and the station's send lock)
        # for the whole response timeout. Race it against the socket closing.
        call = asyncio.ensure_future(self.call(payload, suppress=False))
        closed = asyncio.ensure_future(self._connection.wait_closed())
        try:
            await asyncio.wait({call, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not call.done():
            call.cancel()
            raise Offline("connection closed before the answer")
        try:
            return call.result()
        except websockets.ConnectionClosed as exc:
            raise Offline(str(exc)) from exc
        except OCPPError as exc:
            self.station.stats["call_errors"] += 1
            raise CallRejected(f"{type(payload).__name__}: {exc}") from exc

    # The version adapters implement these.
    @staticmethod
    def default_config(station: Station) -> dict[Any, str]:
        """The configuration keys (1.6) or (component, variable) pairs (2.0.1)."""
        raise NotImplementedError

    async def boot(self, reason: str) -> tuple[str, int]:
        raise NotImplementedError

    async def heartbeat(self) -> None:
        raise NotImplementedError

    async def status(self, c: ConnectorState) -> None:
        raise NotImplementedError

    async def authorize(self, id_tag: str) -> bool:
        raise NotImplementedError

    async def start_transaction(self, c: ConnectorState) -> bool:
        """Start `c`'s transaction; False when the central system refused the tag."""
        raise NotImplementedError

    @classmethod
    def meter_values_payload(cls, station: Station, c: ConnectorState, context: str) -> Any:
        raise NotImplementedError

    @classmethod
    def stop_payload(cls, station: Station, c: ConnectorState, reason: str) -> Any:
        raise NotImplementedError

    async def firmware_status(self, status: str, request_id: int | None) -> None:
        raise NotImplementedError

    async def upload_status(self, status: str, request_id: int | None) -> None:
        raise NotImplementedError


def readings(station: Station, c: ConnectorState) -> list[tuple[str, float, str, str | None]]:
    """(measurand, value, unit, phase) for one meter sample of connector `c`:
    the energy register, power, current and voltage per phase, and the SoC the
    vehicle reports (ISO 15118 / DC; many AC stations cannot know it)."""
    meter = c.meter
    phases: list[str | None] = [None] if station.spec.dc else [*("L1", "L2", "L3")[: meter.phases]]
    # Mains voltage wanders by a volt or two; the register is the meter's integer Wh.
    voltage = round(meter.voltage_v + station.rng.uniform(-2.0, 2.0), 1)
    current = round(meter.current_per_phase_a(), 2)
    values: list[tuple[str, float, str, str | None]] = [
        ("Energy.Active.Import.Register", float(meter.register_int_wh), "Wh", None),
        ("Power.Active.Import", round(meter.power_w, 1), "W", None),
    ]
    values += [("Current.Import", current, "A", p) for p in phases]
    values += [("Voltage", voltage, "V", f"{p}-N" if p else None) for p in phases]
    if c.vehicle is not None:
        values.append(("SoC", round(c.vehicle.soc_percent, 1), "Percent", None))
    return values
