"""Writes for chargers: registration, connections, what chargers report.

A package of modules by concern; everything public is importable from here, so
callers say `from apps.chargers import services` and `services.session_start`.
"""

from __future__ import annotations

from apps.chargers.services.connections import (
    HEARTBEAT_INTERVAL_S,
    PENDING_RETRY_INTERVAL_S,
    PRESENCE_GRACE_S,
    SEEN_WRITE_INTERVAL_S,
    BootResult,
    charger_admit_connect,
    charger_boot,
    charger_connected,
    charger_disconnected,
    charger_heartbeat,
    charger_presence_sweep,
    charger_seen,
    chargers_seen,
    may_have_been_swept,
)
from apps.chargers.services.events import (
    DataTransferStatus,
    charger_data_transfer,
    charger_event_record,
)
from apps.chargers.services.meter_samples import (
    ENERGY_REGISTER,
    MeterReport,
    Sample,
    meter_samples_record,
    meter_samples_record_many,
)
from apps.chargers.services.registration import (
    ONBOARDING_MAX_POWER_W,
    Admission,
    ChargerNotAccepted,
    PasswordChangePending,
    PasswordRotation,
    Refusal,
    charger_admit,
    charger_create,
    charger_password_rotate,
    charger_password_rotate_many_sync,
    charger_password_rotate_sync,
    charger_register,
    charger_set_password,
    require_accepted,
)
from apps.chargers.services.session_events import (
    SessionEventReport,
    session_event_groupable,
    session_event_record,
    session_events_record_many,
)
from apps.chargers.services.sessions import (
    CONTEXT_BEGIN,
    CONTEXT_END,
    STOP_REASON_NO_STOP_RECEIVED,
    SessionResult,
    connector_status_update,
    session_event,
    session_start,
    session_stop,
)

__all__ = [
    "charger_password_rotate",
    "Admission",
    "BootResult",
    "CONTEXT_BEGIN",
    "CONTEXT_END",
    "ChargerNotAccepted",
    "DataTransferStatus",
    "ENERGY_REGISTER",
    "HEARTBEAT_INTERVAL_S",
    "MeterReport",
    "ONBOARDING_MAX_POWER_W",
    "PENDING_RETRY_INTERVAL_S",
    "PRESENCE_GRACE_S",
    "PasswordChangePending",
    "PasswordRotation",
    "Refusal",
    "SEEN_WRITE_INTERVAL_S",
    "STOP_REASON_NO_STOP_RECEIVED",
    "Sample",
    "SessionEventReport",
    "SessionResult",
    "charger_admit",
    "charger_admit_connect",
    "charger_boot",
    "charger_connected",
    "charger_create",
    "charger_data_transfer",
    "charger_disconnected",
    "charger_event_record",
    "charger_heartbeat",
    "charger_password_rotate_many_sync",
    "charger_password_rotate_sync",
    "charger_presence_sweep",
    "charger_register",
    "charger_seen",
    "chargers_seen",
    "may_have_been_swept",
    "charger_set_password",
    "connector_status_update",
    "meter_samples_record",
    "meter_samples_record_many",
    "require_accepted",
    "session_event",
    "session_event_groupable",
    "session_event_record",
    "session_events_record_many",
    "session_start",
    "session_stop",
]
