"""`python manage.py run_embedded`: Plugboard in one process, for a developer's machine.

    python manage.py run_embedded --host 127.0.0.1 --port 8000 [--simulate 3]

Daphne serves HTTP and the chargers' websockets; a background thread runs the
periodic jobs of settings.CELERY_BEAT_SCHEDULE on their intervals (what celery
beat and workers do in production, config/embedded.py). With `--simulate N`,
N demo chargers are simulated in a child process once the server listens.
SIGINT (Ctrl-C) or SIGTERM stops all of it.

Production does not use this: it runs daphne, celery workers and celery beat as
separate processes (README, docs/deployment.md).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.chargers.models import Charger
from apps.chargers.services import charger_presence_sweep

log = logging.getLogger(__name__)

LISTEN_TIMEOUT_S = 30
SIMULATOR_STOP_TIMEOUT_S = 10


def simulation_ids(count: int) -> list[str]:
    """`count` accepted chargers without a password, taken in turn from each
    property (a newcomer sees the apartment garage, the dealership and the depot at
    once), each property's from its last id down: the first ids (ELM-GARAGE-01,
    SWF-DEPOT-01) stay free for the simulate_chargers example seed_demo prints."""
    per_property: dict[int, list[str]] = {}
    rows = (
        Charger.objects.filter(registration=Charger.Registration.ACCEPTED, password_hash="")
        .order_by("zone__property_id", "-charge_point_id")
        .values_list("zone__property_id", "charge_point_id")
    )
    for property_id, charge_point_id in rows:
        per_property.setdefault(property_id, []).append(charge_point_id)
    queues = list(per_property.values())
    ids: list[str] = []
    while len(ids) < count and any(queues):
        for queue in queues:
            if queue and len(ids) < count:
                ids.append(queue.pop(0))
    return ids


class Command(BaseCommand):
    help = "Serve HTTP and OCPP websockets with daphne and run the periodic jobs in-process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Interface to listen on.")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on.")
        parser.add_argument(
            "--simulate",
            type=int,
            default=0,
            metavar="N",
            help="Simulate N of the database's accepted chargers that have no password "
            "(the demo's), spread over the properties, in a child process. 0: none.",
        )
        parser.add_argument(
            "--simulate-ocpp", choices=["1.6", "2.0.1"], default="1.6", help="Their OCPP version."
        )
        parser.add_argument(
            "--no-jobs", action="store_true", help="Do not run the periodic jobs in-process."
        )
        parser.add_argument(
            "--no-access-log", action="store_true", help="Do not print one line per request."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Imported here: daphne.server installs Twisted's asyncio reactor on import,
        # which must happen before anything else imports a reactor.
        from daphne.access import AccessLogGenerator
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import twisted_loop
        from twisted.internet import reactor, threads

        from config.asgi import application
        from config.asgi_server import PacedServer
        from config.celery import app as celery_app
        from config.embedded import EmbeddedScheduler, celery_tasks, jobs_from_schedule

        host: str = options["host"]
        port: int = options["port"]
        if "PUBLIC_BASE_URL" not in os.environ:
            # Links in emails and the upload address handed to chargers: this server,
            # wherever `make run HOST=... PORT=...` put it.
            shown = f"[{host}]" if ":" in host else host
            settings.PUBLIC_BASE_URL = f"http://{shown}:{port}"
        scheduler: EmbeddedScheduler | None = None
        if options["no_jobs"]:
            pass
        elif settings.REDIS_URL:
            # A broker means production-style processes: celery beat owns the
            # schedule, and running it here too would run every job twice.
            self.stdout.write("REDIS_URL is set: periodic jobs are left to celery beat.")
        else:
            jobs = jobs_from_schedule(settings.CELERY_BEAT_SCHEDULE, celery_tasks(celery_app))
            # The jobs run on daphne's event loop, where the in-memory channel layer
            # lives: commands they send reach the chargers (config/embedded.py).
            scheduler = EmbeddedScheduler(jobs, loop=twisted_loop)

        server = PacedServer(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            signal_handlers=False,  # ours, below
            action_logger=None if options["no_access_log"] else AccessLogGenerator(sys.stdout),
            # Chargers stay connected for months: never time a websocket out.
            websocket_timeout=-1,
        )
        simulator: dict[str, subprocess.Popen[bytes] | None] = {}
        stopping = threading.Event()
        watcher = threading.Thread(
            target=self._when_listening,
            args=(server, stopping, options, simulator),
            name="listen-watcher",
            daemon=True,
        )

        # On SIGINT/SIGTERM the simulator stops first, while the server still
        # serves, so that its chargers can end their sessions properly; then the
        # reactor stops and daphne drops the remaining sockets. Our handlers, not
        # Twisted's: Twisted's shutdown triggers run side by side, so daphne would
        # drop the sockets at once. A second signal stops without waiting.
        def shutdown() -> None:
            if stopping.is_set():
                server.stop()
                return
            stopping.set()
            waited = threads.deferToThread(self._stop_simulator, simulator.get("process"))
            waited.addBoth(lambda _: server.stop())

        def on_signal(signum: int, frame: Any) -> None:
            reactor.callFromThread(shutdown)

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        if scheduler is not None:
            scheduler.start()
        watcher.start()
        try:
            server.run()
        finally:
            stopping.set()
            self._stop_simulator(simulator.get("process"))
            if scheduler is not None and not scheduler.stop():
                log.warning("A periodic job was still running at exit.")
            # Only if we served: a second `make run` that found the port taken must
            # not mark the first one's chargers offline in the shared database.
            if not settings.REDIS_URL and server.listening_addresses:
                self._forget_sockets()
        if not server.listening_addresses:
            raise CommandError(f"Could not listen on {host}:{port} (see the log above).")
        self.stdout.write("Plugboard stopped.")

    def _forget_sockets(self) -> None:
        """Daphne's shutdown cancels the consumers without their disconnect step, so
        the chargers would still look online (until the presence sweep of the next
        start). With the in-memory channel layer no other process can hold a
        charger's socket: every charger recorded as connected was ours."""
        gone = charger_presence_sweep(
            now=timezone.now(), grace_s=0, summary="Disconnected: the server stopped"
        )
        if gone:
            self.stdout.write(f"{len(gone)} charger(s) marked offline.")

    def _when_listening(
        self,
        server: Any,
        stopping: threading.Event,
        options: dict[str, Any],
        simulator: dict[str, subprocess.Popen[bytes] | None],
    ) -> None:
        """Announce the address, then start the simulator: only once the port is
        open, or the simulated chargers would fail their first connection."""
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while not server.listening_addresses:
            if stopping.wait(0.05) or time.monotonic() > deadline:
                return
        host, port = server.listening_addresses[0]
        shown = f"[{host}]" if ":" in host else host
        self.stdout.write(
            f"Plugboard listening on http://{shown}:{port}/admin/ "
            f"(chargers: ws://{shown}:{port}/ocpp/<charge point id>). Ctrl-C stops it."
        )
        self.stdout.flush()
        count = options["simulate"]
        if count > 0 and not stopping.is_set():
            simulator["process"] = self._start_simulator(
                f"ws://{shown}:{port}", count, options["simulate_ocpp"]
            )

    def _start_simulator(self, url: str, count: int, ocpp: str) -> subprocess.Popen[bytes] | None:
        ids = simulation_ids(count)
        if not ids:
            self.stderr.write("--simulate: no accepted charger without a password to simulate.")
            return None
        self.stdout.write(f"Simulating {len(ids)} charger(s) over OCPP {ocpp}: {' '.join(ids)}")
        # A child process, not a thread: the simulator has its own event loop and
        # its load must not slow the server's. Same settings module and database.
        return subprocess.Popen(  # noqa: S603 (our own manage.py, arguments we built)
            [
                sys.executable,
                str(settings.BASE_DIR / "manage.py"),
                "simulate_chargers",
                "--url",
                url,
                "--ocpp",
                ocpp,
                "--parent-pid",
                str(os.getpid()),
                "--ids",
                *ids,
            ],
            cwd=settings.BASE_DIR,
            env=os.environ.copy(),
            # Its own process group: a Ctrl-C in the terminal reaches only us, and
            # the simulator gets exactly one SIGTERM from us (a second signal makes
            # it quit without ending its sessions).
            start_new_session=True,
        )

    def _stop_simulator(self, process: subprocess.Popen[bytes] | None) -> None:
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(SIMULATOR_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
