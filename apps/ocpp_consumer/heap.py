"""Short garbage collections in a server process that holds thousands of chargers.

Every connected charger keeps a few hundred Python objects alive for as long as
it stays connected (its consumer and handler, daphne's and autobahn's protocol
objects, buffers). CPython's full collection walks all of them, and while it
does the event loop stands still: with 5,000 chargers in a process that was
1.1-1.4 million objects and 0.8-1.2 s per full collection, a few times a
minute, and it was the whole p99 of the round trip (docs/benchmarks.md).

The keeper moves what has survived into the collector's permanent generation
(`gc.freeze()`) every `OCPP_GC_FREEZE_INTERVAL_S`, after a collection that by
then only has to walk what is younger than the interval. Frozen objects are
still freed by reference counting; only garbage *cycles* among them are not,
and every connection that ends (a charger that disconnects, a handshake refused
or shed) leaves its cycles behind. So once enough connections have ended since
the last time, or an hour has passed (`reclaim_due`), the keeper unfreezes
everything and collects it all once: one long pause per wave of disconnections
or per hour, instead of one every few seconds with the fleet connected.

Between ticks the collector's own young-generation collections still run,
each time more tracked objects have been made than have died since the last one
(700 by default). Under a MeterValues load that was ~30 a second per process,
with a collection of the middle generation every tenth: together ~8 % of the
server's CPU (docs/benchmarks.md, sixth session), to find garbage that the next
tick collects anyway. So while it runs, the keeper raises that threshold to
`OCPP_GC_YOUNG_THRESHOLD` (its previous value comes back with `stop()`): the
young objects of a message are nearly all freed by reference counting first.

One keeper per process (`keeper`), started by the first consumer on the server's
event loop and run only there, so plain counters suffice. It never asks
`gc.get_freeze_count()`: that walks the whole frozen list, ~50 ms for a million
objects (measured with py-spy on a server holding 5,000 chargers).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass

from django.conf import settings

log = logging.getLogger(__name__)

DEFAULT_FREEZE_INTERVAL_S = 5.0
# The young generation's threshold while the keeper runs (CPython's is 700).
DEFAULT_YOUNG_THRESHOLD = 20_000
# A full reclaim is due once this many connections have ended (disconnected,
# refused or shed) since the last one, or this fraction of the chargers connected,
# whichever is more: the garbage left frozen stays a fraction of what the fleet
# holds anyway, and a reconnect wave costs one reclaim, not one per charger.
RECLAIM_MIN_DISCONNECTS = 200
RECLAIM_FRACTION = 0.25
# And at least this often whatever happened: cycles that lived longer than the
# interval before becoming garbage (a command that timed out, a failed call) were
# frozen too.
RECLAIM_MAX_AGE_S = 3600.0
# Collections that stop the loop longer than this are logged as warnings.
SLOW_COLLECTION_S = 0.1


def reclaim_due(*, disconnects: int, connected: int, age_s: float) -> bool:
    """Whether the garbage left frozen since the last reclaim, `age_s` ago, is worth
    one full collection (a pause of about 0.2-0.4 s per 1,000 connected chargers)."""
    return age_s >= RECLAIM_MAX_AGE_S or disconnects >= max(
        RECLAIM_MIN_DISCONNECTS, RECLAIM_FRACTION * connected
    )


@dataclass
class KeeperStats:
    """What the keeper did since the process started (logs and benchmarks)."""

    freezes: int = 0
    reclaims: int = 0


class HeapKeeper:
    def __init__(self) -> None:
        self.connected = 0
        self.disconnects = 0  # since the last reclaim
        self.reclaimed_at = time.monotonic()
        self.stats = KeeperStats()
        self._timer: asyncio.TimerHandle | None = None
        # The collector's thresholds before the keeper raised the first one.
        self._thresholds: tuple[int, int, int] | None = None

    @staticmethod
    def interval_s() -> float:
        return float(getattr(settings, "OCPP_GC_FREEZE_INTERVAL_S", DEFAULT_FREEZE_INTERVAL_S))

    @staticmethod
    def young_threshold() -> int:
        return int(getattr(settings, "OCPP_GC_YOUNG_THRESHOLD", DEFAULT_YOUNG_THRESHOLD))

    @property
    def running(self) -> bool:
        return self._timer is not None

    def charger_connected(self) -> None:
        """Count a charger in, and start the keeper on this event loop the first time."""
        self.connected += 1
        if self._timer is None and self.interval_s() > 0:
            self._raise_young_threshold()
            self._schedule()

    def charger_disconnected(self) -> None:
        self.connected -= 1
        self.disconnects += 1

    def connection_refused(self) -> None:
        """A connection that ended before it was accepted (refused, shed, failed):
        its objects may be frozen garbage too, and a reconnect storm makes many."""
        self.disconnects += 1

    def stop(self) -> None:
        """Stop ticking and hand every frozen object back to the collector (tests,
        and a server that shuts its OCPP side down)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
        gc.unfreeze()

    def tick(self) -> None:
        """Freeze what survived since the last tick, or reclaim everything when
        enough chargers have gone. Runs on the event loop: the pause is the loop's."""
        age_s = time.monotonic() - self.reclaimed_at
        if reclaim_due(disconnects=self.disconnects, connected=self.connected, age_s=age_s):
            self._reclaim()
        else:
            self._freeze()

    def _raise_young_threshold(self) -> None:
        young = self.young_threshold()
        if self._thresholds is None and young > 0:
            self._thresholds = gc.get_threshold()
            gc.set_threshold(young, *self._thresholds[1:])

    def _schedule(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.interval_s(), self._run)

    def _run(self) -> None:
        try:
            self.tick()
        except Exception:
            log.exception("Garbage collector keeper failed; collections run unmanaged")
            self.stop()
            return
        self._schedule()

    def _freeze(self) -> None:
        started = time.perf_counter()
        gc.collect()  # walks only the objects not frozen yet: the interval's survivors
        gc.freeze()
        took = time.perf_counter() - started
        self.stats.freezes += 1
        if took > SLOW_COLLECTION_S:
            log.warning("Collecting before a freeze took %.0f ms", took * 1000)

    def _reclaim(self) -> None:
        started = time.perf_counter()
        disconnects, self.disconnects = self.disconnects, 0
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self.reclaimed_at = time.monotonic()
        took = time.perf_counter() - started
        self.stats.reclaims += 1
        log.info(
            "Reclaimed the garbage of %d ended connection(s): %d objects freed "
            "in %.0f ms, %d chargers connected",
            disconnects,
            freed,
            took * 1000,
            self.connected,
        )


keeper = HeapKeeper()
