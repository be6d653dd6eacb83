"""The physics of a simulated charge: a vehicle's battery and the station's meter.

Pure, synchronous and deterministic, so that it can be tested without a socket and
so that the simulated charge points (which only decide *when* to call it) stay thin.

The charging curve is the usual constant-power / tapering shape of lithium-ion
batteries: the vehicle accepts its full on-board-charger power up to about 80 %
state of charge, then the battery management system lowers the accepted power
roughly linearly towards a small trickle at 100 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Above this state of charge the battery accepts less and less power.
TAPER_START = 0.80
# Accepted power at 100 %, as a fraction of the vehicle's maximum: the trickle
# keeps the curve finite (a real BMS ends the charge a little below 100 %).
TAPER_FLOOR = 0.06
# Integration step: the accepted power changes with the state of charge, so a
# long interval is split in steps this long (seconds of simulated time).
MAX_STEP_S = 5.0
# AC charging loses a few percent between the meter and the cells.
CHARGE_EFFICIENCY = 0.92


@dataclass
class Vehicle:
    """A battery electric vehicle plugged into a connector."""

    capacity_wh: float
    soc: float  # state of charge, 0..1
    max_power_w: float  # what its on-board charger (or DC inlet) takes at most
    target_soc: float = 1.0  # the driver's limit: the charge ends here
    name: str = "EV"

    def __post_init__(self) -> None:
        if self.capacity_wh <= 0 or self.max_power_w <= 0:
            raise ValueError("capacity and power must be positive")
        self.soc = min(max(self.soc, 0.0), 1.0)
        self.target_soc = min(max(self.target_soc, self.soc), 1.0)

    @property
    def soc_percent(self) -> float:
        return self.soc * 100.0

    @property
    def full(self) -> bool:
        # A hair below the target counts: the trickle would take minutes for the last 0.1 %.
        return self.soc >= self.target_soc - 0.001

    def acceptance_w(self) -> float:
        """The power the battery accepts at its present state of charge."""
        if self.soc < TAPER_START:
            return self.max_power_w
        remaining = (1.0 - self.soc) / (1.0 - TAPER_START)  # 1 at 80 %, 0 at 100 %
        return self.max_power_w * max(TAPER_FLOOR, remaining)


@dataclass
class ChargeStep:
    """What happened during one simulated interval."""

    energy_wh: float  # measured at the station's meter
    power_w: float  # mean power over the interval
    seconds: float


@dataclass
class Meter:
    """The station's energy meter on one connector: a register that only grows."""

    register_wh: float = 0.0
    voltage_v: float = 230.0
    phases: int = 3
    power_w: float = 0.0  # the last interval's mean power

    @property
    def register_int_wh(self) -> int:
        # OCPP 1.6 meterStart/meterStop are integers in Wh; floor keeps them monotonic.
        return math.floor(self.register_wh)

    def current_per_phase_a(self) -> float:
        if self.power_w <= 0:
            return 0.0
        return self.power_w / (self.voltage_v * self.phases)

    def add(self, energy_wh: float, power_w: float) -> None:
        if energy_wh < 0:
            raise ValueError("an import register never decreases")
        self.register_wh += energy_wh
        self.power_w = power_w


def charge(
    vehicle: Vehicle | None, meter: Meter, *, offered_w: float, seconds: float
) -> ChargeStep:
    """Charge `vehicle` for `seconds` of simulated time with at most `offered_w` at the
    meter (the minimum of the station's rating and any charging profile's limit).

    Returns what the meter saw. The power drawn never exceeds `offered_w`, nor the
    vehicle's acceptance; it stops when the vehicle reaches its target.
    """
    if seconds <= 0:
        return ChargeStep(0.0, 0.0, 0.0)
    offered_w = max(0.0, offered_w)
    if vehicle is None or offered_w == 0.0 or vehicle.full:
        meter.add(0.0, 0.0)
        return ChargeStep(0.0, 0.0, seconds)
    energy_wh = 0.0
    elapsed = 0.0
    while elapsed < seconds and not vehicle.full:
        step = min(MAX_STEP_S, seconds - elapsed)
        power_w = min(offered_w, vehicle.acceptance_w())
        step_wh = power_w * step / 3600.0
        stored_wh = step_wh * CHARGE_EFFICIENCY
        room_wh = (vehicle.target_soc - vehicle.soc) * vehicle.capacity_wh
        if stored_wh > room_wh:  # the last step only partly used
            step_wh = room_wh / CHARGE_EFFICIENCY
            stored_wh = room_wh
        vehicle.soc = min(vehicle.target_soc, vehicle.soc + stored_wh / vehicle.capacity_wh)
        energy_wh += step_wh
        elapsed += step
    mean_power_w = energy_wh * 3600.0 / seconds
    meter.add(energy_wh, mean_power_w)
    return ChargeStep(energy_wh, mean_power_w, seconds)
