"""The paced daphne server (config/asgi_server.py): each walk over the connections
is done a slice at a time, every connection still once per walk, with daphne's
rules per connection. The end-to-end OCPP tests run on this server too
(tests/ocpp_consumer/conftest.py); these pin the pacing and the rules."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from typing import Any

import pytest

from config import asgi_server
from config.asgi_server import SLICES, PacedServer, Round


class Protocol:
    def __init__(self) -> None:
        self.handled: list[BaseException] = []
        self.timeouts_checked = 0

    def handle_exception(self, exception: BaseException) -> None:
        self.handled.append(exception)

    def check_timeouts(self) -> None:
        self.timeouts_checked += 1


def server() -> PacedServer:
    paced = PacedServer(application=None, endpoints=["tcp:port=0"], application_close_timeout=10)
    paced.connections = {}
    paced._application_round = Round()
    paced._timeout_round = Round()
    return paced


def finished(result: Any = None, exception: BaseException | None = None) -> asyncio.Future[Any]:
    loop = asyncio.new_event_loop()
    try:
        future: asyncio.Future[Any] = loop.create_future()
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
        return future
    finally:
        loop.close()


def running() -> asyncio.Future[Any]:
    loop = asyncio.new_event_loop()
    try:
        return loop.create_future()
    finally:
        loop.close()


def test_round_hands_out_every_connection_once_in_slices():
    connections = {f"c{n}": None for n in range(95)}
    walk = Round(slices=10)
    slices = [walk.next_slice(connections) for _ in range(10)]
    assert [len(s) for s in slices] == [10] * 9 + [5]
    assert sorted(c for s in slices for c in s) == sorted(connections)
    # The next walk starts over, with the connections there are then.
    connections["new"] = None
    assert walk.next_slice(connections) == [f"c{n}" for n in range(10)]


def test_round_of_no_connections_is_empty():
    assert Round().next_slice({}) == []


def test_timeout_checker_checks_a_slice_and_skips_closed_connections(monkeypatch):
    paced = server()
    scheduled: list[float] = []
    monkeypatch.setattr(
        "config.asgi_server.clock.callLater", lambda delay, fn: scheduled.append(delay)
    )
    protocols = [Protocol() for _ in range(2 * SLICES)]
    paced.connections = {p: {} for p in protocols}
    paced.timeout_checker()
    assert sum(p.timeouts_checked for p in protocols) == 2
    assert scheduled == [pytest.approx(2.0 / SLICES)]
    # A connection closed after the walk started is not checked.
    gone = protocols[2]
    del paced.connections[gone]
    for _ in range(SLICES - 1):
        paced.timeout_checker()
    assert gone.timeouts_checked == 0
    assert all(p.timeouts_checked == 1 for p in protocols if p is not gone)


def test_finished_application_of_an_open_connection_is_reaped():
    paced = server()
    protocol = Protocol()
    details = {"application_instance": finished()}
    paced.connections[protocol] = details
    paced.check_application(protocol, details)
    assert "application_instance" not in details
    assert protocol in paced.connections  # the client is still there


def test_connection_forgotten_once_client_and_application_are_gone():
    paced = server()
    protocol = Protocol()
    details = {"application_instance": finished(), "disconnected": time.time()}
    paced.connections[protocol] = details
    paced.check_application(protocol, details)
    assert protocol not in paced.connections


def test_application_failure_is_logged_and_handed_to_an_open_connection(caplog):
    paced = server()
    protocol = Protocol()
    error = RuntimeError("boom")
    details = {"application_instance": finished(exception=error)}
    paced.connections[protocol] = details
    with caplog.at_level(logging.ERROR, logger="config.asgi_server"):
        paced.check_application(protocol, details)
    assert "Exception inside application: boom" in caplog.text
    assert protocol.handled == [error]


def test_application_outliving_its_client_is_cancelled(caplog):
    paced = server()
    protocol = Protocol()
    instance = running()
    details = {"application_instance": instance, "disconnected": time.time() - 11}
    paced.connections[protocol] = details
    with caplog.at_level(logging.WARNING, logger="config.asgi_server"):
        paced.check_application(protocol, details)
    assert instance.cancelled()
    assert "took too long to shut down" in caplog.text
    # Within the close timeout it is left alone.
    recent = running()
    details = {"application_instance": recent, "disconnected": time.time() - 1}
    paced.connections[protocol] = details
    paced.check_application(protocol, details)
    assert not recent.done()
    assert protocol in paced.connections


def test_launcher_takes_daphnes_arguments():
    result = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "config.asgi_server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--websocket_connect_timeout" in result.stdout
    assert "--ping-interval" in result.stdout


def test_autobahn_builds_its_per_frame_debug_arguments_without_colouring_them():
    # Importing the server module is what switches the colouring off.
    import autobahn.util

    assert asgi_server.autobahn.util is autobahn.util
    assert autobahn.util.hl("peer", color="yellow", bold=True) == "peer"
    assert autobahn.util.hltype(PacedServer.run) == "<config.asgi_server.PacedServer.run>"
