"""A simulated charge point fleet for OCPP 1.6J and 2.0.1.

`python manage.py simulate_chargers` drives it; `bench/ocpp_load.py` is a much
lighter client for load, and the tests use `Station` directly.
"""

from __future__ import annotations

from apps.ocpp_consumer.simulator.runner import build_stations, default_ids, run_stations
from apps.ocpp_consumer.simulator.station import SimOptions, Station, StationSpec

__all__ = ["SimOptions", "Station", "StationSpec", "build_stations", "default_ids", "run_stations"]
