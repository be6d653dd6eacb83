"""OCPP 1.6J: what a charge point sends, translated into one domain call each.
Handlers hold no rules: they parse, call a service, and render its answer."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from apps.access.services import id_token_authorize
from apps.chargers import services
from apps.chargers.models import ChargerEvent
from apps.chargers.services.sessions import MeterReport
from apps.ocpp_consumer import mappers
from apps.ocpp_consumer.handlers import writers
from apps.ocpp_consumer.handlers.base import HandlerBase, domain


class Handler16(HandlerBase, ChargePoint):
    known_actions = frozenset(Action)
    # 1.6 forbids a pending station nothing explicitly but charging.
    actions_requiring_acceptance = frozenset({"Authorize", "StartTransaction"})

    @on(Action.boot_notification)
    async def on_boot_notification(
        self,
        charge_point_vendor: str,
        charge_point_model: str,
        charge_point_serial_number: str = "",
        charge_box_serial_number: str = "",
        firmware_version: str = "",
        **details: Any,
    ) -> call_result.BootNotification:
        result = await domain(services.charger_boot)(
            charger=self.charger,
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial_number=charge_point_serial_number or charge_box_serial_number,
            firmware_version=firmware_version,
            ocpp_version=self.version,
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
        self,
        connector_id: int,
        error_code: str,
        status: str,
        timestamp: str | None = None,
        info: str = "",
        vendor_error_code: str = "",
        **_: Any,
    ) -> call_result.StatusNotification:
        await domain(services.connector_status_update)(
            charger=self.charger,
            connector_id=connector_id,
            status=mappers.connector_status(status, self.version),
            error_code=mappers.error_code_v16(error_code),
            vendor_error_code=vendor_error_code,
            info=info,
            at=mappers.parse_timestamp(timestamp) if timestamp else timezone.now(),
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        authorization = await domain(id_token_authorize)(
            zone=self.charger.zone, uid=id_tag, at=timezone.now()
        )
        return call_result.Authorize(id_tag_info=mappers.id_tag_info(authorization))

    @on(Action.start_transaction)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> call_result.StartTransaction:
        result = await domain(services.session_start)(
            charger=self.charger,
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start_wh=meter_start,
            started_at=mappers.parse_timestamp(timestamp),
        )
        assert result.session is not None and result.authorization is not None  # noqa: S101
        return call_result.StartTransaction(
            transaction_id=int(result.session.ocpp_transaction_id),
            id_tag_info=mappers.id_tag_info(result.authorization),
        )

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self,
        meter_stop: int,
        timestamp: str,
        transaction_id: int,
        reason: str = "",
        id_tag: str = "",
        transaction_data: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.StopTransaction:
        # Always answered, even for an unknown transaction: the energy was delivered
        # and a charger that hears an error would resend the stop forever.
        result = await domain(services.session_stop)(
            charger=self.charger,
            transaction_id=str(transaction_id),
            meter_stop_wh=meter_stop,
            stopped_at=mappers.parse_timestamp(timestamp),
            reason=mappers.domain_word(reason),
            id_tag=id_tag,
            samples=mappers.samples_v16(transaction_data or []),
        )
        if result.authorization is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(id_tag_info=mappers.id_tag_info(result.authorization))

    @on(Action.meter_values)
    async def on_meter_values(
        self,
        connector_id: int,
        meter_value: list[dict[str, Any]],
        transaction_id: int | None = None,
        **_: Any,
    ) -> call_result.MeterValues:
        # Committed together with other chargers' meter values (group commit);
        # answered only once stored.
        await writers.meter_writer().record(
            MeterReport(
                charger=self.charger,
                connector_id=connector_id,
                samples=mappers.samples_v16(meter_value),
                transaction_id=None if transaction_id is None else str(transaction_id),
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

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(
        self, status: str, **_: Any
    ) -> call_result.DiagnosticsStatusNotification:
        await self._event(ChargerEvent.Kind.DIAGNOSTICS_STATUS, f"Diagnostics upload: {status}")
        return call_result.DiagnosticsStatusNotification()

    # --- the 1.6 security extension (security profiles, security log) ---------

    @on(Action.security_event_notification)
    async def on_security_event_notification(
        self, type: str, timestamp: str, **_: Any
    ) -> call_result.SecurityEventNotification:
        await self._event(ChargerEvent.Kind.SECURITY_EVENT, f"Security event: {type}", timestamp)
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(
        self, status: str, request_id: int | None = None, **_: Any
    ) -> call_result.LogStatusNotification:
        await self._event(ChargerEvent.Kind.DIAGNOSTICS_STATUS, f"Log upload: {status}")
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(
        self, status: str, **_: Any
    ) -> call_result.SignedFirmwareStatusNotification:
        await self._event(ChargerEvent.Kind.FIRMWARE_STATUS, f"Signed firmware: {status}")
        return call_result.SignedFirmwareStatusNotification()
