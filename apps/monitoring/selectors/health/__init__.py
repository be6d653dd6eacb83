"""Reads for health reporting: status history, uptime per connector and property,
health scores. The math is in apps/monitoring/services/{uptime,health}.py; these
modules gather its inputs from the stored history in a fixed number of queries.

One module per concern: history.py (the status log and the history reads the
others share), uptime.py (uptime and the properties' policies), scores.py (health
ranking), overview.py (one charger's vitals, each property at a glance). Callers
import from this package."""

from __future__ import annotations

from apps.monitoring.selectors.health.history import charger_get_visible, status_history
from apps.monitoring.selectors.health.overview import (
    ATTENTION_BELOW,
    GLANCE_DAYS,
    VITALS_HEALTH_DAYS,
    VITALS_UPTIME_DAYS,
    ChargerVitals,
    PropertyGlance,
    charger_vitals,
    properties_at_a_glance,
)
from apps.monitoring.selectors.health.scores import (
    ChargerHealth,
    health_for_chargers,
    health_scores,
)
from apps.monitoring.selectors.health.uptime import (
    DEFAULT_POLICY,
    ConnectorUptime,
    MonthlyUptime,
    PolicyView,
    UptimeReport,
    policies_for,
    uptime_for_chargers,
    uptime_monthly,
    uptime_report,
)

__all__ = [
    "ATTENTION_BELOW",
    "DEFAULT_POLICY",
    "GLANCE_DAYS",
    "VITALS_HEALTH_DAYS",
    "VITALS_UPTIME_DAYS",
    "ChargerHealth",
    "ChargerVitals",
    "ConnectorUptime",
    "MonthlyUptime",
    "PolicyView",
    "PropertyGlance",
    "UptimeReport",
    "charger_get_visible",
    "charger_vitals",
    "health_for_chargers",
    "health_scores",
    "policies_for",
    "properties_at_a_glance",
    "status_history",
    "uptime_for_chargers",
    "uptime_monthly",
    "uptime_report",
]
