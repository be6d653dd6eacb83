"""Benchmark experiment, not the product: the ASGI app with ORM calls spread over a
thread pool instead of Channels' default single thread.

`database_sync_to_async` is thread-sensitive by default: every ORM call of every
connected charger in a process runs on one thread, one after the other, and that
thread spends most of its time waiting for PostgreSQL (commits, round trips).
This module measures what a pool buys, without touching the application code:

    BENCH_DB_THREADS=8 DB_CONN_MAX_AGE=600 ... daphne bench.asgi_db_pool:application

Safe for the experiment because one consumer handles one frame at a time, so a
charger's calls never overlap; each pool thread keeps its own database connection
(PostgreSQL only: SQLite has one writer anyway). See docs/benchmarks.md.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import channels.db

POOL = ThreadPoolExecutor(
    max_workers=int(os.environ.get("BENCH_DB_THREADS", "8")), thread_name_prefix="orm"
)
_original_init = channels.db.DatabaseSyncToAsync.__init__


def _pooled_init(self: Any, func: Any, thread_sensitive: bool = True, **kwargs: Any) -> None:
    kwargs["executor"] = POOL
    _original_init(self, func, thread_sensitive=False, **kwargs)


# Before the application (and its handlers, which wrap services at import) loads.
channels.db.DatabaseSyncToAsync.__init__ = _pooled_init  # type: ignore[method-assign]

from config.asgi import application  # noqa: E402

__all__ = ["application"]
