"""API schemas of the chargers app. Outputs are built from model rows; new fields
(presence, the current session) are added here as the domain grows."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema

from apps.chargers.models import Charger, Connector
from apps.sites.schemas import RefOut

# A bound for typing mistakes (kW entered as W), far above any charger made today.
MAX_POWER_KW = 10_000


class ConnectorOut(Schema):
    connector_id: int
    status: Connector.Status
    error_code: str


class ChargerOut(Schema):
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
    last_seen_at: datetime | None
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
