"""API schemas of alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from apps.monitoring.models import Alert, AlertRule


class AlertFilterIn(Schema):
    status: Alert.Status | None = Field(None, description="open or resolved.")
    charger: str | None = Field(None, description="Only this charger's (a charge point id).")
    kind: AlertRule.Kind | None = None


class AlertOut(Schema):
    id: int
    kind: AlertRule.Kind
    status: Alert.Status
    severity: Alert.Severity
    title: str
    charge_point_id: str
    connector_id: int | None = Field(description="The connector's number; null: the charger.")
    details: dict[str, Any] = Field(
        description="What was seen: error and vendor codes, the session, counts."
    )
    since_at: datetime | None = Field(description="When the condition began.")
    opened_at: datetime
    resolved_at: datetime | None
    resolved_reason: str
    escalated_at: datetime | None
    escalation_reason: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None = Field(description="The username of who acknowledged it.")

    @staticmethod
    def resolve_charge_point_id(alert: Alert) -> str:
        return alert.charger.charge_point_id

    @staticmethod
    def resolve_connector_id(alert: Alert) -> int | None:
        return alert.connector.connector_id if alert.connector else None

    @staticmethod
    def resolve_acknowledged_by(alert: Alert) -> str | None:
        user = alert.acknowledged_by
        return user.get_username() if user is not None else None
