"""Run many simulated stations in one event loop, and stop them cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Iterable

from apps.ocpp_consumer.simulator.station import SimOptions, Station, StationSpec

logger = logging.getLogger("plugboard.simulator")


def link_class_for(version: str) -> type:
    if version == "1.6":
        from apps.ocpp_consumer.simulator.v16 import V16Link

        return V16Link
    if version in ("2.0.1", "2.0"):
        from apps.ocpp_consumer.simulator.v201 import V201Link

        return V201Link
    raise ValueError(f"unsupported OCPP version {version!r} (1.6 or 2.0.1)")


def default_ids(count: int) -> list[str]:
    return [f"CP-SIM-{n:04d}" for n in range(1, count + 1)]


def build_stations(
    specs: Iterable[StationSpec], options: SimOptions, *, seed: int
) -> list[Station]:
    """One Station per spec. Each gets its own random generator seeded from the run's
    seed and its id: the same seed replays the same vehicles, tags and delays, and
    adding a station does not change what the others do."""
    link_class = link_class_for(options.ocpp)
    return [
        Station(
            spec,
            options,
            rng=random.Random(f"{seed}:{spec.charge_point_id}"),  # noqa: S311 (simulation, not security)
            link_class=link_class,
        )
        for spec in specs
    ]


async def run_stations(
    stations: list[Station], *, duration_s: float | None = None, handle_signals: bool = True
) -> None:
    """Run until `duration_s` passes or SIGINT/SIGTERM; a second signal stops at once."""
    loop = asyncio.get_running_loop()
    runners = [asyncio.create_task(s.run(duration_s=duration_s)) for s in stations]
    interrupted = 0

    def on_signal() -> None:
        nonlocal interrupted
        interrupted += 1
        if interrupted == 1:
            logger.warning("stopping: ending transactions (signal again to quit at once)")
            for s in stations:
                s.stop()
        else:
            for task in runners:
                task.cancel()

    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
    try:
        await asyncio.gather(*runners, return_exceptions=True)
    finally:
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
