"""`python manage.py simulate_chargers`: simulated OCPP chargers against a running server.

    python manage.py simulate_chargers --url ws://127.0.0.1:8000 --count 3 --ocpp 1.6
    python manage.py simulate_chargers --ids ELM-GARAGE-01 ELM-GARAGE-02 --ocpp 2.0.1

Each charger boots, reports its connectors, and charges vehicles that arrive by
themselves (or on RemoteStart), following its charging profiles. When a charger id
exists in this project's database (the demo's `ELM-GARAGE-01`, ...), its rating,
phases and connector count come from there, and so do the id tags its drivers
present: tokens that the access rules accept at that charger's zone right now.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
import zlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.access.models import IdToken
from apps.access.services import id_token_authorize
from apps.chargers.models import Charger
from apps.ocpp_consumer.simulator import (
    SimOptions,
    StationSpec,
    build_stations,
    default_ids,
    run_stations,
)

# How many accepted tags per charger are enough for variety.
TAGS_PER_CHARGER = 8


def _valid_tags(charger: Charger) -> list[str]:
    """Tags of the charger's organization that the access rules accept there now."""
    zone = charger.zone
    now = timezone.now()
    candidates = (
        IdToken.objects.filter(
            organization_id=zone.property.organization_id, status=IdToken.Status.ACTIVE
        )
        .order_by("uid")
        .values_list("uid", flat=True)
    )
    accepted = []
    for uid in candidates:
        # 1.6 idTag is at most 20 characters: longer tokens cannot be presented.
        if len(uid) <= 20 and id_token_authorize(zone=zone, uid=uid, at=now).accepted:
            accepted.append(uid)
            if len(accepted) >= TAGS_PER_CHARGER:
                break
    return accepted


def _spec_from_database(charge_point_id: str, tags: list[str] | None) -> StationSpec:
    charger = (
        Charger.objects.select_related("zone__property")
        .filter(charge_point_id=charge_point_id)
        .first()
    )
    if charger is None:
        return StationSpec(charge_point_id=charge_point_id, id_tags=tags or [])
    connectors = charger.connectors.count() or 1
    return StationSpec(
        charge_point_id=charge_point_id,
        connectors=connectors,
        max_power_w=float(charger.max_power_w),
        phases=charger.phases,
        # Above 22 kW an AC station is implausible: treat it as DC (the demo's ABB Terra).
        dc=charger.max_power_w > 22_000,
        vendor=(charger.vendor or "Plugboard")[:20],
        model=(charger.model or "Simulator")[:20],
        serial_number=f"SIM{zlib.crc32(charge_point_id.encode()):010d}",
        id_tags=tags if tags is not None else _valid_tags(charger),
    )


class Command(BaseCommand):
    help = "Run simulated OCPP 1.6 / 2.0.1 chargers against a running server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="ws://127.0.0.1:8000", help="Server base URL.")
        parser.add_argument("--count", type=int, default=1, help="Chargers (CP-SIM-0001..N).")
        parser.add_argument("--ocpp", choices=["1.6", "2.0.1"], default="1.6")
        parser.add_argument("--ids", nargs="+", help="Charge point ids (instead of --count).")
        parser.add_argument("--password", help="HTTP Basic password (security profile 1/2).")
        parser.add_argument(
            "--id-tags",
            nargs="+",
            help="Tags drivers present (default: tags the local database accepts at each "
            "charger, else SIM-TAG-0001).",
        )
        parser.add_argument("--duration", type=float, help="Stop after this many seconds.")
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same simulation.")
        parser.add_argument(
            "--meter-interval", type=float, default=30.0, help="Seconds between MeterValues."
        )
        parser.add_argument(
            "--speed",
            type=float,
            default=1.0,
            help="Charge this many times faster than real time (demo; timestamps stay real).",
        )
        parser.add_argument(
            "--arrival",
            type=float,
            nargs=2,
            default=[20.0, 300.0],
            metavar=("MIN", "MAX"),
            help="Simulated seconds between one vehicle leaving and the next arriving.",
        )
        parser.add_argument(
            "--parent-pid",
            type=int,
            help="Stop when this process ends (run_embedded passes its own pid, so a "
            "killed server never leaves its simulator behind).",
        )
        parser.add_argument(
            "--no-auto",
            action="store_true",
            help="No vehicles arrive by themselves: charge only on remote start.",
        )

    def handle(self, *args: Any, **o: Any) -> None:
        if o["ids"] and o["count"] not in (1, len(o["ids"])):
            raise CommandError("Give --ids or --count, not both.")
        if o["speed"] <= 0 or o["meter_interval"] <= 0:
            raise CommandError("--speed and --meter-interval must be positive.")
        ids = o["ids"] or default_ids(o["count"])
        specs = [_spec_from_database(cp_id, o["id_tags"]) for cp_id in ids]
        options = SimOptions(
            url=o["url"],
            ocpp=o["ocpp"],
            password=o["password"],
            id_tags=o["id_tags"] or ["SIM-TAG-0001"],
            meter_interval_s=o["meter_interval"],
            speed=o["speed"],
            arrival_s=(o["arrival"][0], o["arrival"][1]),
            auto_sessions=not o["no_auto"],
        )
        logging.basicConfig(
            level=logging.INFO if o["verbosity"] >= 2 else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        # The ocpp package logs every frame at INFO: only at -v 3.
        logging.getLogger("ocpp").setLevel(logging.INFO if o["verbosity"] >= 3 else logging.WARNING)
        for spec in specs:
            tags = ", ".join(spec.id_tags or options.id_tags)
            self.stdout.write(
                f"{spec.charge_point_id}: OCPP {options.ocpp}, {spec.connectors} connector(s), "
                f"{spec.max_power_w / 1000:g} kW, tags {tags}"
            )
        stations = build_stations(specs, options, seed=o["seed"])
        if o["parent_pid"]:
            _stop_when_orphaned(o["parent_pid"])
        asyncio.run(run_stations(stations, duration_s=o["duration"]))
        sessions = sum(s.stats["sessions"] for s in stations)
        errors = sum(s.stats["call_errors"] for s in stations)
        self.stdout.write(
            self.style.SUCCESS(
                f"Stopped {len(stations)} charger(s): {sessions} session(s), "
                f"{errors} CALLERROR(s) from the server."
            )
        )


def _stop_when_orphaned(parent_pid: int, interval_s: float = 1.0) -> None:
    """SIGTERM ourselves (the clean stop) once `parent_pid` is no longer our parent.
    A parent killed with SIGKILL runs no cleanup, and the simulator lives in its own
    session, so nothing else would ever stop it; Linux re-parents an orphan, which
    is what this watches for."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
