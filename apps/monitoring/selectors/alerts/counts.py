"""Detectors that count events in the rule's window: commands refused, repeated
reboots."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from apps.chargers.models import Charger, ChargerEvent, CommandLog
from apps.monitoring.selectors.alerts.problems import (
    CHARGER_ORG,
    REFUSED_STATUSES,
    Problem,
    Problems,
    Rules,
    collect,
    in_minutes,
)


def _windows(rules: Rules) -> dict[int, list[int]]:
    """Organizations grouped by their rule's window: one query per distinct window."""
    grouped: dict[int, list[int]] = defaultdict(list)
    for org_id, rule in rules.items():
        grouped[rule.threshold_minutes].append(org_id)
    return grouped


def _counting(
    *,
    rules: Rules,
    now: datetime,
    rows_for: Callable[[datetime, list[int]], QuerySet[Any]],
    title: Callable[[str, int, int], str],
) -> Problems:
    found = []
    for window, org_ids in sorted(_windows(rules).items()):
        for row in rows_for(now - in_minutes(window), org_ids):
            rule = rules[row[CHARGER_ORG]]
            if row["n"] < rule.threshold_count:
                continue
            found.append(
                Problem(
                    organization_id=row[CHARGER_ORG],
                    charger_id=row["charger_id"],
                    connector_id=None,
                    since=now,
                    title=title(row["charger__charge_point_id"], row["n"], window),
                    details={"count": row["n"], "window_minutes": window},
                )
            )
    return collect(found)


def problems_commands_rejected(*, rules: Rules, now: datetime) -> Problems:
    def rows_for(start: datetime, org_ids: list[int]) -> QuerySet[Any]:
        return (
            CommandLog.objects.filter(
                created_at__gte=start,
                **{f"{CHARGER_ORG}__in": org_ids},
                charger__registration=Charger.Registration.ACCEPTED,
            )
            .filter(
                Q(outcome=CommandLog.Outcome.ERROR)
                | Q(outcome=CommandLog.Outcome.ANSWERED, status__in=REFUSED_STATUSES)
            )
            .values("charger_id", "charger__charge_point_id", CHARGER_ORG)
            .annotate(n=Count("pk"), last=Max("created_at"))
            .order_by("charger_id")
        )

    return _counting(
        rules=rules,
        now=now,
        rows_for=rows_for,
        title=lambda cpid, n, w: f"{cpid} refused {n} remote commands in {w} min",
    )


def problems_repeated_reboots(*, rules: Rules, now: datetime) -> Problems:
    def rows_for(start: datetime, org_ids: list[int]) -> QuerySet[Any]:
        return (
            ChargerEvent.objects.filter(
                kind=ChargerEvent.Kind.BOOT,
                received_at__gte=start,
                **{f"{CHARGER_ORG}__in": org_ids},
                charger__registration=Charger.Registration.ACCEPTED,
            )
            .values("charger_id", "charger__charge_point_id", CHARGER_ORG)
            .annotate(n=Count("pk"))
            .order_by("charger_id")
        )

    return _counting(
        rules=rules,
        now=now,
        rows_for=rows_for,
        title=lambda cpid, n, w: f"{cpid} rebooted {n} times in {w} min",
    )
