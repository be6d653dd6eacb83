"""daphne with its per-connection housekeeping paced, and the launcher that runs it.

    python -m config.asgi_server -b 0.0.0.0 -p 8000 ... config.asgi:application

takes daphne's own arguments (`make serve` and the Procfile use it). daphne walks
every connection on a timer, in one go on the event loop: `application_checker`
every second (reaping finished application instances) and `timeout_checker` every
2 s (timeouts and keepalive pings). With 5,000 chargers in a process these walks
stopped the loop for ~17 ms and ~39 ms each time (py-spy on a server holding
10,000 chargers, docs/benchmarks.md), and every message that arrived meanwhile
waited. `PacedServer` does the same work a tenth at a time, ten times as often:
each connection is still checked once per period, and no walk stops the loop
for long.

It also switches off autobahn's colouring of its debug messages (below).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, cast

import autobahn.util
from daphne.cli import CommandLineInterface
from daphne.server import Server  # installs Twisted's asyncio reactor
from twisted.internet import reactor
from twisted.internet.base import ReactorBase

logger = logging.getLogger(__name__)
# Twisted's global reactor (an asyncio one, installed by daphne.server), typed.
clock = cast(ReactorBase, reactor)

# autobahn builds the arguments of two debug messages for every frame it reads and
# every frame it sends, logged or not, colouring three of them with click's
# style() (click is here for Celery): ~3 % of a server's CPU under a MeterValues
# load (py-spy, docs/benchmarks.md). Without its flag for click, autobahn's
# colouring returns the text as it is. Nothing else of autobahn reads the flag.
autobahn.util._HAS_CLICK = False  # noqa: SLF001

# Slices per walk, and daphne's own periods for the two walks.
SLICES = 10
APPLICATION_CHECK_PERIOD_S = 1.0
TIMEOUT_CHECK_PERIOD_S = 2.0


class Round:
    """One walk over a snapshot of the connections, handed out a slice at a time.
    A connection opened during a walk is checked in the next one."""

    def __init__(self, slices: int = SLICES) -> None:
        self.slices = slices
        self._pending: deque[Any] = deque()
        self._size = 0

    def next_slice(self, connections: Iterable[Any]) -> list[Any]:
        if not self._pending:
            self._pending = deque(connections)
            self._size = math.ceil(len(self._pending) / self.slices)
        return [self._pending.popleft() for _ in range(min(self._size, len(self._pending)))]


class PacedServer(Server):  # type: ignore[misc]  # daphne ships no type hints
    """daphne's Server with the two connection walks done in slices. The rules per
    connection are daphne's (4.x): see `check_application`."""

    def run(self) -> None:
        self._application_round = Round()
        self._timeout_round = Round()
        super().run()

    def application_checker(self) -> None:
        for protocol in self._application_round.next_slice(self.connections):
            details = self.connections.get(protocol)
            if details is not None:
                self.check_application(protocol, details)
        clock.callLater(APPLICATION_CHECK_PERIOD_S / SLICES, self.application_checker)

    def timeout_checker(self) -> None:
        for protocol in self._timeout_round.next_slice(self.connections):
            if protocol in self.connections:
                protocol.check_timeouts()
        clock.callLater(TIMEOUT_CHECK_PERIOD_S / SLICES, self.timeout_checker)

    def check_application(self, protocol: Any, details: dict[str, Any]) -> None:
        """One connection's application instance: cancelled when its client left
        more than `application_close_timeout` ago and it still runs; reaped (its
        exception logged) once done; the connection forgotten once both are over."""
        disconnected = details.get("disconnected")
        instance = details.get("application_instance")
        if (
            disconnected
            and instance is not None
            and not instance.done()
            and time.time() - disconnected > self.application_close_timeout
        ):
            logger.warning(
                "Application instance %r for connection %r took too long to shut down "
                "and was killed.",
                instance,
                protocol,
            )
            instance.cancel()
        if instance is not None and instance.done():
            self._report(protocol, instance, disconnected)
            del details["application_instance"]
            instance = None
        if instance is None and disconnected:
            del self.connections[protocol]

    def _report(self, protocol: Any, instance: asyncio.Future[Any], disconnected: Any) -> None:
        try:
            exception = instance.exception()
        except asyncio.CancelledError:
            return
        if exception is None:
            return
        if isinstance(exception, KeyboardInterrupt):
            # How a test asks the server to stop.
            self.stop()
            return
        logger.error("Exception inside application: %s", exception, exc_info=exception)
        if not disconnected:
            protocol.handle_exception(exception)


class PacedCommandLineInterface(CommandLineInterface):  # type: ignore[misc]  # untyped, as above
    server_class = PacedServer


def main() -> None:
    PacedCommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
