"""OCPP 2.0.1: what a charging station sends, translated into one domain call each.
An EVSE is the domain's connector (one connector per EVSE)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action

from apps.access.services import id_token_authorize
from apps.chargers import services
from apps.chargers.models import ChargerEvent
from apps.chargers.services.meter_samples import MeterReport
from apps.ocpp_consumer import mappers
from apps.ocpp_consumer.handlers import writers
from apps.ocpp_consumer.handlers.base import HandlerBase, domain

# A token of this type is no token: the station charges without authorization.
NO_AUTHORIZATION = "NoAuthorization"


def _token(id_token: dict[str, Any] | None) -> str | None:
    if not id_token or id_token.get("type") == NO_AUTHORIZATION:
        return None
    return str(id_token["id_token"])


class Handler201(HandlerBase, ChargePoint):
    known_actions = frozenset(Action)

    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **_: Any
    ) -> call_result.BootNotification:
        result = await domain(services.charger_boot)(
            charger=self.charger,
            vendor=charging_station["vendor_name"],
            model=charging_station["model"],
            serial_number=charging_station.get("serial_number", ""),
            firmware_version=charging_station.get("firmware_version", ""),
            ocpp_version=self.version,
            reason=mappers.domain_word(reason),
            details=self.raw_payload,
        )
        self.accepted = result.registration == "accepted"
        return call_result.BootNotification(
            current_time=mappers.format_timestamp(result.at),
            interval=result.heartbeat_interval_s,
            status=mappers.REGISTRATION[result.registration],
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        now = await domain(services.charger_heartbeat)(charger=self.charger)
        return call_result.Heartbeat(current_time=mappers.format_timestamp(now))

    @on(Action.status_notification)
    async def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> call_result.StatusNotification:
        await domain(services.connector_status_update)(
            charger=self.charger,
            connector_id=evse_id,
            status=mappers.connector_status(connector_status, self.version),
            at=mappers.parse_timestamp(timestamp),
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **_: Any) -> call_result.Authorize:
        uid = _token(id_token)
        if uid is None:
            raise ValueError("Authorize needs a token.")
        authorization = await domain(id_token_authorize)(
            zone=self.charger.zone, uid=uid, at=timezone.now(), master_pass=True
        )
        return call_result.Authorize(id_token_info=mappers.id_token_info(authorization))

    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        offline: bool = False,
        evse: dict[str, Any] | None = None,
        id_token: dict[str, Any] | None = None,
        meter_value: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.TransactionEvent:
        event = services.SessionEventReport(
            charger=self.charger,
            transaction_id=transaction_info["transaction_id"],
            kind=mappers.SESSION_EVENT_KIND[event_type],
            seq_no=seq_no,
            at=mappers.parse_timestamp(timestamp),
            trigger=mappers.domain_word(trigger_reason),
            charging_state=mappers.domain_word(transaction_info.get("charging_state")),
            offline=offline,
            connector_id=evse["id"] if evse else None,
            id_tag=_token(id_token),
            stop_reason=mappers.domain_word(transaction_info.get("stopped_reason")),
            samples=mappers.samples_v201(meter_value),
        )
        if services.session_event_groupable(event):
            # Committed together with other stations' events (group commit);
            # answered only once stored.
            result = await writers.session_event_writer().record(event)
        else:
            result = await domain(services.session_event_record)(event=event)
        if result.authorization is None:
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(
            id_token_info=mappers.id_token_info(result.authorization)
        )

    @on(Action.meter_values)
    async def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any
    ) -> call_result.MeterValues:
        # Committed together with other chargers' meter values (group commit);
        # answered only once stored.
        await writers.meter_writer().record(
            MeterReport(
                charger=self.charger,
                connector_id=evse_id,
                samples=mappers.samples_v201(meter_value),
            )
        )
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(
        self, vendor_id: str, message_id: str = "", **_: Any
    ) -> call_result.DataTransfer:
        status = await domain(services.charger_data_transfer)(
            charger=self.charger,
            vendor_id=vendor_id,
            message_id=message_id,
            data=self.raw_payload.get("data"),
        )
        return call_result.DataTransfer(status=mappers.DATA_TRANSFER_STATUS[status])

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(
        self, status: str, **_: Any
    ) -> call_result.FirmwareStatusNotification:
        await self._event(ChargerEvent.Kind.FIRMWARE_STATUS, f"Firmware: {status}")
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(
        self, status: str, **_: Any
    ) -> call_result.LogStatusNotification:
        await self._event(ChargerEvent.Kind.DIAGNOSTICS_STATUS, f"Log upload: {status}")
        return call_result.LogStatusNotification()

    @on(Action.security_event_notification)
    async def on_security_event_notification(
        self, type: str, timestamp: str, **_: Any
    ) -> call_result.SecurityEventNotification:
        await self._event(ChargerEvent.Kind.SECURITY_EVENT, f"Security event: {type}", timestamp)
        return call_result.SecurityEventNotification()

    @on(Action.notify_event)
    async def on_notify_event(
        self, generated_at: str, seq_no: int, event_data: list[dict[str, Any]], **_: Any
    ) -> call_result.NotifyEvent:
        first = event_data[0]
        summary = (
            f"{first['component']['name']}.{first['variable']['name']} = "
            f"{first.get('actual_value', '')} ({first.get('trigger', '')})"
        )
        if len(event_data) > 1:
            summary += f" and {len(event_data) - 1} more"
        await self._event(ChargerEvent.Kind.NOTIFY_EVENT, summary, generated_at)
        return call_result.NotifyEvent()

    @on(Action.notify_report)
    async def on_notify_report(
        self,
        request_id: int,
        generated_at: str,
        seq_no: int,
        tbc: bool = False,
        report_data: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.NotifyReport:
        summary = f"Report {request_id} part {seq_no}: {len(report_data or [])} variables" + (
            ", more to come" if tbc else ""
        )
        await self._event(ChargerEvent.Kind.NOTIFY_REPORT, summary, generated_at)
        return call_result.NotifyReport()

    # --- notifications kept as they came, answered with an empty response ---

    async def _other(self, action: str) -> None:
        await self._event(ChargerEvent.Kind.OTHER, action)

    @on(Action.reservation_status_update)
    async def on_reservation_status_update(
        self, reservation_id: int, reservation_update_status: str, **_: Any
    ) -> call_result.ReservationStatusUpdate:
        await self._event(
            ChargerEvent.Kind.OTHER,
            f"Reservation {reservation_id}: {reservation_update_status}",
        )
        return call_result.ReservationStatusUpdate()

    @on(Action.notify_charging_limit)
    async def on_notify_charging_limit(self, **_: Any) -> call_result.NotifyChargingLimit:
        await self._other("NotifyChargingLimit")
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    async def on_cleared_charging_limit(self, **_: Any) -> call_result.ClearedChargingLimit:
        await self._other("ClearedChargingLimit")
        return call_result.ClearedChargingLimit()

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(self, **_: Any) -> call_result.ReportChargingProfiles:
        await self._other("ReportChargingProfiles")
        return call_result.ReportChargingProfiles()

    @on(Action.notify_monitoring_report)
    async def on_notify_monitoring_report(self, **_: Any) -> call_result.NotifyMonitoringReport:
        await self._other("NotifyMonitoringReport")
        return call_result.NotifyMonitoringReport()

    @on(Action.notify_customer_information)
    async def on_notify_customer_information(
        self, **_: Any
    ) -> call_result.NotifyCustomerInformation:
        await self._other("NotifyCustomerInformation")
        return call_result.NotifyCustomerInformation()

    @on(Action.notify_display_messages)
    async def on_notify_display_messages(self, **_: Any) -> call_result.NotifyDisplayMessages:
        await self._other("NotifyDisplayMessages")
        return call_result.NotifyDisplayMessages()

    @on(Action.publish_firmware_status_notification)
    async def on_publish_firmware_status_notification(
        self, status: str, **_: Any
    ) -> call_result.PublishFirmwareStatusNotification:
        await self._event(ChargerEvent.Kind.FIRMWARE_STATUS, f"Firmware publication: {status}")
        return call_result.PublishFirmwareStatusNotification()
