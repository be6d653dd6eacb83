"""Detectors for charging sessions: not started, preparing too long, never
ending, meter values missing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from apps.chargers.models import ChargingSession, Connector, MeterSample, SessionEvent, StatusChange
from apps.monitoring.selectors.alerts.problems import (
    CHARGER_ORG,
    START_SLACK,
    Problem,
    Problems,
    Rules,
    accepted,
    collect,
    connector_label,
    in_minutes,
)


def _active_sessions(rules: Rules) -> QuerySet[ChargingSession]:
    return ChargingSession.objects.filter(
        state=ChargingSession.State.ACTIVE, **accepted("charger__", rules)
    )


def _session_problem(row: dict[str, Any], title: str, since: datetime) -> Problem:
    return Problem(
        organization_id=row[CHARGER_ORG],
        charger_id=row["charger_id"],
        connector_id=row["connector_id"],
        since=since,
        title=title,
        details={
            "session_id": row["pk"],
            "ocpp_transaction_id": row["ocpp_transaction_id"],
            "started_at": row["started_at"].isoformat(),
        },
    )


_SESSION_FIELDS = (
    "pk",
    "ocpp_transaction_id",
    "started_at",
    "charger_id",
    "connector_id",
    "connector__connector_id",
    "charger__charge_point_id",
    CHARGER_ORG,
)


def _session_label(row: dict[str, Any]) -> str:
    number = row["connector__connector_id"]
    cpid = row["charger__charge_point_id"]
    return connector_label(cpid, number) if number else cpid


def problems_session_not_started(*, rules: Rules, now: datetime) -> Problems:
    """A transaction began (the driver was authorized) but energy never flowed: the
    connector has not been Charging since the session started."""
    charged_status = StatusChange.objects.filter(
        connector_id=OuterRef("connector_id"),
        status=Connector.Status.CHARGING,
        reported_at__gte=OuterRef("started_at") - START_SLACK,
    )
    charged_event = SessionEvent.objects.filter(
        session_id=OuterRef("pk"), charging_state="charging"
    )
    rows = (
        _active_sessions(rules)
        .exclude(connector__status=Connector.Status.CHARGING)
        .filter(~Exists(charged_status), ~Exists(charged_event))
        .values(*_SESSION_FIELDS)
        .order_by("pk")
    )
    return collect(
        [
            _session_problem(
                row,
                f"{_session_label(row)}: session authorized but never started charging",
                row["started_at"],
            )
            for row in rows
        ]
    )


def problems_preparing_too_long(*, rules: Rules, now: datetime) -> Problems:
    rows = (
        Connector.objects.filter(status=Connector.Status.PREPARING, **accepted("charger__", rules))
        .values(
            "pk", "connector_id", "status_at", "charger_id", "charger__charge_point_id", CHARGER_ORG
        )
        .order_by("pk")
    )
    return collect(
        [
            Problem(
                organization_id=row[CHARGER_ORG],
                charger_id=row["charger_id"],
                connector_id=row["pk"],
                since=row["status_at"] or now,
                title=f"{connector_label(row['charger__charge_point_id'], row['connector_id'])} "
                "has been Preparing too long",
            )
            for row in rows
        ]
    )


def problems_session_never_ends(*, rules: Rules, now: datetime) -> Problems:
    shortest = min(rule.threshold_minutes for rule in rules.values())
    rows = (
        _active_sessions(rules)
        .filter(started_at__lt=now - in_minutes(shortest))
        .values(*_SESSION_FIELDS)
        .order_by("pk")
    )
    found = []
    for row in rows:
        if row["started_at"] > now - in_minutes(rules[row[CHARGER_ORG]].threshold_minutes):
            continue
        hours = (now - row["started_at"]).total_seconds() / 3600
        found.append(
            _session_problem(
                row, f"{_session_label(row)}: session running for {hours:.0f} h", row["started_at"]
            )
        )
    return collect(found)


def problems_meter_values_missing(*, rules: Rules, now: datetime) -> Problems:
    """Charging, yet no meter value since the threshold: billing and load management
    are blind. Counted from the later of the last sample and the start of Charging."""
    shortest = min(rule.threshold_minutes for rule in rules.values())
    last_sample = (
        MeterSample.objects.filter(
            charger_id=OuterRef("charger_id"), connector_id=OuterRef("connector_id")
        )
        .order_by("-sampled_at")
        .values("sampled_at")[:1]
    )
    rows = (
        Connector.objects.filter(
            status=Connector.Status.CHARGING,
            status_at__lt=now - in_minutes(shortest),
            **accepted("charger__", rules),
        )
        .annotate(last_sample_at=Subquery(last_sample))
        .values(
            "pk",
            "connector_id",
            "status_at",
            "last_sample_at",
            "charger_id",
            "charger__charge_point_id",
            CHARGER_ORG,
        )
        .order_by("pk")
    )
    found = []
    for row in rows:
        since = max(t for t in (row["status_at"], row["last_sample_at"]) if t is not None)
        if since > now - in_minutes(rules[row[CHARGER_ORG]].threshold_minutes):
            continue
        minutes = int((now - since).total_seconds() // 60)
        label = connector_label(row["charger__charge_point_id"], row["connector_id"])
        found.append(
            Problem(
                organization_id=row[CHARGER_ORG],
                charger_id=row["charger_id"],
                connector_id=row["pk"],
                since=since,
                title=f"{label}: charging without meter values for {minutes} min",
                details={
                    "last_sample_at": row["last_sample_at"].isoformat()
                    if row["last_sample_at"]
                    else None
                },
            )
        )
    return collect(found)
