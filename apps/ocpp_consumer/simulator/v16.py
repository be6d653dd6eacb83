"""The OCPP 1.6J face of a simulated station."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from apps.ocpp_consumer.simulator.link import Link, readings
from apps.ocpp_consumer.simulator.station import isotime, utcnow

if TYPE_CHECKING:
    from apps.ocpp_consumer.simulator.station import ConnectorState, Station

DATA_TRANSFER_VENDOR = "Plugboard.Simulator"

# key: (read-only, default as text). AuthorizationKey is write-only: never reported.
CONFIGURATION: dict[str, tuple[bool, str]] = {
    "AuthorizeRemoteTxRequests": (False, "false"),
    "ChargeProfileMaxStackLevel": (True, "10"),
    "ChargingScheduleAllowedChargingRateUnit": (True, "Current,Power"),
    "ChargingScheduleMaxPeriods": (True, "24"),
    "ClockAlignedDataInterval": (False, "0"),
    "ConnectionTimeOut": (False, "60"),
    "HeartbeatInterval": (False, "300"),
    "LocalAuthListEnabled": (False, "true"),
    "LocalAuthListMaxLength": (True, "1000"),
    "LocalAuthorizeOffline": (False, "true"),
    "MaxChargingProfilesInstalled": (True, "10"),
    "MeterValueSampleInterval": (False, "30"),
    "MeterValuesSampledData": (
        False,
        "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
    ),
    "NumberOfConnectors": (True, "1"),
    "ReserveConnectorZeroSupported": (True, "false"),
    "SecurityProfile": (False, "0"),
    "SendLocalListMaxLength": (True, "100"),
    "StopTransactionOnEVSideDisconnect": (True, "true"),
    "SupportedFeatureProfiles": (
        True,
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
    ),
    "WebSocketPingInterval": (False, "0"),
}
_INTEGER_KEYS = {
    "ClockAlignedDataInterval",
    "ConnectionTimeOut",
    "HeartbeatInterval",
    "MeterValueSampleInterval",
    "SecurityProfile",
    "WebSocketPingInterval",
}

_STOP_REASONS = {"ImmediateReset": "HardReset"}  # the 2.0.1 spelling, should one reach us


def _sampled(station: Station, c: ConnectorState, context: str) -> dict[str, Any]:
    values = []
    for measurand, value, unit, phase in readings(station, c):
        sample = {
            "value": f"{value:g}" if unit != "Wh" else str(int(value)),
            "context": context,
            "measurand": measurand,
            "unit": unit,
            "location": "EV" if measurand == "SoC" else "Outlet",
        }
        if phase:
            sample["phase"] = phase
        values.append(sample)
    return {"timestamp": isotime(), "sampledValue": values}


class V16Link(Link, ChargePoint):
    subprotocol: ClassVar[str] = "ocpp1.6"

    @staticmethod
    def default_config(station: Station) -> dict[str, str]:
        config = {key: default for key, (_, default) in CONFIGURATION.items()}
        config["NumberOfConnectors"] = str(len(station.connectors))
        config["MeterValueSampleInterval"] = str(int(station.meter_interval_s))
        return config

    # ------------------------------------------------------------- outgoing

    async def boot(self, reason: str) -> tuple[str, int]:
        spec = self.station.spec
        result = await self.send_call(
            call.BootNotification(
                charge_point_model=spec.model,
                charge_point_vendor=spec.vendor,
                charge_point_serial_number=spec.serial_number or None,
                firmware_version=self.station.firmware_version,
            )
        )
        return result.status, int(result.interval)

    async def heartbeat(self) -> None:
        await self.send_call(call.Heartbeat())

    async def status(self, c: ConnectorState) -> None:
        await self.send_call(
            call.StatusNotification(
                connector_id=c.connector_id,
                error_code=c.error_code,
                status=c.status,
                timestamp=isotime(),
            )
        )

    async def authorize(self, id_tag: str) -> bool:
        result = await self.send_call(call.Authorize(id_tag=id_tag))
        return result.id_tag_info["status"] == "Accepted"

    async def start_transaction(self, c: ConnectorState) -> bool:
        assert c.id_tag is not None  # noqa: S101 (set by the scenario before starting)
        c.tx_meter_start_wh = c.meter.register_int_wh
        reservation = c.reservation.reservation_id if c.reservation else None
        started_at = utcnow()
        result = await self.send_call(
            call.StartTransaction(
                connector_id=c.connector_id,
                id_tag=c.id_tag,
                meter_start=c.tx_meter_start_wh,
                timestamp=isotime(started_at),
                reservation_id=reservation,
            )
        )
        c.transaction_id = str(result.transaction_id)
        c.tx_started_at = started_at
        return result.id_tag_info["status"] == "Accepted"

    @classmethod
    def meter_values_payload(cls, station: Station, c: ConnectorState, context: str) -> Any:
        tx = int(c.transaction_id) if c.transaction_id else None
        return call.MeterValues(
            connector_id=c.connector_id,
            meter_value=[_sampled(station, c, context)],
            transaction_id=tx,
        )

    @classmethod
    def stop_payload(cls, station: Station, c: ConnectorState, reason: str) -> Any:
        assert c.transaction_id is not None  # noqa: S101 (only called during a transaction)
        stop_at = isotime()
        end = {
            "timestamp": stop_at,
            "sampledValue": [
                {
                    "value": str(c.meter.register_int_wh),
                    "context": "Transaction.End",
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "Wh",
                }
            ],
        }
        return call.StopTransaction(
            meter_stop=c.meter.register_int_wh,
            timestamp=stop_at,
            transaction_id=int(c.transaction_id),
            reason=_STOP_REASONS.get(reason, reason),
            id_tag=c.id_tag,
            transaction_data=[end],
        )

    async def firmware_status(self, status: str, request_id: int | None) -> None:
        await self.send_call(call.FirmwareStatusNotification(status=status))

    async def upload_status(self, status: str, request_id: int | None) -> None:
        await self.send_call(call.DiagnosticsStatusNotification(status=status))

    # ------------------------------------------------------------- incoming

    @on(Action.remote_start_transaction)
    def on_remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
    ) -> call_result.RemoteStartTransaction:
        c = self.station.connector(connector_id)
        if c is None or not self.station.request_start(c, id_tag):
            return call_result.RemoteStartTransaction(status="Rejected")
        if charging_profile is not None:
            from apps.ocpp_consumer.simulator.profiles import Profile

            self.station.profiles.install(Profile.from_v16(c.connector_id, charging_profile))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        c = self.station.by_transaction(str(transaction_id))
        ok = c is not None and self.station.request_stop(c, "Remote")
        return call_result.RemoteStopTransaction(status="Accepted" if ok else "Rejected")

    @on(Action.reset)
    def on_reset(self, type: str) -> call_result.Reset:  # noqa: A002 (the OCPP field name)
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    def after_reset(self, type: str) -> None:  # noqa: A002
        reason = "HardReset" if type == "Hard" else "SoftReset"
        self.station.spawn(self.station.reset(reason, hard=type == "Hard"))

    @on(Action.unlock_connector)
    def on_unlock(self, connector_id: int) -> call_result.UnlockConnector:
        c = self.station.connectors.get(connector_id)
        if c is None:
            return call_result.UnlockConnector(status="NotSupported")
        self.station.request_stop(c, "UnlockCommand")
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    def on_change_availability(
        self, connector_id: int, type: str
    ) -> call_result.ChangeAvailability:  # noqa: A002
        status = self.station.set_availability(connector_id, type == "Operative")
        return call_result.ChangeAvailability(status=status)

    @after(Action.change_availability)
    def after_change_availability(self, connector_id: int, type: str) -> None:  # noqa: A002
        self.station.spawn(self.station.report_availability())

    @on(Action.trigger_message)
    def on_trigger(
        self, requested_message: str, connector_id: int | None = None
    ) -> call_result.TriggerMessage:
        if requested_message not in {
            "BootNotification",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "StatusNotification",
        }:
            return call_result.TriggerMessage(status="NotImplemented")
        if connector_id is not None and connector_id not in self.station.connectors:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    def after_trigger(self, requested_message: str, connector_id: int | None = None) -> None:
        self.station.spawn(self._triggered(requested_message, connector_id))

    async def _triggered(self, message: str, connector_id: int | None) -> None:
        station = self.station
        targets = [
            c
            for c in station.connectors.values()
            if connector_id in (None, 0) or c.connector_id == connector_id
        ]
        if message == "BootNotification":
            await self.boot("Triggered")
        elif message == "Heartbeat":
            await self.heartbeat()
        elif message == "StatusNotification":
            for c in targets:
                await self.status(c)
        elif message == "MeterValues":
            for c in targets:
                await self.send_call(self.meter_values_payload(station, c, "Trigger"))
        elif message == "FirmwareStatusNotification":
            await self.firmware_status("Idle", None)
        elif message == "DiagnosticsStatusNotification":
            await self.upload_status("Idle", None)

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        config = self.station.config
        wanted = key or list(config)
        known = [
            {"key": k, "readonly": CONFIGURATION[k][0], "value": config[k]}
            for k in wanted
            if k in config
        ]
        unknown = [k for k in wanted if k not in config]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        station = self.station
        if key == "AuthorizationKey":
            # The new Basic-auth password; the station reconnects with it (1.6 security
            # whitepaper §2.3). 16 to 40 characters.
            if not 16 <= len(value) <= 40:
                return call_result.ChangeConfiguration(status="Rejected")
            return call_result.ChangeConfiguration(status="Accepted")
        if key not in CONFIGURATION:
            return call_result.ChangeConfiguration(status="NotSupported")
        if CONFIGURATION[key][0]:
            return call_result.ChangeConfiguration(status="Rejected")
        if key in _INTEGER_KEYS:
            try:
                number = int(value)
            except ValueError:
                return call_result.ChangeConfiguration(status="Rejected")
            if number < 0:
                return call_result.ChangeConfiguration(status="Rejected")
            if key == "HeartbeatInterval" and number > 0:
                station.heartbeat_interval_s = float(number)
            if key == "MeterValueSampleInterval" and number > 0:
                station.meter_interval_s = float(number)
        station.config[key] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @after(Action.change_configuration)
    def after_change_configuration(self, key: str, value: str) -> None:
        if key == "AuthorizationKey" and 16 <= len(value) <= 40:
            self.station.password = value
            self.station.reconnect.set()

    @on(Action.clear_cache)
    def on_clear_cache(self) -> call_result.ClearCache:
        return call_result.ClearCache(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> call_result.DataTransfer:
        if vendor_id != DATA_TRANSFER_VENDOR:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id not in (None, "Echo"):
            return call_result.DataTransfer(status="UnknownMessageId")
        return call_result.DataTransfer(status="Accepted", data=data)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any]
    ) -> call_result.SetChargingProfile:
        from apps.ocpp_consumer.simulator.profiles import Profile

        station = self.station
        if connector_id != 0 and connector_id not in station.connectors:
            return call_result.SetChargingProfile(status="Rejected")
        purpose = cs_charging_profiles.get("charging_profile_purpose")
        if purpose == "TxProfile":
            c = station.connectors.get(connector_id)
            # A TxProfile needs a transaction on that connector (1.6 §5.16.3).
            if c is None or not c.in_transaction:
                return call_result.SetChargingProfile(status="Rejected")
            if cs_charging_profiles.get("transaction_id") is None:
                cs_charging_profiles = {**cs_charging_profiles, "transaction_id": c.transaction_id}
        if purpose == "ChargePointMaxProfile" and connector_id != 0:
            return call_result.SetChargingProfile(status="Rejected")
        try:
            profile = Profile.from_v16(connector_id, cs_charging_profiles)
        except (KeyError, ValueError, TypeError):
            return call_result.SetChargingProfile(status="Rejected")
        station.profiles.install(profile)
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,  # noqa: A002 (the OCPP field name)
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
    ) -> call_result.ClearChargingProfile:
        removed = self.station.profiles.clear(
            profile_id=id,
            connector_id=connector_id,
            purpose=charging_profile_purpose,
            stack_level=stack_level,
        )
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> call_result.GetCompositeSchedule:
        station = self.station
        c = station.connectors.get(connector_id)
        if connector_id != 0 and c is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit = charging_rate_unit or "W"
        start = utcnow().replace(microsecond=0)
        periods = station.profiles.composite(
            connector_id,
            start,
            duration,
            tx_started_at=c.tx_started_at if c else None,
            transaction_id=c.transaction_id if c else None,
            voltage_v=station.spec.voltage_v,
            phases=station.spec.phases,
            unit=unit,
        )
        if not periods:
            rating = station.spec.max_power_w
            limit = (
                rating if unit == "W" else rating / (station.spec.voltage_v * station.spec.phases)
            )
            periods = [(0, round(limit, 1))]
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=isotime(start),
            charging_schedule={
                "duration": duration,
                "start_schedule": isotime(start),
                "charging_rate_unit": unit,
                "charging_schedule_period": [
                    {"start_period": offset, "limit": limit} for offset, limit in periods
                ],
            },
        )

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
    ) -> call_result.ReserveNow:
        station = self.station
        if connector_id == 0:  # ReserveConnectorZeroSupported is false
            return call_result.ReserveNow(status="Rejected")
        status = station.reserve(connector_id, reservation_id, id_tag, station.expiry(expiry_date))
        return call_result.ReserveNow(status=status)

    @after(Action.reserve_now)
    def after_reserve_now(self, connector_id: int, reservation_id: int, **_: Any) -> None:
        c = self.station.connectors.get(connector_id)
        if c is not None and c.reservation and c.reservation.reservation_id == reservation_id:
            self.station.spawn(self.station.set_status(c, "Reserved"))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int) -> call_result.CancelReservation:
        c = self.station.cancel_reservation(reservation_id)
        if c is None:
            return call_result.CancelReservation(status="Rejected")
        if not c.in_transaction:
            self.station.spawn(self.station.set_status(c, "Available"))
        return call_result.CancelReservation(status="Accepted")

    @on(Action.update_firmware)
    def on_update_firmware(
        self, location: str, retrieve_date: str, **_: Any
    ) -> call_result.UpdateFirmware:
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    def after_update_firmware(self, location: str, retrieve_date: str, **_: Any) -> None:
        at: datetime = self.station.expiry(retrieve_date)
        self.station.spawn(self.station.update_firmware(location, at, None))

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, **_: Any) -> call_result.GetDiagnostics:
        self._diagnostics_name = (
            f"{self.station.charge_point_id}-diagnostics-{utcnow():%Y%m%dT%H%M%S}.log"
        )
        return call_result.GetDiagnostics(file_name=self._diagnostics_name)

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, location: str, **_: Any) -> None:
        name = getattr(self, "_diagnostics_name", "diagnostics.log")
        self.station.spawn(self.station.upload_diagnostics(None, location, name))

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
    ) -> call_result.SendLocalList:
        status = self.station.apply_local_list(
            list_version, update_type, local_authorization_list or []
        )
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(list_version=self.station.local_list_version)
