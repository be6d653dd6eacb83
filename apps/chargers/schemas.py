"""API schemas of the chargers app. Outputs are built from model rows and the
selectors' live figures (apps/chargers/selectors.py); new fields are added here as
the domain grows."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ninja import Field, Schema
from pydantic import AwareDatetime, BaseModel, ConfigDict, model_validator

from apps.chargers.models import Charger, ChargingSession, Connector, MeterSample
from apps.chargers.selectors import CustomerInformation, LiveSession
from apps.sites.schemas import RefOut

# A bound for typing mistakes (kW entered as W), far above any charger made today.
MAX_POWER_KW = 10_000


def _kilo(value: int | Decimal | None) -> float | None:
    """Wh or W to kWh or kW, to the watt(-hour): what the meters resolve."""
    if value is None:
        return None
    return float((Decimal(value) / 1000).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


class CurrentSessionOut(Schema):
    """The session in progress on a connector, with what its stored meter samples
    say now. A figure the charger has not reported is null, never estimated."""

    id: int
    energy_kwh: float | None = Field(
        description="Energy so far: the latest energy register reading minus the "
        "session's start reading. Null without either."
    )
    soc_percent: float | None = Field(
        description="The vehicle's state of charge, as last reported (DC chargers and "
        "some AC ones report it)."
    )
    power_kw: float | None = Field(
        description="The latest active import power; the sum of the phases when the "
        "charger reports them one by one."
    )

    @staticmethod
    def resolve_energy_kwh(session: LiveSession) -> float | None:
        return _kilo(session.energy_wh)

    @staticmethod
    def resolve_soc_percent(session: LiveSession) -> float | None:
        return None if session.soc_percent is None else float(session.soc_percent)

    @staticmethod
    def resolve_power_kw(session: LiveSession) -> float | None:
        return _kilo(session.power_w)


class ConnectorOut(Schema):
    connector_id: int
    status: Connector.Status
    error_code: str
    current_session: CurrentSessionOut | None = Field(
        description="The session in progress on this connector; null when none is."
    )


class ChargerOut(Schema):
    """A charger with its connectors, each with its session in progress (lists and
    single reads alike; live figures are read for the whole page at once)."""

    charge_point_id: str
    name: str
    zone: RefOut
    property: RefOut
    vendor: str
    model: str
    serial_number: str
    firmware_version: str
    ocpp_version: Charger.OcppVersion | None = Field(
        description="Negotiated at the charger's first connection; null before."
    )
    max_power_kw: float
    registration: Charger.Registration
    online: bool = Field(
        description="Whether the charger holds a websocket to Plugboard now (commands "
        "can reach it)."
    )
    last_heartbeat: datetime | None = Field(
        description="When the charger was last heard from: its last Heartbeat, "
        "BootNotification or connection. Null before the first."
    )
    last_seen_at: datetime | None = Field(description="The same as last_heartbeat.")
    has_password: bool = Field(
        description="Whether the charger must authenticate with HTTP Basic auth."
    )
    connectors: list[ConnectorOut]

    @staticmethod
    def resolve_property(charger: Charger) -> object:
        return charger.zone.property

    @staticmethod
    def resolve_ocpp_version(charger: Charger) -> str | None:
        return charger.ocpp_version or None

    @staticmethod
    def resolve_max_power_kw(charger: Charger) -> float:
        return charger.max_power_w / 1000

    @staticmethod
    def resolve_last_heartbeat(charger: Charger) -> datetime | None:
        return charger.last_seen_at


class SessionOut(Schema):
    id: int
    charge_point_id: str
    connector_id: int | None = Field(
        description="Null only when an OCPP 2.0.1 station of several EVSEs never said "
        "which one it was."
    )
    id_tag: str = Field(description="The token as the charger sent it.")
    meter_start_wh: int | None
    meter_stop_wh: int | None
    energy_kwh: float | None = Field(
        description="Finished session: exactly stop minus start reading, null when the "
        "charger did not report one of them. Session in progress: the energy so far, "
        "from its latest energy register sample (null without one)."
    )
    started_at: datetime
    stopped_at: datetime | None
    status: ChargingSession.State

    @staticmethod
    def resolve_charge_point_id(session: ChargingSession) -> str:
        return session.charger.charge_point_id

    @staticmethod
    def resolve_connector_id(session: ChargingSession) -> int | None:
        return session.connector.connector_id if session.connector else None

    @staticmethod
    def resolve_energy_kwh(session: ChargingSession) -> float | None:
        if session.energy_wh is not None:
            return _kilo(session.energy_wh)
        # Set by the selectors on every session they return (None unless in
        # progress); not a model field, hence typed Any.
        row: Any = session
        return _kilo(row.live_energy_wh)

    @staticmethod
    def resolve_status(session: ChargingSession) -> str:
        return session.state


class SessionFilterIn(Schema):
    """The filters of the session list."""

    charger: str | None = Field(None, description="Only this charger's (a charge point id).")
    status: ChargingSession.State | None = None
    since: AwareDatetime | None = Field(
        None, description="Only those started at or after this time (with an offset)."
    )
    until: AwareDatetime | None = Field(
        None, description="Only those started before this time (with an offset)."
    )


class SessionDetailOut(SessionOut):
    stop_reason: str = Field(description="Empty while in progress or when none was given.")
    person_id: int | None = Field(description="Whose token started the session.")
    vehicle_id: int | None = Field(description="The vehicle whose token started it.")


class ChargerCreateIn(Schema):
    charge_point_id: str = Field(
        min_length=1,
        max_length=48,
        description="The OCPP identity: 1 to 48 characters, without spaces, ':' or '/'.",
    )
    zone_id: int
    name: str = Field("", max_length=100)
    max_power_kw: float = Field(ge=0.001, le=MAX_POWER_KW, description="In kW, e.g. 11 or 7.4.")
    password: str | None = Field(
        None,
        description="HTTP Basic auth password (16 to 40 characters). Left out: none.",
    )

    @property
    def max_power_w(self) -> int:
        # Whole watts: 7.4 kW is 7400 W, not 7400.000000000001.
        return round(self.max_power_kw * 1000)


# --- remote commands: POST /chargers/{charge_point_id}/commands/{command} ------------
# The body of each command. Field types and required fields are checked here (422
# before anything is sent); the meaning of each value for the charger's OCPP version
# is checked where the request is built (apps/ocpp_consumer/commands.py), and its
# refusals are 422 too. Enumerations accept the domain words shown and the OCPP
# spellings ("soft" or "Soft", "tx_default" or "TxDefaultProfile").


class CommandIn(Schema):
    # A misspelt field must not be ignored: "conector_id" would unlock connector 1.
    model_config = ConfigDict(extra="forbid")


class ResetIn(CommandIn):
    type: str = Field(description="soft (wait for transactions to end) or hard.")
    connector_id: int | None = Field(None, ge=1, description="2.0.1 only: reset one EVSE.")


class ChargingSchedulePeriodIn(CommandIn):
    start_period: int = Field(ge=0, description="Seconds from the start of the schedule.")
    limit: float = Field(ge=0, description="In the schedule's rate unit (W or A).")
    number_phases: int | None = Field(None, ge=1, le=3)


class ChargingScheduleIn(CommandIn):
    rate_unit: str = Field(description="W or A.")
    periods: list[ChargingSchedulePeriodIn] = Field(min_length=1)
    duration: int | None = Field(None, ge=1, description="Seconds.")
    start_at: AwareDatetime | None = None
    min_charging_rate: float | None = Field(None, ge=0)


class ChargingProfileIn(CommandIn):
    id: int = Field(ge=0)
    stack_level: int = Field(0, ge=0)
    purpose: str | None = Field(
        None,
        description="charger_max, tx_default or tx. Required, except in remote-start (tx).",
    )
    kind: str = Field("absolute", description="absolute, recurring or relative.")
    recurrency_kind: str | None = Field(None, description="daily or weekly (recurring only).")
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    session_id: int | None = Field(None, description="For a tx profile: the session it limits.")
    schedule: ChargingScheduleIn


class RemoteStartIn(CommandIn):
    connector_id: int | None = Field(None, ge=1, description="Left out: the charger chooses.")
    id_tag: str = Field(min_length=1, max_length=36, description="At most 20 characters on 1.6.")
    id_token_type: str | None = Field(
        None, description="2.0.1 only: rfid, app (default), vehicle_mac or an OCPP IdTokenEnum."
    )
    charging_profile: ChargingProfileIn | None = None


class RemoteStopIn(CommandIn):
    session_id: int = Field(ge=1, description="An active session of this charger.")


class UnlockConnectorIn(CommandIn):
    connector_id: int = Field(ge=1)


class ChangeAvailabilityIn(CommandIn):
    connector_id: int = Field(0, ge=0, description="0: the whole charger.")
    available: bool


class TriggerMessageIn(CommandIn):
    message: str = Field(
        description="BootNotification, Heartbeat, MeterValues, StatusNotification, "
        "FirmwareStatusNotification, DiagnosticsStatusNotification (LogStatusNotification "
        "on 2.0.1); 2.0.1 also TransactionEvent and the certificate triggers."
    )
    connector_id: int | None = Field(None, ge=1)


class GetConfigurationIn(CommandIn):
    keys: list[str] | None = Field(
        None,
        description="1.6 keys, or 2.0.1 'Component.Variable' (well-known 1.6 keys work on "
        "2.0.1 too). Left out: everything (on 2.0.1, a configuration report that "
        "arrives as NotifyReport events).",
    )
    report: str | None = Field(
        None, description="2.0.1, without keys: configuration (default), full or summary."
    )


class ChangeConfigurationIn(CommandIn):
    key: str | None = Field(None, description="1.6 key, or 2.0.1 'Component.Variable'.")
    value: str | int | float | bool | None = None
    values: dict[str, str | int | float | bool] | None = Field(
        None, description="2.0.1: several at once, {'Component.Variable': value}."
    )
    component: str | None = Field(None, description="2.0.1, instead of key.")
    variable: str | None = Field(None, description="2.0.1, instead of key.")
    component_instance: str | None = None
    variable_instance: str | None = None


class EmptyCommandIn(CommandIn):
    pass


class LocalListEntryIn(CommandIn):
    id_tag: str = Field(min_length=1, max_length=36)
    status: str | None = Field(
        None,
        description="Accepted, Blocked, Expired, Invalid or ConcurrentTx. Left out: Accepted "
        "in a full update; removes the token in a differential one.",
    )
    expiry_at: AwareDatetime | None = None
    parent_id_tag: str | None = Field(None, max_length=36)
    id_token_type: str | None = None


class SendLocalListIn(CommandIn):
    version: int = Field(ge=1)
    update_type: str = Field("full", description="full or differential.")
    entries: list[LocalListEntryIn] = Field(default_factory=list)


class ReserveNowIn(CommandIn):
    connector_id: int = Field(0, ge=0, description="0: any connector.")
    id_tag: str = Field(min_length=1, max_length=36)
    expiry_at: AwareDatetime
    reservation_id: int | None = Field(None, ge=0, description="Left out: the command's id.")
    parent_id_tag: str | None = Field(None, max_length=36)
    id_token_type: str | None = None


class CancelReservationIn(CommandIn):
    reservation_id: int = Field(ge=0)


class SetChargingProfileIn(CommandIn):
    connector_id: int = Field(0, ge=0, description="0: the whole charger.")
    profile: ChargingProfileIn


class ClearChargingProfileIn(CommandIn):
    profile_id: int | None = Field(None, ge=0)
    connector_id: int | None = Field(None, ge=0)
    purpose: str | None = None
    stack_level: int | None = Field(None, ge=0)


class GetCompositeScheduleIn(CommandIn):
    connector_id: int = Field(0, ge=0)
    duration: int = Field(ge=1, description="Seconds.")
    rate_unit: str | None = Field(None, description="W or A.")


class UpdateFirmwareIn(CommandIn):
    location: str = Field(min_length=1, max_length=512, description="URL of the firmware.")
    retrieve_at: AwareDatetime | None = Field(None, description="Left out: now.")
    retries: int | None = Field(None, ge=0)
    retry_interval: int | None = Field(None, ge=0)
    install_at: AwareDatetime | None = Field(None, description="2.0.1 only.")
    signing_certificate: str | None = Field(None, description="2.0.1 only.")
    signature: str | None = Field(None, description="2.0.1 only.")


class GetDiagnosticsIn(CommandIn):
    location: str = Field(min_length=1, max_length=512, description="Where to upload to.")
    start_at: AwareDatetime | None = None
    stop_at: AwareDatetime | None = None
    retries: int | None = Field(None, ge=0)
    retry_interval: int | None = Field(None, ge=0)


class DataTransferIn(CommandIn):
    vendor_id: str = Field(min_length=1, max_length=255)
    message_id: str | None = Field(None, max_length=50)
    data: Any = Field(None, description="Sent as JSON text to 1.6 chargers.")


class GetTransactionStatusIn(CommandIn):
    session_id: int | None = Field(
        None,
        ge=1,
        description="A session of this charger, ongoing or ended; left out: ask whether "
        "any messages are queued. OCPP 2.0.1 only.",
    )


class ApnIn(CommandIn):
    apn: str = Field(min_length=1, max_length=512, description="The access point name.")
    apn_user_name: str | None = Field(None, max_length=20)
    apn_password: str | None = Field(None, max_length=20, description="Masked in the log.")
    sim_pin: int | None = Field(None, ge=0, description="Masked in the log.")
    preferred_network: str | None = Field(None, max_length=6, description="MCC and MNC.")
    use_only_preferred_network: bool | None = None
    apn_authentication: str | None = Field(None, description="CHAP, NONE, PAP or AUTO.")


class VpnIn(CommandIn):
    server: str = Field(min_length=1, max_length=512)
    user: str = Field(min_length=1, max_length=20)
    group: str | None = Field(None, max_length=20)
    password: str = Field(min_length=1, max_length=20, description="Masked in the log.")
    key: str = Field(min_length=1, max_length=255, description="Masked in the log.")
    type: str = Field(description="IKEv2, IPSec, L2TP or PPTP.")


class SetNetworkProfileIn(CommandIn):
    configuration_slot: int = Field(
        ge=0,
        description="The station's slot to write (OCPPCommCtrlr.NetworkConfigurationPriority "
        "lists the slots in the order it tries them).",
    )
    ocpp_csms_url: str = Field(
        min_length=1,
        max_length=512,
        description="Where the station connects, ws:// or wss:// (wss:// for profiles 2 "
        "and 3); the station appends its identity.",
    )
    security_profile: int = Field(
        ge=0,
        le=3,
        description="1: HTTP Basic auth; 2: TLS + Basic auth; 3: TLS with client "
        "certificates. 1 and 2 need the charger's OCPP password set here first.",
    )
    ocpp_version: str = Field("2.0.1", description="2.0.1 (default) or 1.6.")
    ocpp_transport: str = Field("json", description="json (default) or soap.")
    message_timeout: int = Field(30, ge=1, description="Seconds.")
    ocpp_interface: str = Field(
        "wired0", description="wired0..wired3 or wireless0..wireless3 (default wired0)."
    )
    apn: ApnIn | None = Field(None, description="Cellular access (optional).")
    vpn: VpnIn | None = Field(None, description="A VPN to connect through (optional).")


class CertificateHashIn(CommandIn):
    hash_algorithm: str = Field(description="SHA256, SHA384 or SHA512.")
    issuer_name_hash: str = Field(min_length=1, max_length=128)
    issuer_key_hash: str = Field(min_length=1, max_length=128)
    serial_number: str = Field(min_length=1, max_length=40)


class CustomerInformationIn(CommandIn):
    report: bool = Field(True, description="Have the station report what it keeps.")
    clear: bool = Field(False, description="Have the station delete what it keeps.")
    customer_identifier: str | None = Field(None, min_length=1, max_length=64)
    id_tag: str | None = Field(None, min_length=1, max_length=36)
    id_token_type: str | None = Field(
        None, description="With id_tag: rfid (default), app, vehicle_mac or an OCPP IdTokenEnum."
    )
    customer_certificate: CertificateHashIn | None = None

    @model_validator(mode="after")
    def _one_customer(self) -> CustomerInformationIn:
        named = [
            f
            for f in ("customer_identifier", "id_tag", "customer_certificate")
            if getattr(self, f) is not None
        ]
        if len(named) != 1:
            raise ValueError(
                "name the customer by exactly one of customer_identifier, id_tag or "
                "customer_certificate"
            )
        if not (self.report or self.clear):
            raise ValueError("ask for a report, a clear, or both")
        return self


COMMAND_SCHEMAS: dict[str, type[CommandIn]] = {
    "reset": ResetIn,
    "remote-start": RemoteStartIn,
    "remote-stop": RemoteStopIn,
    "unlock-connector": UnlockConnectorIn,
    "change-availability": ChangeAvailabilityIn,
    "trigger-message": TriggerMessageIn,
    "get-configuration": GetConfigurationIn,
    "change-configuration": ChangeConfigurationIn,
    "clear-cache": EmptyCommandIn,
    "send-local-list": SendLocalListIn,
    "get-local-list-version": EmptyCommandIn,
    "reserve-now": ReserveNowIn,
    "cancel-reservation": CancelReservationIn,
    "set-charging-profile": SetChargingProfileIn,
    "clear-charging-profile": ClearChargingProfileIn,
    "get-composite-schedule": GetCompositeScheduleIn,
    "update-firmware": UpdateFirmwareIn,
    "get-diagnostics": GetDiagnosticsIn,
    "data-transfer": DataTransferIn,
    "get-transaction-status": GetTransactionStatusIn,
    "set-network-profile": SetNetworkProfileIn,
    "customer-information": CustomerInformationIn,
}


class CommandOut(BaseModel):
    """The charger's answer. Besides these two fields, what the command returns:
    configuration keys, a schedule, a file name, a reservation or request id.
    (A plain pydantic model: ninja's Schema reads only declared fields.)"""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="As the charger put it: Accepted, Rejected, Scheduled, ...")
    command_id: int = Field(description="The command's entry in the command log.")


# --- reads that go with some commands and signed metering ----------------------------


class SignedDataOut(Schema):
    """The meter's signature of a reading, as the charger sent it: check it with the
    meter's public key (e.g. the S.A.F.E. transparency software for OCMF data)."""

    signed_meter_data: str = Field(description="The signed data, in the encoding below.")
    signing_method: str | None = Field(None, description="2.0.1: e.g. ECDSA-secp256r1-SHA256.")
    encoding_method: str | None = Field(None, description="2.0.1: e.g. OCMF or EDL.")
    public_key: str | None = Field(None, description="2.0.1: when the charger sent it.")


class MeterSampleOut(Schema):
    sampled_at: datetime = Field(description="The charger's timestamp.")
    connector_id: int
    measurand: str
    value: float = Field(description="In `unit` (a 2.0.1 multiplier is already applied).")
    unit: str
    phase: str
    location: str
    context: str
    signed: SignedDataOut | None = Field(description="Null for an unsigned reading.")

    @staticmethod
    def resolve_value(sample: MeterSample) -> float:
        return float(sample.value)

    @staticmethod
    def resolve_signed(sample: MeterSample) -> dict[str, Any] | None:
        return sample.signed_data


class CustomerInformationPartOut(Schema):
    seq_no: int
    generated_at: str = Field(description="The charger's timestamp, as it sent it.")
    tbc: bool = Field(description="More parts were to follow this one.")
    data: str
    received_at: datetime


class CustomerInformationOut(Schema):
    """What a charger reported for one customer-information request. Poll until
    `complete`: the parts arrive after the command's answer."""

    charge_point_id: str
    request_id: int = Field(description="The customer-information command's command_id.")
    status: str | None = Field(
        description="The charger's answer to the command (Accepted, Rejected, Invalid); "
        "null before it answered, or for a report it sent under an id of its own."
    )
    report: bool | None = Field(description="Whether a report was asked for.")
    clear: bool | None = Field(description="Whether the charger was asked to forget.")
    complete: bool = Field(
        description="Nothing more to wait for: every part up to the last arrived, or "
        "the charger refused, or only a clear was asked."
    )
    missing_seq_nos: list[int] = Field(description="Parts not received (yet).")
    data: str = Field(description="The parts' data joined in sequence order.")
    parts: list[CustomerInformationPartOut]

    @staticmethod
    def resolve_report(info: CustomerInformation) -> bool | None:
        return None if info.command is None else info.command.params.get("report", True)

    @staticmethod
    def resolve_clear(info: CustomerInformation) -> bool | None:
        return None if info.command is None else info.command.params.get("clear", False)
