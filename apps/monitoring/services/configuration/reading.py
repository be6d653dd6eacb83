"""Reading a charger's configuration: 1.6 GetConfiguration, 2.0.1 GetVariables
or GetBaseReport + NotifyReport, stored as a ChargerConfiguration."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.chargers import commands
from apps.chargers.exceptions import CommandRejected
from apps.chargers.models import Charger, ChargerEvent, CommandLog
from apps.monitoring.models import ChargerConfiguration
from apps.monitoring.services.configuration.common import check_manager, is_v16
from apps.monitoring.services.configuration.drift import charger_configuration_drift_evaluate

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


# A 2.0.1 base report whose parts never all arrived is given up after this long.
REPORT_WAIT = timedelta(minutes=15)


def charger_configuration_read(
    *,
    charger: Charger,
    keys: Sequence[str] | None = None,
    issued_by: AnyUser | None = None,
    source: str = CommandLog.Source.SYSTEM,
    timeout: float | None = None,
) -> ChargerConfiguration:
    """Ask the charger for its configuration (`keys` only, or all of it) and store
    the reading. A 2.0.1 charger asked for all of it answers with a base report in
    parts (NotifyReport): the reading stays pending until `configuration_reports_collect`
    has them all. Raises the command's domain errors (offline, no answer...)."""
    check_manager(charger, issued_by)
    requested_at = timezone.now()
    result = commands.command_send_sync(
        charger=charger,
        command="get-configuration",
        params={"keys": list(keys)} if keys else {},
        issued_by=issued_by,
        source=source,
        timeout=timeout,
    )
    return configuration_store(
        charger=charger,
        response=result.response,
        command_id=result.command_id,
        requested_keys=list(keys or []),
        requested_at=requested_at,
    )


@transaction.atomic
def configuration_store(
    *,
    charger: Charger,
    response: dict[str, Any],
    command_id: int,
    requested_keys: list[str],
    requested_at: datetime,
) -> ChargerConfiguration:
    now = timezone.now()
    if "report_request_id" in response:
        status = response.get("status", "")
        if status != "Accepted":
            raise CommandRejected(
                f"Charger {charger.charge_point_id} refused the configuration report: {status}."
            )
        return ChargerConfiguration.objects.create(
            charger=charger,
            source=ChargerConfiguration.Source.BASE_REPORT,
            status=ChargerConfiguration.Status.PENDING,
            report_request_id=response["report_request_id"],
            command_id=command_id,
            requested_at=requested_at,
        )
    values: dict[str, Any] = {}
    readonly: list[str] = []
    for entry in response.get("configuration", []):
        values[entry["key"]] = entry.get("value")
        if entry.get("readonly"):
            readonly.append(entry["key"])
    reading = ChargerConfiguration.objects.create(
        charger=charger,
        source=(
            ChargerConfiguration.Source.GET_CONFIGURATION
            if is_v16(charger)
            else ChargerConfiguration.Source.GET_VARIABLES
        ),
        values=values,
        readonly_keys=sorted(readonly),
        unknown_keys=list(response.get("unknown_keys", [])),
        requested_keys=requested_keys,
        command_id=command_id,
        requested_at=requested_at,
        reported_at=now,
    )
    charger_configuration_drift_evaluate(charger=charger, now=now)
    return reading


def _report_label(entry: dict[str, Any]) -> str:
    """A NotifyReport variable as "Component[instance].Variable[instance]", the label
    GetVariables answers carry (apps/ocpp_consumer/commands.py)."""

    def part(named: dict[str, Any]) -> str:
        name = str(named.get("name", ""))
        return f"{name}[{named['instance']}]" if named.get("instance") else name

    return f"{part(entry.get('component', {}))}.{part(entry.get('variable', {}))}"


@transaction.atomic
def configuration_reports_collect(*, now: datetime) -> list[ChargerConfiguration]:
    """Complete the pending 2.0.1 readings whose NotifyReport parts have all arrived
    (kept by the OCPP edge as charger events); give up on those older than
    REPORT_WAIT. Returns the readings completed."""
    completed = []
    pending = (
        ChargerConfiguration.objects.select_for_update()
        .filter(status=ChargerConfiguration.Status.PENDING)
        .select_related("charger")
        .order_by("requested_at", "pk")
    )
    for reading in pending:
        parts: dict[int, dict[str, Any]] = {}
        events = ChargerEvent.objects.filter(
            charger_id=reading.charger_id,
            kind=ChargerEvent.Kind.NOTIFY_REPORT,
            received_at__gte=reading.requested_at,
        ).order_by("received_at", "pk")
        for event in events:
            payload = event.payload or {}
            if payload.get("requestId") == reading.report_request_id:
                parts[int(payload.get("seqNo", 0))] = payload
        last = [seq for seq, p in parts.items() if not p.get("tbc", False)]
        if not last or set(parts) != set(range(max(last) + 1)):
            if reading.requested_at < now - REPORT_WAIT:
                reading.delete()
            continue
        values: dict[str, Any] = {}
        readonly: list[str] = []
        for seq in sorted(parts):
            for entry in parts[seq].get("reportData", []):
                label = _report_label(entry)
                attributes = entry.get("variableAttribute", [])
                actual = next(
                    (a for a in attributes if a.get("type", "Actual") == "Actual"),
                    attributes[0] if attributes else {},
                )
                values[label] = actual.get("value")
                if actual.get("mutability") == "ReadOnly":
                    readonly.append(label)
        reading.values = values
        reading.readonly_keys = sorted(readonly)
        reading.status = ChargerConfiguration.Status.COMPLETE
        reading.reported_at = now
        reading.save(update_fields=["values", "readonly_keys", "status", "reported_at"])
        charger_configuration_drift_evaluate(charger=reading.charger, now=now)
        completed.append(reading)
    return completed
