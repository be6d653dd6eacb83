"""How the OCPP server calls the domain from its event loop.

Channels' `database_sync_to_async` runs every ORM call of a process on ONE thread
(thread-sensitive), one after the other: with thousands of chargers per process
that thread, mostly waiting for PostgreSQL round trips, caps connections and
messages per second (docs/benchmarks.md). With OCPP_DB_THREADS > 0 (production,
PostgreSQL) the calls run on a pool of that many threads instead, each with its
own database connection, so that the waits overlap. Safe because a consumer
handles one frame at a time: one charger's calls never overlap, and every service
is its own transaction. SQLite (embedded mode, tests) keeps the single thread: it
has one writer anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from django.conf import settings

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor | None:
    global _pool
    threads = settings.OCPP_DB_THREADS
    if threads <= 0:
        return None
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ocpp-orm")
    return _pool


def domain(func: Callable[..., Any]) -> Callable[..., Any]:
    """A domain service, called from the event loop: in a worker thread, with the
    database connection handled (one transaction per service)."""
    executor = _executor()
    if executor is None:
        return database_sync_to_async(func)
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=executor)
