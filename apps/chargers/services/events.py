"""What chargers report besides charging: events kept as sent, data transfers."""

from __future__ import annotations

import enum
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction

from apps.chargers.models import (
    Charger,
    ChargerEvent,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


@transaction.atomic
def charger_event_record(
    *,
    charger: Charger,
    kind: str,
    summary: str,
    payload: dict[str, Any] | None = None,
    reported_at: datetime | None = None,
) -> ChargerEvent:
    """Keep what a charger reported besides status and metering (firmware and upload
    progress, security events, 2.0.1 events and reports), as it sent it."""
    return ChargerEvent.objects.create(
        charger=charger,
        kind=kind,
        summary=summary[:255],
        payload=payload or {},
        reported_at=reported_at,
    )


class DataTransferStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN_VENDOR = "unknown_vendor"
    UNKNOWN_MESSAGE = "unknown_message"


@transaction.atomic
def charger_data_transfer(
    *, charger: Charger, vendor_id: str, message_id: str = "", data: Any = None
) -> DataTransferStatus:
    """A vendor-specific message. Kept; no vendor extension is understood yet, so
    the charger hears that its vendor id is unknown."""
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.DATA_TRANSFER,
        summary=f"Data transfer from {vendor_id}" + (f" ({message_id})" if message_id else ""),
        payload={"vendor_id": vendor_id, "message_id": message_id, "data": data},
    )
    return DataTransferStatus.UNKNOWN_VENDOR
