"""Detectors for a charger's state: a faulted connector or charger, a charger
offline."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, Subquery

from apps.chargers.models import Charger, Connector, StatusChange
from apps.chargers.services.connections import SEEN_WRITE_INTERVAL_S
from apps.monitoring.models import Alert
from apps.monitoring.selectors.alerts.problems import (
    CHARGER_ORG,
    ORG,
    Kind,
    Problem,
    Problems,
    Rules,
    accepted,
    collect,
    connector_label,
    error_codes,
    in_minutes,
)


def problems_connector_faulted(*, rules: Rules, now: datetime) -> Problems:
    """Faulted connectors, and chargers faulted as a whole (connector 0)."""
    rows = (
        Connector.objects.filter(status=Connector.Status.FAULTED, **accepted("charger__", rules))
        .values(
            "pk",
            "connector_id",
            "error_code",
            "vendor_error_code",
            "status_at",
            "charger_id",
            "charger__charge_point_id",
            CHARGER_ORG,
        )
        .order_by("pk")
    )
    found = []
    for row in rows:
        codes = error_codes(row)
        label = connector_label(row["charger__charge_point_id"], row["connector_id"])
        found.append(
            Problem(
                organization_id=row[CHARGER_ORG],
                charger_id=row["charger_id"],
                connector_id=row["pk"],
                since=row["status_at"] or now,
                title=f"{label} is faulted ({codes})",
                details={
                    "error_code": row["error_code"],
                    "vendor_error_code": row["vendor_error_code"],
                },
            )
        )
    return collect(found + _chargers_faulted(rules=rules, now=now))


# A connector-0 fault is looked for among reports of the last day (an index range
# per charger), plus the chargers whose charger-wide fault alert is still open.
WHOLE_CHARGER_LOOKBACK = timedelta(days=1)


def _chargers_faulted(*, rules: Rules, now: datetime) -> list[Problem]:
    """Faults of the whole charger (OCPP connector 0): its latest connector-0 status
    report says Faulted. Three queries: the candidates (a fault reported lately,
    or an alert still open), their latest connector-0 report, and those reports."""
    still_open = Alert.objects.filter(
        kind=Kind.CONNECTOR_FAULTED, status=Alert.Status.OPEN, connector__isnull=True
    ).values("charger_id")
    reported = StatusChange.objects.filter(
        charger_id=OuterRef("pk"),
        connector__isnull=True,
        status=Connector.Status.FAULTED,
        reported_at__gte=now - WHOLE_CHARGER_LOOKBACK,
    )
    candidates = list(
        Charger.objects.filter(**accepted("", rules))
        .filter(Q(pk__in=still_open) | Exists(reported))
        .values_list("pk", flat=True)
        .order_by("pk")
    )
    if not candidates:
        return []
    latest = (
        StatusChange.objects.filter(charger_id=OuterRef("pk"), connector__isnull=True)
        .order_by("-reported_at", "-pk")
        .values("pk")[:1]
    )
    latest_ids = (
        Charger.objects.filter(pk__in=candidates)
        .annotate(latest=Subquery(latest))
        .values_list("latest", flat=True)
    )
    rows = (
        StatusChange.objects.filter(pk__in=[pk for pk in latest_ids if pk is not None])
        .filter(status=Connector.Status.FAULTED)
        .values(
            "charger_id",
            "charger__charge_point_id",
            "error_code",
            "vendor_error_code",
            "reported_at",
            CHARGER_ORG,
        )
        .order_by("charger_id")
    )
    found = []
    for row in rows:
        codes = error_codes(row)
        found.append(
            Problem(
                organization_id=row[CHARGER_ORG],
                charger_id=row["charger_id"],
                connector_id=None,
                since=row["reported_at"],
                title=f"{row['charger__charge_point_id']} is faulted ({codes})",
                details={
                    "error_code": row["error_code"],
                    "vendor_error_code": row["vendor_error_code"],
                },
            )
        )
    return found


def problems_charger_offline(*, rules: Rules, now: datetime) -> Problems:
    """Offline: the socket dropped, or the charger is connected but silent (missed
    heartbeats) for longer than the threshold. A charger never heard from is not
    offline, it was never installed."""
    shortest = min(rule.threshold_minutes for rule in rules.values())
    rows = (
        Charger.objects.filter(**accepted("", rules), last_seen_at__isnull=False)
        .filter(Q(channel_name="") | Q(last_seen_at__lt=now - in_minutes(shortest)))
        .values("pk", "charge_point_id", "channel_name", "last_seen_at", "disconnected_at", ORG)
        .order_by("pk")
    )
    found = []
    for row in rows:
        rule = rules[row[ORG]]
        last_seen: datetime = row["last_seen_at"]
        if row["channel_name"]:
            if last_seen > now - in_minutes(rule.threshold_minutes):
                continue
            since, why = last_seen, "no heartbeat or message"
        else:
            since, why = _offline_since(row["disconnected_at"], last_seen), "connection dropped"
        found.append(
            Problem(
                organization_id=row[ORG],
                charger_id=row["pk"],
                connector_id=None,
                since=since,
                title=f"{row['charge_point_id']} is offline ({why})",
                details={"reason": why, "last_seen_at": last_seen.isoformat()},
            )
        )
    return collect(found)


def _offline_since(disconnected_at: datetime | None, last_seen: datetime) -> datetime:
    """When a charger without a socket went quiet. A closed socket is recorded when
    it closes; a dead one only when the presence sweep gives up on it, minutes after
    the charger's last word. last_seen_at lags the truth by at most the consumer's
    write throttle, so the last word plus that throttle bounds the real time."""
    if disconnected_at is None or disconnected_at < last_seen:
        return last_seen
    return min(disconnected_at, last_seen + timedelta(seconds=SEEN_WRITE_INTERVAL_S))
