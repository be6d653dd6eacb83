"""Charger configuration: read it (1.6 GetConfiguration, 2.0.1 GetVariables or
GetBaseReport + NotifyReport), change keys, apply templates in bulk, and flag the
chargers whose reported configuration differs from their template (drift).

Commands travel through apps.chargers.commands (never inside a database
transaction: the command log is written as the command goes); what comes back is
stored by the small atomic functions below.

One module per concern: reading.py, drift.py (templates and drift), changes.py
(changing keys, applying templates), upkeep.py (the periodic jobs); common.py holds
what they share. Callers import from this package."""

from __future__ import annotations

from apps.monitoring.services.configuration.changes import (
    ChargerApplyResult,
    charger_configuration_change,
    configuration_read_many,
    configuration_template_apply,
)
from apps.monitoring.services.configuration.drift import (
    charger_configuration_drift_evaluate,
    configuration_template_drift_refresh,
    configuration_template_for,
)
from apps.monitoring.services.configuration.reading import (
    REPORT_WAIT,
    charger_configuration_read,
    configuration_reports_collect,
)
from apps.monitoring.services.configuration.upkeep import (
    READINGS_KEPT,
    REFRESH_AFTER,
    REFRESH_PER_RUN,
    configuration_readings_prune,
    configuration_refresh,
)

__all__ = [
    "READINGS_KEPT",
    "REFRESH_AFTER",
    "REFRESH_PER_RUN",
    "REPORT_WAIT",
    "ChargerApplyResult",
    "charger_configuration_change",
    "charger_configuration_drift_evaluate",
    "charger_configuration_read",
    "configuration_read_many",
    "configuration_readings_prune",
    "configuration_refresh",
    "configuration_reports_collect",
    "configuration_template_apply",
    "configuration_template_drift_refresh",
    "configuration_template_for",
]
