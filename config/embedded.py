"""Embedded mode's periodic jobs: settings.CELERY_BEAT_SCHEDULE run in-process.

Production runs the schedule with celery beat (django-celery-beat's
DatabaseScheduler) and workers. On a developer's machine there is no broker: the
same entries run here, in one background thread of the server process, each
through `task.apply()` (the task's own code, in this thread). A job that raises
is logged and tried again at its next time; it never stops the loop or the
server.

Jobs run one after another, like beat sends them one after another: a slow job
delays the next ones, it does not pile up copies of itself.

Given the server's event loop, each job runs in a worker thread *of that loop*
(like a view does), not in the scheduler's own thread: the in-memory channel layer
lives on the server's loop, so a job that sends a command to a charger (a
self-healing reset, a configuration re-read) reaches the consumer and gets its
answer at once, instead of waiting on a loop that nobody runs until it times out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, Task
from celery import schedules as celery_schedules
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connections
from django.utils import timezone

log = logging.getLogger(__name__)

# Longest sleep between looks at the clock: bounds how late a job whose schedule
# is not a fixed interval (crontab) can start if the wall clock jumps.
MAX_SLEEP_S = 60.0


@dataclass
class Job:
    name: str
    task: Task
    schedule: Any  # a celery schedule (interval, crontab, solar)
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Fixed intervals are timed on the monotonic clock (immune to wall-clock
    # jumps); other schedules ask celery when they are next due.
    interval_s: float | None = None
    next_run: float = 0.0
    last_run_at: datetime | None = None
    runs: int = 0
    failures: int = 0


def _interval_s(schedule: Any) -> float | None:
    if isinstance(schedule, int | float):
        return float(schedule)
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    if type(schedule) is celery_schedules.schedule:
        return schedule.run_every.total_seconds()
    return None


def jobs_from_schedule(
    schedule: Mapping[str, Mapping[str, Any]], tasks: Mapping[str, Task]
) -> list[Job]:
    """Jobs for the entries of a CELERY_BEAT_SCHEDULE-shaped mapping. An entry
    naming a task that does not exist fails here, at start, not at its first run."""
    jobs = []
    for name, entry in schedule.items():
        task_name = entry["task"]
        if task_name not in tasks:
            raise ImproperlyConfigured(
                f"CELERY_BEAT_SCHEDULE[{name!r}] names task {task_name!r}, which is not "
                "registered (is it decorated with @shared_task(name=...)?)."
            )
        interval = _interval_s(entry["schedule"])
        if interval is not None and interval <= 0:
            raise ImproperlyConfigured(f"CELERY_BEAT_SCHEDULE[{name!r}]: interval must be > 0.")
        jobs.append(
            Job(
                name=name,
                task=tasks[task_name],
                schedule=celery_schedules.maybe_schedule(entry["schedule"]),
                args=tuple(entry.get("args") or ()),
                kwargs=dict(entry.get("kwargs") or {}),
                interval_s=interval,
            )
        )
    return jobs


def celery_tasks(app: Celery) -> Mapping[str, Task]:
    """The app's registered tasks, after autodiscovery has imported every app's
    tasks module (a worker does the same on start)."""
    app.loader.import_default_modules()
    return app.tasks


class EmbeddedScheduler:
    """Runs jobs on their schedules in a daemon thread until `stop()`.

    `clock` (monotonic seconds) and `wait` (sleep that returns early when stopping)
    are injectable so that tests can drive time."""

    def __init__(
        self,
        jobs: list[Job],
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = timezone.now,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.jobs = jobs
        self._loop = loop
        self._clock = clock
        self._now = now
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        start = clock()
        for job in jobs:
            # Like beat: the first run comes one interval after start, not at once.
            job.next_run = start + self._delay(job)

    def _delay(self, job: Job) -> float:
        if job.interval_s is not None:
            return job.interval_s
        last = job.last_run_at or self._now()
        remaining = job.schedule.remaining_estimate(last).total_seconds()
        return max(0.0, remaining)

    def run_pending(self) -> float:
        """Run every job that is due now; return the seconds until the next one is."""
        for job in self.jobs:
            if self._stopping.is_set():
                break
            started = self._clock()
            if started < job.next_run:
                continue
            self._run(job)
            job.last_run_at = self._now()
            # From the start of this run: a slow job does not drift its schedule,
            # and a job that overran its interval runs once more, not in a burst.
            job.next_run = started + self._delay(job)
        if not self.jobs:
            return MAX_SLEEP_S
        return max(0.0, min(MAX_SLEEP_S, min(j.next_run for j in self.jobs) - self._clock()))

    def _run(self, job: Job) -> None:
        job.runs += 1
        try:
            result = self._call(lambda: job.task.apply(args=job.args, kwargs=job.kwargs))
            if result.failed():
                # Only when eager exceptions are not propagated: the task's own
                # traceback is in the result.
                job.failures += 1
                log.error("Periodic job %s failed:\n%s", job.name, result.traceback)
        except Exception:
            job.failures += 1
            log.exception("Periodic job %s failed; it runs again at its next time", job.name)

    def _call(self, function: Callable[[], Any]) -> Any:
        """Run `function` here, or in a worker thread of the server's loop when there
        is one (see the module's docstring), waiting for it while not stopping."""
        if self._loop is None:
            return function()
        # Imported here: channels imports Django's database layer.
        from channels.db import database_sync_to_async

        future = asyncio.run_coroutine_threadsafe(
            database_sync_to_async(function, thread_sensitive=False)(), self._loop
        )
        while True:
            try:
                return future.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                if self._stopping.is_set() and not self._loop.is_running():
                    future.cancel()
                    raise RuntimeError("the server stopped while the job ran") from None

    def _loop_forever(self) -> None:
        try:
            while not self._stopping.is_set():
                # This thread outlives any request: like a request, each round
                # starts and ends without a broken or stale database connection.
                close_old_connections()
                delay = self.run_pending()
                close_old_connections()
                self._stopping.wait(delay)
        finally:
            connections.close_all()

    def start(self) -> None:
        names = ", ".join(f"{j.name} ({j.task.name})" for j in self.jobs) or "none"
        log.info("Embedded scheduler: periodic jobs %s", names)
        self._thread = threading.Thread(
            target=self._loop_forever, name="embedded-scheduler", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the loop to stop and wait for a running job to finish. Returns whether
        the thread ended within `timeout` (it is a daemon: it cannot hold up exit)."""
        self._stopping.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()
