"""Reads for alerts: what is wrong right now (one detector per rule kind), and the
alert lists the admin, the dashboard and the API show.

Each detector answers for every organization with the rule enabled in a few
queries, whatever the number of chargers: it returns the problems whose
condition holds now, keyed by (charger id, connector pk or None), each with the
time the condition began. The evaluation service opens an alert once a problem
has lasted the rule's threshold and resolves it when its key is gone.

One module per concern: problems.py (what a detector returns, shared helpers),
chargers.py, sessions.py and counts.py (the detectors), detect.py (one per rule
kind), lists.py (the lists for people). Callers import from this package."""

from __future__ import annotations

from apps.monitoring.selectors.alerts.chargers import (
    problems_charger_offline,
    problems_connector_faulted,
)
from apps.monitoring.selectors.alerts.counts import (
    problems_commands_rejected,
    problems_repeated_reboots,
)
from apps.monitoring.selectors.alerts.detect import DETECTORS, problems_detect
from apps.monitoring.selectors.alerts.lists import alert_get, alert_list, alert_open_counts
from apps.monitoring.selectors.alerts.problems import Problem, ProblemKey, Problems, Rules
from apps.monitoring.selectors.alerts.sessions import (
    problems_meter_values_missing,
    problems_preparing_too_long,
    problems_session_never_ends,
    problems_session_not_started,
)

__all__ = [
    "DETECTORS",
    "Problem",
    "ProblemKey",
    "Problems",
    "Rules",
    "alert_get",
    "alert_list",
    "alert_open_counts",
    "problems_charger_offline",
    "problems_commands_rejected",
    "problems_connector_faulted",
    "problems_detect",
    "problems_meter_values_missing",
    "problems_preparing_too_long",
    "problems_repeated_reboots",
    "problems_session_never_ends",
    "problems_session_not_started",
]
