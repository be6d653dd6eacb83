"""What a detector returns (a Problem per charger or connector, keyed), the rule
maps it reads, and the small helpers the detectors share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apps.chargers.models import Charger
from apps.monitoring.models import AlertRule

Kind = AlertRule.Kind
ORG = "zone__property__organization_id"
CHARGER_ORG = f"charger__{ORG}"
# Answers by which a charger refuses a command (besides OCPP errors).
REFUSED_STATUSES = ("Rejected", "NotSupported", "UnlockFailed")
# A Charging status reported a little before the transaction's start still counts:
# stations stamp StartTransaction and StatusNotification from different clocks.
START_SLACK = timedelta(minutes=1)

ProblemKey = tuple[int, int | None]


@dataclass(frozen=True)
class Problem:
    """A condition that holds now on one charger or connector."""

    organization_id: int
    charger_id: int
    connector_id: int | None  # the Connector's pk
    since: datetime
    title: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> ProblemKey:
        return (self.charger_id, self.connector_id)


Problems = dict[ProblemKey, Problem]
Rules = Mapping[int, AlertRule]  # organization id → its enabled rule


def in_minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def error_codes(row: dict[str, Any]) -> str:
    """A fault's error code and vendor code, as the alert's text names them."""
    codes: str = row["error_code"] or "no error code"
    if row["vendor_error_code"]:
        codes += f", vendor code {row['vendor_error_code']}"
    return codes


def connector_label(cpid: str, number: int) -> str:
    return f"{cpid} connector {number}"


def accepted(prefix: str, rules: Rules) -> dict[str, Any]:
    return {
        f"{prefix}{ORG}__in": list(rules),
        f"{prefix}registration": Charger.Registration.ACCEPTED,
    }


def collect(problems: list[Problem]) -> Problems:
    return {p.key: p for p in problems}
