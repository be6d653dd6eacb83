"""Benchmark tool, not the product: the ASGI application with cProfile running on
the event-loop thread (where the server spends most of its CPU once the ORM work
is grouped). `kill -USR1 <pid>` writes the statistics to BENCH_PROFILE (default
/tmp/ocpp-server.prof) and starts a new profile; read them with
`python -m pstats`. Serve with `PYTHONPATH=. daphne ... bench.asgi_profile:application`.
The profiler roughly doubles the CPU per call: use it to see where the time goes,
not to measure throughput.
"""

from __future__ import annotations

import cProfile
import os
import signal
from typing import Any

from config.asgi import application

_profile = cProfile.Profile()


def _dump(signum: int, frame: Any) -> None:
    global _profile
    _profile.disable()
    _profile.dump_stats(os.environ.get("BENCH_PROFILE", "/tmp/ocpp-server.prof"))  # noqa: S108
    _profile = cProfile.Profile()
    _profile.enable()


signal.signal(signal.SIGUSR1, _dump)
_profile.enable()

__all__ = ["application"]
