"""One detector per rule kind, and the call the evaluation service makes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from apps.monitoring.selectors.alerts.chargers import (
    problems_charger_offline,
    problems_connector_faulted,
)
from apps.monitoring.selectors.alerts.counts import (
    problems_commands_rejected,
    problems_repeated_reboots,
)
from apps.monitoring.selectors.alerts.problems import Kind, Problems, Rules
from apps.monitoring.selectors.alerts.sessions import (
    problems_meter_values_missing,
    problems_preparing_too_long,
    problems_session_never_ends,
    problems_session_not_started,
)

DETECTORS: dict[str, Callable[..., Problems]] = {
    Kind.CONNECTOR_FAULTED: problems_connector_faulted,
    Kind.CHARGER_OFFLINE: problems_charger_offline,
    Kind.SESSION_NOT_STARTED: problems_session_not_started,
    Kind.PREPARING_TOO_LONG: problems_preparing_too_long,
    Kind.SESSION_NEVER_ENDS: problems_session_never_ends,
    Kind.METER_VALUES_MISSING: problems_meter_values_missing,
    Kind.COMMANDS_REJECTED: problems_commands_rejected,
    Kind.REPEATED_REBOOTS: problems_repeated_reboots,
}


def problems_detect(*, kind: str, rules: Rules, now: datetime) -> Problems:
    """What is wrong now, for one kind, in the organizations of `rules`."""
    if not rules:
        return {}
    return DETECTORS[kind](rules=rules, now=now)
