"""The OCPP 2.0.1 face of a simulated station (one connector per EVSE)."""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from apps.ocpp_consumer.simulator.link import Link, readings
from apps.ocpp_consumer.simulator.profiles import Profile
from apps.ocpp_consumer.simulator.station import isotime, utcnow

if TYPE_CHECKING:
    from apps.ocpp_consumer.simulator.station import ConnectorState, Station

DATA_TRANSFER_VENDOR = "Plugboard.Simulator"

# The 1.6-style status the station keeps, as a 2.0.1 connector status ...
_CONNECTOR_STATUS = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}
# ... and as a transaction's charging state.
_CHARGING_STATE = {
    "Preparing": "EVConnected",
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "Finishing": "EVConnected",
}
# Station stop reasons (1.6 vocabulary) -> (2.0.1 stoppedReason, triggerReason).
_STOP = {
    "Local": ("Local", "StopAuthorized"),
    "Remote": ("Remote", "RemoteStop"),
    "EVDisconnected": ("EVDisconnected", "EVDeparted"),
    "HardReset": ("ImmediateReset", "ResetCommand"),
    "SoftReset": ("ImmediateReset", "ResetCommand"),
    "ImmediateReset": ("ImmediateReset", "ResetCommand"),
    "UnlockCommand": ("Other", "UnlockCommand"),
    "DeAuthorized": ("DeAuthorized", "Deauthorized"),
    "Reboot": ("Reboot", "ResetCommand"),
}

# (component, variable) -> mutability, default. The device model a CSMS may read and set.
VARIABLES: dict[tuple[str, str], tuple[str, str]] = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): ("ReadWrite", "300"),
    ("SampledDataCtrlr", "TxUpdatedInterval"): ("ReadWrite", "30"),
    ("SampledDataCtrlr", "TxUpdatedMeasurands"): (
        "ReadWrite",
        "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
    ),
    ("SecurityCtrlr", "BasicAuthPassword"): ("WriteOnly", ""),
    ("SecurityCtrlr", "Identity"): ("ReadOnly", ""),
    ("SecurityCtrlr", "SecurityProfile"): ("ReadOnly", "1"),
    ("AuthCtrlr", "AuthorizeRemoteStart"): ("ReadWrite", "false"),
    ("LocalAuthListCtrlr", "Enabled"): ("ReadWrite", "true"),
    ("SmartChargingCtrlr", "Enabled"): ("ReadOnly", "true"),
    ("ReservationCtrlr", "Enabled"): ("ReadOnly", "true"),
    ("TxCtrlr", "EVConnectionTimeOut"): ("ReadWrite", "60"),
    # The network connection profile slots, in the order the station tries them (B09).
    ("OCPPCommCtrlr", "NetworkConfigurationPriority"): ("ReadWrite", "1"),
}
NETWORK_PRIORITY = ("OCPPCommCtrlr", "NetworkConfigurationPriority")
# The slots a SetNetworkProfile may write; the station keeps each profile in its config
# under ("NetworkConfiguration", slot) as JSON. Slot 1 is the one it was installed with.
NETWORK_SLOTS = range(1, 4)
# What the station remembers about customers, by token, is forgotten per station on a
# CustomerInformation clear (the station object is the key: it outlives connections).
_FORGOTTEN: weakref.WeakKeyDictionary[Station, set[str]] = weakref.WeakKeyDictionary()
# NotifyCustomerInformation data is at most 512 characters per message.
CUSTOMER_DATA_MAX = 512
_INTEGER_VARIABLES = {
    ("OCPPCommCtrlr", "HeartbeatInterval"),
    ("SampledDataCtrlr", "TxUpdatedInterval"),
    ("TxCtrlr", "EVConnectionTimeOut"),
}


def id_token(tag: str, *, remote: bool = False) -> dict[str, str]:
    if remote:
        return {"idToken": tag, "type": "Central"}
    return {"idToken": tag, "type": "MacAddress" if tag.startswith("VID:") else "ISO14443"}


def _sampled(station: Station, c: ConnectorState, context: str) -> dict[str, Any]:
    values = []
    for measurand, value, unit, phase in readings(station, c):
        sample: dict[str, Any] = {
            "value": value,
            "context": context,
            "measurand": measurand,
            "location": "EV" if measurand == "SoC" else "Outlet",
            "unitOfMeasure": {"unit": unit},
        }
        if phase:
            sample["phase"] = phase
        values.append(sample)
    return {"timestamp": isotime(), "sampledValue": values}


def _register(c: ConnectorState, context: str) -> dict[str, Any]:
    return {
        "timestamp": isotime(),
        "sampledValue": [
            {
                "value": float(c.meter.register_int_wh),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
            }
        ],
    }


class V201Link(Link, ChargePoint):
    subprotocol: ClassVar[str] = "ocpp2.0.1"

    def __init__(self, station: Station, connection: Any) -> None:
        super().__init__(station, connection)
        self._reported: dict[int, str] = {}  # last connector status sent on this connection

    @staticmethod
    def default_config(station: Station) -> dict[tuple[str, str], str]:
        config = {key: default for key, (_, default) in VARIABLES.items()}
        config[("SecurityCtrlr", "Identity")] = station.charge_point_id
        config[("SampledDataCtrlr", "TxUpdatedInterval")] = str(int(station.meter_interval_s))
        return config

    @staticmethod
    def _event(station: Station, c: ConnectorState, **fields: Any) -> Any:
        c.seq_no += 1
        return call.TransactionEvent(
            timestamp=isotime(),
            seq_no=c.seq_no,
            # Queued while offline: the CSMS learns that it may have missed events (E12).
            offline=True if not station.online.is_set() else None,
            **fields,
        )

    # ------------------------------------------------------------- outgoing

    async def boot(self, reason: str) -> tuple[str, int]:
        spec = self.station.spec
        station_info: dict[str, Any] = {
            "model": spec.model,
            "vendorName": spec.vendor,
            "firmwareVersion": self.station.firmware_version,
        }
        if spec.serial_number:
            station_info["serialNumber"] = spec.serial_number
        result = await self.send_call(
            call.BootNotification(charging_station=station_info, reason=reason)
        )
        return result.status, int(result.interval)

    async def heartbeat(self) -> None:
        await self.send_call(call.Heartbeat())

    async def status(self, c: ConnectorState) -> None:
        station = self.station
        if c.in_transaction and c.status in _CHARGING_STATE:
            state = _CHARGING_STATE[c.status]
            if state != c.charging_state:
                c.charging_state = state
                if state != "EVConnected":
                    await station.send_tx(
                        self._event(
                            station,
                            c,
                            event_type="Updated",
                            trigger_reason="ChargingStateChanged",
                            transaction_info={
                                "transactionId": c.transaction_id,
                                "chargingState": state,
                            },
                        )
                    )
        status = _CONNECTOR_STATUS.get(c.status, "Available")
        if self._reported.get(c.connector_id) == status:
            return
        await self.send_call(
            call.StatusNotification(
                timestamp=isotime(),
                connector_status=status,
                evse_id=c.connector_id,
                connector_id=1,
            )
        )
        self._reported[c.connector_id] = status

    async def authorize(self, id_tag: str) -> bool:
        result = await self.send_call(call.Authorize(id_token=id_token(id_tag)))
        return result.id_token_info["status"] == "Accepted"

    async def start_transaction(self, c: ConnectorState) -> bool:
        assert c.id_tag is not None  # noqa: S101 (set by the scenario before starting)
        station = self.station
        c.transaction_id = station.new_transaction_id()
        c.tx_started_at = utcnow()
        c.tx_meter_start_wh = c.meter.register_int_wh
        c.seq_no = -1  # the first event carries seqNo 0
        c.charging_state = "EVConnected"
        remote = c.remote_start_id is not None
        info: dict[str, Any] = {"transactionId": c.transaction_id, "chargingState": "EVConnected"}
        if remote:
            info["remoteStartId"] = c.remote_start_id
        event = self._event(
            station,
            c,
            event_type="Started",
            trigger_reason="RemoteStart" if remote else "Authorized",
            transaction_info=info,
            id_token=id_token(c.id_tag, remote=remote),
            evse={"id": c.connector_id, "connectorId": 1},
            meter_value=[_register(c, "Transaction.Begin")],
            reservation_id=c.reservation.reservation_id if c.reservation else None,
        )
        c.remote_start_id = None
        # Through the queue, behind older messages: if the connection is lost now the
        # event goes out after the reconnect (the station decided to start, E12).
        result = await station.send_tx(event)
        if result is None:  # queued: the station goes ahead, as it would offline
            return True
        info_out = result.id_token_info or {}
        return info_out.get("status", "Accepted") == "Accepted"

    @classmethod
    def meter_values_payload(cls, station: Station, c: ConnectorState, context: str) -> Any:
        if not c.in_transaction:
            return call.MeterValues(
                evse_id=c.connector_id, meter_value=[_sampled(station, c, context)]
            )
        return cls._event(
            station,
            c,
            event_type="Updated",
            trigger_reason="Trigger" if context == "Trigger" else "MeterValuePeriodic",
            transaction_info={
                "transactionId": c.transaction_id,
                "chargingState": _CHARGING_STATE.get(c.status, "Charging"),
            },
            meter_value=[_sampled(station, c, context)],
        )

    @classmethod
    def stop_payload(cls, station: Station, c: ConnectorState, reason: str) -> Any:
        stopped, trigger = _STOP.get(reason, ("Other", "AbnormalCondition"))
        return cls._event(
            station,
            c,
            event_type="Ended",
            trigger_reason=trigger,
            transaction_info={
                "transactionId": c.transaction_id,
                "chargingState": "EVConnected" if reason != "EVDisconnected" else "Idle",
                "stoppedReason": stopped,
            },
            meter_value=[_register(c, "Transaction.End")],
        )

    async def firmware_status(self, status: str, request_id: int | None) -> None:
        await self.send_call(call.FirmwareStatusNotification(status=status, request_id=request_id))

    async def upload_status(self, status: str, request_id: int | None) -> None:
        await self.send_call(call.LogStatusNotification(status=status, request_id=request_id))

    # ------------------------------------------------------------- incoming

    @on(Action.request_start_transaction)
    def on_request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.RequestStartTransaction:
        station = self.station
        c = station.connector(evse_id)
        if c is None or not station.request_start(c, id_token["id_token"]):
            return call_result.RequestStartTransaction(status="Rejected")
        c.remote_start_id = remote_start_id
        if charging_profile is not None:
            station.profiles.install(Profile.from_v201(c.connector_id, charging_profile))
        return call_result.RequestStartTransaction(status="Accepted")

    @on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id: str, **_: Any) -> call_result.RequestStopTransaction:
        c = self.station.by_transaction(transaction_id)
        ok = c is not None and self.station.request_stop(c, "Remote")
        return call_result.RequestStopTransaction(status="Accepted" if ok else "Rejected")

    @on(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> call_result.Reset:  # noqa: A002
        busy = any(c.in_transaction for c in self.station.connectors.values())
        if type == "OnIdle" and busy:
            return call_result.Reset(status="Scheduled")
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    def after_reset(self, type: str, **_: Any) -> None:  # noqa: A002
        if type == "OnIdle":
            self.station.spawn(self._reset_when_idle())
        else:
            self.station.spawn(self.station.reset("ImmediateReset", hard=True))

    async def _reset_when_idle(self) -> None:
        station = self.station
        while True:  # OnIdle: wait for the last transaction to end
            if not any(c.in_transaction for c in station.connectors.values()):
                break
            await asyncio.sleep(station.options.tick_s)
        await station.reset("ImmediateReset", hard=False)

    @on(Action.unlock_connector)
    def on_unlock(self, evse_id: int, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        c = self.station.connectors.get(evse_id)
        if c is None or connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        if c.in_transaction:
            # 2.0.1 F05: the CSMS must stop the transaction first.
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.ChangeAvailability:
        target = evse["id"] if evse else 0
        status = self.station.set_availability(target, operational_status == "Operative")
        return call_result.ChangeAvailability(status=status)

    @after(Action.change_availability)
    def after_change_availability(self, **_: Any) -> None:
        self.station.spawn(self.station.report_availability())

    @on(Action.trigger_message)
    def on_trigger(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        if requested_message not in {
            "BootNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "LogStatusNotification",
            "MeterValues",
            "StatusNotification",
            "TransactionEvent",
        }:
            return call_result.TriggerMessage(status="NotImplemented")
        if evse is not None and evse.get("id") not in self.station.connectors:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    def after_trigger(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> None:
        self.station.spawn(self._triggered(requested_message, evse["id"] if evse else None))

    async def _triggered(self, message: str, evse_id: int | None) -> None:
        station = self.station
        targets = [
            c for c in station.connectors.values() if evse_id is None or c.connector_id == evse_id
        ]
        if message == "BootNotification":
            await self.boot("Triggered")
        elif message == "Heartbeat":
            await self.heartbeat()
        elif message == "StatusNotification":
            self._reported.clear()  # a trigger asks for the status even if unchanged
            for c in targets:
                await self.status(c)
        elif message in ("MeterValues", "TransactionEvent"):
            for c in targets:
                if message == "TransactionEvent" and not c.in_transaction:
                    continue
                await station.send_tx(self.meter_values_payload(station, c, "Trigger"))
        elif message == "FirmwareStatusNotification":
            await self.firmware_status("Idle", None)
        elif message == "LogStatusNotification":
            await self.upload_status("Idle", None)

    @on(Action.get_variables)
    def on_get_variables(
        self, get_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.GetVariables:
        results = []
        for item in get_variable_data:
            component, variable = item["component"], item["variable"]
            key = (component["name"], variable["name"])
            attribute = item.get("attribute_type", "Actual")
            result: dict[str, Any] = {
                "component": component,
                "variable": variable,
                "attribute_type": attribute,
            }
            if key not in VARIABLES:
                known = any(name == key[0] for name, _ in VARIABLES)
                result["attribute_status"] = "UnknownVariable" if known else "UnknownComponent"
            elif attribute != "Actual":
                result["attribute_status"] = "NotSupportedAttributeType"
            elif VARIABLES[key][0] == "WriteOnly":
                result["attribute_status"] = "Rejected"
            else:
                result["attribute_status"] = "Accepted"
                result["attribute_value"] = self.station.config[key]
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(
        self, set_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.SetVariables:
        station = self.station
        results = []
        for item in set_variable_data:
            component, variable = item["component"], item["variable"]
            key = (component["name"], variable["name"])
            value = str(item["attribute_value"])
            result = {"component": component, "variable": variable}
            status = "Accepted"
            if key not in VARIABLES:
                known = any(name == key[0] for name, _ in VARIABLES)
                status = "UnknownVariable" if known else "UnknownComponent"
            elif item.get("attribute_type", "Actual") != "Actual":
                status = "NotSupportedAttributeType"
            elif VARIABLES[key][0] == "ReadOnly":
                status = "Rejected"
            elif key == ("SecurityCtrlr", "BasicAuthPassword"):
                status = "Accepted" if 16 <= len(value) <= 40 else "Rejected"
            elif key == NETWORK_PRIORITY:
                status = "Accepted" if self._known_slots(value) else "Rejected"
            elif key in _INTEGER_VARIABLES:
                if not value.isdigit():
                    status = "Rejected"
                elif int(value) > 0 and key == ("OCPPCommCtrlr", "HeartbeatInterval"):
                    station.heartbeat_interval_s = float(value)
                elif int(value) > 0 and key == ("SampledDataCtrlr", "TxUpdatedInterval"):
                    station.meter_interval_s = float(value)
            if status == "Accepted" and key != ("SecurityCtrlr", "BasicAuthPassword"):
                station.config[key] = value
            result["attribute_status"] = status
            results.append(result)
        return call_result.SetVariables(set_variable_result=results)

    @after(Action.set_variables)
    def after_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> None:
        for item in set_variable_data:
            value = str(item["attribute_value"])
            key = (item["component"]["name"], item["variable"]["name"])
            if key == ("SecurityCtrlr", "BasicAuthPassword") and 16 <= len(value) <= 40:
                # A01: reconnect with the new password; the old one is no longer valid.
                self.station.password = value
                self.station.reconnect.set()

    @on(Action.get_base_report)
    def on_get_base_report(
        self, request_id: int, report_base: str, **_: Any
    ) -> call_result.GetBaseReport:
        return call_result.GetBaseReport(status="Accepted")

    @after(Action.get_base_report)
    def after_get_base_report(self, request_id: int, **_: Any) -> None:
        self.station.spawn(self._report(request_id))

    async def _report(self, request_id: int) -> None:
        data = [
            {
                "component": {"name": component},
                "variable": {"name": variable},
                "variableAttribute": [
                    {
                        "type": "Actual",
                        "mutability": mutability,
                        **(
                            {"value": self.station.config[(component, variable)]}
                            if mutability != "WriteOnly"
                            else {}
                        ),
                    }
                ],
            }
            for (component, variable), (mutability, _) in VARIABLES.items()
        ]
        await self.send_call(
            call.NotifyReport(
                request_id=request_id, generated_at=isotime(), seq_no=0, report_data=data
            )
        )

    # --------------------------------------------- network profiles (B09, A05)

    def _known_slots(self, priority: str) -> bool:
        """A NetworkConfigurationPriority names only slots that hold a profile."""
        slots = [part.strip() for part in priority.split(",")]
        return bool(slots) and all(
            slot == "1" or ("NetworkConfiguration", slot) in self.station.config for slot in slots
        )

    @on(Action.set_network_profile)
    def on_set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any], **_: Any
    ) -> call_result.SetNetworkProfile:
        config = self.station.config
        if configuration_slot not in NETWORK_SLOTS:
            return call_result.SetNetworkProfile(
                status="Rejected",
                status_info={"reason_code": "InvalidSlot"},
            )
        current = int(config.get(("SecurityCtrlr", "SecurityProfile"), "0") or 0)
        if int(connection_data["security_profile"]) < current:
            # A05.FR.08: never a lower security profile than the one in use.
            return call_result.SetNetworkProfile(
                status="Rejected", status_info={"reason_code": "NoDowngrade"}
            )
        if str(connection_data["ocpp_interface"]).startswith("Wireless"):
            # This station has no modem: the profile cannot be applied.
            return call_result.SetNetworkProfile(
                status="Failed", status_info={"reason_code": "NoWirelessInterface"}
            )
        config[("NetworkConfiguration", str(configuration_slot))] = json.dumps(connection_data)
        return call_result.SetNetworkProfile(status="Accepted")

    # ------------------------------------------------ customer information (N09, N10)

    def _customer_records(self, customer: str) -> list[str]:
        """What the station keeps about a customer (a token, used as its identifier
        too): that it has seen the token, and any transaction in progress with it."""
        station = self.station
        if customer in _FORGOTTEN.get(station, set()):
            return []
        tags = set(station.options.id_tags) | {
            c.id_tag for c in station.connectors.values() if c.id_tag
        }
        if customer not in tags:
            return []
        transactions = [
            f"transaction {c.transaction_id} on EVSE {c.connector_id}"
            for c in station.connectors.values()
            if c.id_tag == customer and c.transaction_id
        ]
        return [
            f"idToken {customer}: known at {station.charge_point_id}",
            "; ".join(transactions) or "no transaction in progress",
        ]

    @staticmethod
    def _customer(customer_identifier: str | None, id_token: dict[str, Any] | None) -> str | None:
        if id_token is not None:
            return str(id_token["id_token"])
        return customer_identifier

    @on(Action.customer_information)
    def on_customer_information(
        self,
        request_id: int,
        report: bool,
        clear: bool,
        customer_identifier: str | None = None,
        id_token: dict[str, Any] | None = None,
        customer_certificate: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.CustomerInformation:
        if customer_certificate is not None:
            # No ISO 15118 contract certificates here: nothing to look them up by.
            return call_result.CustomerInformation(
                status="Rejected", status_info={"reason_code": "NoCertificates"}
            )
        if not (report or clear) or self._customer(customer_identifier, id_token) is None:
            return call_result.CustomerInformation(status="Invalid")
        return call_result.CustomerInformation(status="Accepted")

    @after(Action.customer_information)
    def after_customer_information(
        self,
        request_id: int,
        report: bool,
        clear: bool,
        customer_identifier: str | None = None,
        id_token: dict[str, Any] | None = None,
        customer_certificate: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        customer = self._customer(customer_identifier, id_token)
        if customer_certificate is not None or customer is None or not (report or clear):
            return
        # The report describes the data before it is cleared (N10.FR.04).
        records = self._customer_records(customer) if report else []
        if clear:
            _FORGOTTEN.setdefault(self.station, set()).add(customer)
        if report:
            self.station.spawn(self._notify_customer_information(request_id, records))

    async def _notify_customer_information(self, request_id: int, records: list[str]) -> None:
        # One message per record (each cut to what a message holds); none: one empty part.
        parts = [record[:CUSTOMER_DATA_MAX] for record in records] or [""]
        for seq_no, data in enumerate(parts):
            await self.send_call(
                call.NotifyCustomerInformation(
                    data=data,
                    seq_no=seq_no,
                    generated_at=isotime(),
                    request_id=request_id,
                    tbc=seq_no < len(parts) - 1,
                )
            )

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        return call_result.ClearCache(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None, **_: Any
    ) -> call_result.DataTransfer:
        if vendor_id != DATA_TRANSFER_VENDOR:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id not in (None, "Echo"):
            return call_result.DataTransfer(status="UnknownMessageId")
        return call_result.DataTransfer(status="Accepted", data=data)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        station = self.station
        purpose = charging_profile.get("charging_profile_purpose")
        if evse_id != 0 and evse_id not in station.connectors:
            return call_result.SetChargingProfile(status="Rejected")
        if purpose == "ChargingStationMaxProfile" and evse_id != 0:
            return call_result.SetChargingProfile(status="Rejected")
        if purpose == "TxProfile":
            c = station.connectors.get(evse_id)
            # K01 FR.09: a TxProfile names an ongoing transaction on that EVSE.
            if c is None or c.transaction_id != charging_profile.get("transaction_id"):
                return call_result.SetChargingProfile(status="Rejected")
        try:
            profile = Profile.from_v201(evse_id, charging_profile)
        except (KeyError, ValueError, TypeError, IndexError):
            return call_result.SetChargingProfile(status="Rejected")
        station.profiles.install(profile)
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        criteria = charging_profile_criteria or {}
        removed = self.station.profiles.clear(
            profile_id=charging_profile_id,
            connector_id=criteria.get("evse_id"),
            purpose=criteria.get("charging_profile_purpose"),
            stack_level=criteria.get("stack_level"),
        )
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> call_result.GetCompositeSchedule:
        station = self.station
        c = station.connectors.get(evse_id)
        if evse_id != 0 and c is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit = charging_rate_unit or "W"
        start = utcnow().replace(microsecond=0)
        spec = station.spec
        periods = station.profiles.composite(
            evse_id,
            start,
            duration,
            tx_started_at=c.tx_started_at if c else None,
            transaction_id=c.transaction_id if c else None,
            voltage_v=spec.voltage_v,
            phases=spec.phases,
            unit=unit,
        )
        if not periods:
            rating = spec.max_power_w
            periods = [
                (0, round(rating if unit == "W" else rating / (spec.voltage_v * spec.phases), 1))
            ]
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": isotime(start),
                "charging_rate_unit": unit,
                "charging_schedule_period": [
                    {"start_period": offset, "limit": limit} for offset, limit in periods
                ],
            },
        )

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        id: int,  # noqa: A002 (the OCPP field name)
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> call_result.ReserveNow:
        station = self.station
        if evse_id is None:
            free = station.connector(None)
            evse_id = free.connector_id if free else None
        if evse_id is None:
            return call_result.ReserveNow(status="Occupied")
        status = station.reserve(
            evse_id, id, id_token["id_token"], station.expiry(expiry_date_time)
        )
        return call_result.ReserveNow(status=status)

    @after(Action.reserve_now)
    def after_reserve_now(self, id: int, **_: Any) -> None:  # noqa: A002
        for c in self.station.connectors.values():
            if c.reservation and c.reservation.reservation_id == id:
                self.station.spawn(self.station.set_status(c, "Reserved"))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> call_result.CancelReservation:
        c = self.station.cancel_reservation(reservation_id)
        if c is None:
            return call_result.CancelReservation(status="Rejected")
        if not c.in_transaction:
            self.station.spawn(self.station.set_status(c, "Available"))
        return call_result.CancelReservation(status="Accepted")

    @on(Action.update_firmware)
    def on_update_firmware(
        self, request_id: int, firmware: dict[str, Any], **_: Any
    ) -> call_result.UpdateFirmware:
        return call_result.UpdateFirmware(status="Accepted")

    @after(Action.update_firmware)
    def after_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> None:
        station = self.station
        at = station.expiry(firmware["retrieve_date_time"])
        station.spawn(station.update_firmware(firmware["location"], at, request_id))

    @on(Action.get_log)
    def on_get_log(
        self, log: dict[str, Any], log_type: str, request_id: int, **_: Any
    ) -> call_result.GetLog:
        name = f"{self.station.charge_point_id}-{log_type.lower()}-{utcnow():%Y%m%dT%H%M%S}.log"
        self._log_name = name
        return call_result.GetLog(status="Accepted", filename=name)

    @after(Action.get_log)
    def after_get_log(self, request_id: int, log: dict[str, Any], **_: Any) -> None:
        name = getattr(self, "_log_name", "log.log")
        location = log["remote_location"]
        self.station.spawn(self.station.upload_diagnostics(request_id, location, name))

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        status = self.station.apply_local_list(
            version_number, update_type, local_authorization_list or []
        )
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(version_number=self.station.local_list_version)
