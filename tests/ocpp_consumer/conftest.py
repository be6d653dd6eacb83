"""A real daphne server for the end-to-end OCPP tests.

Daphne runs in a thread of the test process (one for the whole session: Twisted's
reactor cannot restart), serving config.asgi.application on a free port. It uses
the same database as the tests: the in-memory SQLite test database is shared
between threads by Django, a PostgreSQL test database (DATABASE_URL) is simply the
same database. Tests that talk to it use `transactional_db`, so that the server
sees what the test wrote and the test sees what the server wrote.

The tests themselves are synchronous: each conversation with the server runs in
`run()` (its own event loop), and the database is checked in between, so that the
test and the server never write at the same time: SQLite's shared-cache locks are
not retried like file locks. For the same reason the test's reads on SQLite are
`read_uncommitted` (shared-cache readers would otherwise fail on the server's
write lock instead of waiting); PostgreSQL needs none of this.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from django.db import OperationalError, close_old_connections, connection
from django.db.backends.signals import connection_created

from apps.chargers.models import Charger

SERVER_START_TIMEOUT_S = 10


class OcppServer:
    def __init__(self) -> None:
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: Any = None

    def idle(self) -> bool:
        """True when every ASGI application instance the server started has
        finished: consumers have run their disconnect (and its database writes),
        HTTP requests have been answered."""

        async def check() -> bool:
            return all(
                details.get("application_instance") is None
                or details["application_instance"].done()
                for details in self.server.connections.values()
            )

        return bool(self.on_server_loop(check()))

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{path}"

    def on_server_loop(self, coro: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        """Run a coroutine on the server's event loop (the in-memory channel layer
        lives there) and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@pytest.fixture(scope="session")
def _daphne() -> OcppServer:
    # Twisted's reactor runs once per process: folders that import these fixtures
    # into their own conftest share the server started first.
    global _SERVER
    if _SERVER is not None:
        return _SERVER
    # Imported here: daphne.server installs Twisted's asyncio reactor on import.
    # The server production runs (config/asgi_server.py).
    from daphne.server import twisted_loop

    from config.asgi import application
    from config.asgi_server import PacedServer

    state = OcppServer()
    ready = threading.Event()
    server = PacedServer(
        application=application,
        endpoints=["tcp:port=0:interface=127.0.0.1"],
        signal_handlers=False,
        ready_callable=ready.set,
        # Chargers stay connected for months: never time a websocket out.
        websocket_timeout=-1,
    )
    thread = threading.Thread(target=server.run, name="daphne", daemon=True)
    thread.start()
    ready.wait(SERVER_START_TIMEOUT_S)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.listening_addresses and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.listening_addresses:
        raise RuntimeError("daphne did not start listening")
    state.port = server.listening_addresses[0][1]
    state.loop = twisted_loop
    state.server = server
    _SERVER = state
    return state


# The session's server, for settle(): set by the _daphne fixture.
_SERVER: OcppServer | None = None


def _read_uncommitted(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 1")


@pytest.fixture
def ocpp_server(_daphne: OcppServer, transactional_db: None) -> Iterator[OcppServer]:
    connection_created.connect(_read_uncommitted)
    if connection.connection is not None:
        _read_uncommitted(None, connection)
    yield _daphne
    # The server records a closed socket in its own thread: let it finish before
    # the database is flushed.
    settle()
    connection_created.disconnect(_read_uncommitted)
    close_old_connections()


def run(coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
    """Run one conversation with the server from a synchronous test, then wait
    until the server has recorded the closing of its sockets."""
    try:
        return asyncio.run(asyncio.wait_for(coro, timeout))
    finally:
        settle()


def settle(timeout: float = 30) -> None:
    """Wait until the server has finished with every connection (no consumer still
    running, so none of its writes is pending) and no charger is online, so that
    the test may write and the database may be flushed. Raises if that takes
    longer than `timeout`: a test that carried on would race the server's writes
    (a flush deadlocking with them on PostgreSQL, foreign keys failing)."""
    deadline = time.monotonic() + timeout
    while _SERVER is not None and not _SERVER.idle():
        if time.monotonic() > deadline:
            raise AssertionError(f"the OCPP server was still busy after {timeout} s")
        time.sleep(0.01)
    if _SERVER is not None:
        # The raw message log and presence are written in the background: write
        # them out now, so that no server write is left to race the test's.
        from apps.ocpp_consumer.handlers.writers import background_writes_drain

        _SERVER.on_server_loop(background_writes_drain(), timeout)
    if not wait_for(lambda: not Charger.objects.exclude(channel_name="").exists(), timeout):
        online = list(Charger.objects.exclude(channel_name="").values_list("charge_point_id"))
        raise AssertionError(f"chargers still online after {timeout} s: {online}")
    if connection.vendor != "sqlite":
        return
    while True:
        try:
            with connection.cursor() as cursor:
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("ROLLBACK")
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def basic_auth(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def wait_for(predicate: Callable[[], Any], timeout: float = 5) -> Any:
    """Poll the database until `predicate()` is truthy (the server writes in its
    own thread, after the socket event that caused it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)
