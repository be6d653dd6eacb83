from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q

from apps.access.models import IdToken, Person, Vehicle
from apps.sites.models import Circuit, Zone
from apps.sites.tenancy import TenantQuerySet

# OCPP 2.0.1 identities are at most 48 characters and never contain ":" (it
# separates the username in HTTP Basic auth); we apply the rule to 1.6 too.
charge_point_id_validator = RegexValidator(
    r"^[^:/\s]{1,48}$",
    "A charge point id has 1 to 48 characters, without spaces, ':' or '/'.",
)


class Charger(models.Model):
    """A charging station, identified by its OCPP charge point id."""

    class OcppVersion(models.TextChoices):
        V16 = "1.6", "OCPP 1.6J"
        V201 = "2.0.1", "OCPP 2.0.1"
        V21 = "2.1", "OCPP 2.1"

    class Registration(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        PENDING = "pending", "Pending approval"
        REJECTED = "rejected", "Rejected"

    charge_point_id = models.CharField(
        max_length=48, unique=True, validators=[charge_point_id_validator]
    )
    name = models.CharField(max_length=100, blank=True)
    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, related_name="chargers")
    circuit = models.ForeignKey(
        Circuit, on_delete=models.SET_NULL, null=True, blank=True, related_name="chargers"
    )
    vendor = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=50, blank=True)
    serial_number = models.CharField(max_length=50, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    ocpp_version = models.CharField(
        max_length=8, choices=OcppVersion.choices, blank=True, verbose_name="OCPP version"
    )
    max_power_w = models.PositiveIntegerField(verbose_name="max power (W)")
    phases = models.PositiveSmallIntegerField(choices=[(1, "1"), (3, "3")], default=3)
    # "<algorithm>$<salt>$<digest>", see apps/chargers/credentials.py. Empty: no
    # HTTP Basic auth (security profile 0, trusted networks only).
    password_hash = models.CharField(max_length=200, blank=True, editable=False)
    # A rotation's new password, hashed, from before it is sent until the charger's
    # answer: when the answer is lost, the charger may use either, so admission
    # accepts both until the new one is used (see services.registration).
    pending_password_hash = models.CharField(max_length=200, blank=True, editable=False)
    pending_password_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    registration = models.CharField(
        max_length=16, choices=Registration.choices, default=Registration.ACCEPTED
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_boot_at = models.DateTimeField(null=True, blank=True)
    # The Channels channel of the consumer holding this charger's socket, in
    # whichever process: commands are sent there. Empty while offline.
    channel_name = models.CharField(max_length=200, blank=True, editable=False)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "zone__property__organization"

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_power_w__gt=0), name="chargers_charger_max_power_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.charge_point_id

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    @property
    def online(self) -> bool:
        return bool(self.channel_name)


class Connector(models.Model):
    """A connector a vehicle plugs into. `connector_id` is the OCPP 1.6 connectorId,
    or the OCPP 2.0.1 EVSE id (one connector per EVSE, as on nearly all AC and DC
    stations)."""

    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        PREPARING = "preparing", "Preparing"
        CHARGING = "charging", "Charging"
        SUSPENDED_EV = "suspended_ev", "Suspended by vehicle"
        SUSPENDED_EVSE = "suspended_evse", "Suspended by charger"
        FINISHING = "finishing", "Finishing"
        RESERVED = "reserved", "Reserved"
        OCCUPIED = "occupied", "Occupied"
        UNAVAILABLE = "unavailable", "Unavailable"
        FAULTED = "faulted", "Faulted"
        UNKNOWN = "unknown", "Unknown"

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="connectors")
    connector_id = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN)
    error_code = models.CharField(max_length=50, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "charger__zone__property__organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["charger", "connector_id"], name="chargers_connector_unique_per_charger"
            ),
            models.CheckConstraint(
                condition=Q(connector_id__gte=1), name="chargers_connector_id_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.charger_id and self.charger.charge_point_id} #{self.connector_id}"


class StatusChange(models.Model):
    """One StatusNotification, kept as history. `connector` is empty for a report
    about the whole charger (OCPP connector 0)."""

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="status_changes")
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, null=True, blank=True, related_name="status_changes"
    )
    status = models.CharField(max_length=16, choices=Connector.Status.choices)
    error_code = models.CharField(max_length=50, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    info = models.CharField(max_length=255, blank=True)
    reported_at = models.DateTimeField(help_text="The charger's timestamp.")
    received_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "charger__zone__property__organization"

    class Meta:
        indexes = [
            models.Index(fields=["charger", "reported_at"], name="chargers_status_charger_time"),
        ]

    def __str__(self) -> str:
        return f"{self.charger_id} {self.status} at {self.reported_at:%Y-%m-%d %H:%M:%S}"


class ChargingSession(models.Model):
    """One transaction on a connector, from start to stop. The energy is exactly
    meter stop − meter start, computed by the database; it stays empty when the
    charger did not report one of the two readings (an OCPP 2.0.1 station need not):
    we never invent readings."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"

    charger = models.ForeignKey(Charger, on_delete=models.PROTECT, related_name="sessions")
    # Empty only when a 2.0.1 station of several EVSEs never said which one it was.
    connector = models.ForeignKey(
        Connector, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions"
    )
    # The 1.6 transactionId we issued, or the 2.0.1 transactionId the charger chose.
    ocpp_transaction_id = models.CharField(max_length=36, verbose_name="OCPP transaction id")
    id_tag = models.CharField(
        max_length=36, blank=True, help_text="The token as the charger sent it."
    )
    id_token = models.ForeignKey(
        IdToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    meter_start_wh = models.BigIntegerField(null=True, blank=True)
    meter_stop_wh = models.BigIntegerField(null=True, blank=True)
    energy_wh = models.GeneratedField(
        expression=F("meter_stop_wh") - F("meter_start_wh"),
        output_field=models.BigIntegerField(null=True),
        db_persist=True,
    )
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=40, blank=True)
    # 2.0.1: the highest TransactionEvent seqNo seen, and whether any event of the
    # session was queued while the station was offline.
    last_seq_no = models.PositiveIntegerField(null=True, blank=True)
    had_offline_events = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "charger__zone__property__organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector"],
                condition=Q(state="active"),
                name="chargers_session_one_active_per_connector",
            ),
            models.UniqueConstraint(
                fields=["charger", "ocpp_transaction_id"],
                name="chargers_session_unique_transaction_per_charger",
            ),
            models.CheckConstraint(
                condition=Q(meter_stop_wh__isnull=True) | Q(meter_stop_wh__gte=F("meter_start_wh")),
                name="chargers_session_meter_stop_not_below_start",
            ),
            models.CheckConstraint(
                condition=Q(stopped_at__isnull=True) | Q(stopped_at__gte=F("started_at")),
                name="chargers_session_stop_not_before_start",
            ),
            models.CheckConstraint(
                # A completed session may lack the stop reading (2.0.1, or a stop
                # that never came), never the stop time.
                condition=Q(state="active", stopped_at__isnull=True)
                | Q(state="completed", stopped_at__isnull=False),
                name="chargers_session_state_matches_stop",
            ),
        ]
        indexes = [
            models.Index(fields=["charger", "-started_at"], name="chargers_session_charger_time"),
            models.Index(fields=["id_token", "-started_at"], name="chargers_session_token_time"),
        ]

    def __str__(self) -> str:
        return f"{self.charger_id}:{self.ocpp_transaction_id}"


class MeterSample(models.Model):
    """One sampled value from MeterValues (or a transaction's start/stop data).
    Kept narrow and indexed by (session, time) and (charger, time): these tables
    grow to millions of rows."""

    id = models.BigAutoField(primary_key=True)
    # No index of their own: the unique reading's index starts with the charger and
    # chargers_sample_session_time with the session. Every index is written for
    # every sampled value, the hottest insert of the system.
    charger = models.ForeignKey(
        Charger, on_delete=models.CASCADE, related_name="meter_samples", db_index=False
    )
    connector_id = models.PositiveSmallIntegerField(help_text="0: the charger's main meter.")
    session = models.ForeignKey(
        ChargingSession,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="meter_samples",
        db_index=False,
    )
    sampled_at = models.DateTimeField()
    measurand = models.CharField(max_length=48, default="Energy.Active.Import.Register")
    value = models.DecimalField(max_digits=20, decimal_places=6)
    unit = models.CharField(max_length=16, blank=True)
    phase = models.CharField(max_length=8, blank=True)
    context = models.CharField(max_length=24, blank=True)
    location = models.CharField(max_length=8, blank=True)
    # The meter's signature of this reading, as the charger sent it (OCPP signed meter
    # values: {"signed_meter_data", "signing_method"?, "encoding_method"?,
    # "public_key"?}); null for unsigned readings.
    signed_data = models.JSONField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "charger__zone__property__organization"

    class Meta:
        constraints = [
            # One reading per meter, quantity and instant: a retransmitted
            # MeterValues, StopTransaction or TransactionEvent stores nothing twice.
            # Its index also serves the (charger, time) queries.
            models.UniqueConstraint(
                fields=[
                    "charger",
                    "sampled_at",
                    "connector_id",
                    "measurand",
                    "phase",
                    "location",
                    "context",
                ],
                name="chargers_sample_unique_reading",
            ),
        ]
        indexes = [
            models.Index(fields=["session", "sampled_at"], name="chargers_sample_session_time"),
        ]

    def __str__(self) -> str:
        return f"{self.measurand}={self.value}{self.unit} at {self.sampled_at:%Y-%m-%d %H:%M:%S}"


class SessionEvent(models.Model):
    """One OCPP 2.0.1 TransactionEvent of a session, kept to make retransmissions
    harmless (unique seqNo per session) and to show gaps and offline-queued events."""

    class Kind(models.TextChoices):
        STARTED = "started", "Started"
        UPDATED = "updated", "Updated"
        ENDED = "ended", "Ended"

    session = models.ForeignKey(ChargingSession, on_delete=models.CASCADE, related_name="events")
    seq_no = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    trigger = models.CharField(max_length=40, blank=True)
    charging_state = models.CharField(max_length=24, blank=True)
    offline = models.BooleanField(default=False)
    reported_at = models.DateTimeField(help_text="The charger's timestamp.")
    received_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "session__charger__zone__property__organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "seq_no"], name="chargers_sessionevent_unique_seq_no"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} #{self.seq_no} {self.kind}"


class IssuedTransactionId(models.Model):
    """The OCPP 1.6 transaction ids we hand out: one row per id, so an id is never
    issued twice (PostgreSQL identities and SQLite AUTOINCREMENT never reuse a
    value, even after deletes)."""

    id = models.BigAutoField(primary_key=True)
    issued_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.pk)


class ChargerEvent(models.Model):
    """What a charger reports besides status and metering: data transfers, firmware
    and diagnostics/log upload progress, security events, 2.0.1 events and reports.
    The payload is kept as the charger sent it."""

    class Kind(models.TextChoices):
        BOOT = "boot", "Boot"
        DATA_TRANSFER = "data_transfer", "Data transfer"
        FIRMWARE_STATUS = "firmware_status", "Firmware status"
        DIAGNOSTICS_STATUS = "diagnostics_status", "Diagnostics / log upload status"
        SECURITY_EVENT = "security_event", "Security event"
        NOTIFY_EVENT = "notify_event", "Event notification"
        NOTIFY_REPORT = "notify_report", "Report"
        CONNECTION = "connection", "Connection"
        OTHER = "other", "Other notification"

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    summary = models.CharField(max_length=255, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True, help_text="The charger's timestamp.")
    received_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "charger__zone__property__organization"

    class Meta:
        indexes = [
            models.Index(fields=["charger", "-received_at"], name="chargers_event_charger_time"),
        ]

    def __str__(self) -> str:
        return f"{self.charger_id} {self.get_kind_display()}: {self.summary}"


class CommandLog(models.Model):
    """A command sent to a charger: who asked, when, what, and what it answered."""

    class Source(models.TextChoices):
        API = "api", "API"
        ADMIN = "admin", "Admin"
        DASHBOARD = "dashboard", "Dashboard"
        TASK = "task", "Background task"
        SYSTEM = "system", "System"

    class Outcome(models.TextChoices):
        PENDING = "pending", "Waiting for the charger"
        ANSWERED = "answered", "Answered"
        OFFLINE = "offline", "Charger offline"
        TIMEOUT = "timeout", "No answer in time"
        ERROR = "error", "Error"

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="commands")
    command = models.CharField(max_length=40, help_text="Domain name, e.g. remote-start.")
    params = models.JSONField(default=dict, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="charger_commands",
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    status = models.CharField(
        max_length=40, blank=True, help_text="The charger's answer, e.g. Accepted."
    )
    response = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "charger__zone__property__organization"

    class Meta:
        indexes = [
            models.Index(fields=["charger", "-created_at"], name="chargers_command_charger_time"),
        ]

    def __str__(self) -> str:
        return f"{self.command} → {self.charger_id} ({self.get_outcome_display()})"


class OcppMessage(models.Model):
    """The raw OCPP message log of a charger, both directions, for support and
    debugging. Written in batches off the protocol path (a charger's data is stored
    by the domain services before it is acknowledged; this log is a copy for people),
    kept for OCPP_MESSAGE_LOG_DAYS."""

    class Direction(models.TextChoices):
        IN = "in", "Charger → Plugboard"
        OUT = "out", "Plugboard → charger"

    class MessageType(models.IntegerChoices):
        CALL = 2, "Call"
        RESULT = 3, "Result"
        ERROR = 4, "Error"

    id = models.BigAutoField(primary_key=True)
    # No index of its own: chargers_ocppmsg_charger_time starts with the charger.
    charger = models.ForeignKey(
        Charger, on_delete=models.CASCADE, related_name="ocpp_messages", db_index=False
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    message_type = models.PositiveSmallIntegerField(choices=MessageType.choices, null=True)
    action = models.CharField(
        max_length=48, blank=True, help_text="The action; for answers, the action of the call."
    )
    message_id = models.CharField(max_length=64, blank=True)
    frame = models.TextField(help_text="The frame as sent or received (truncated past 64 KiB).")
    at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "charger__zone__property__organization"

    class Meta:
        verbose_name = "OCPP message"
        indexes = [
            models.Index(fields=["charger", "-at"], name="chargers_ocppmsg_charger_time"),
            models.Index(fields=["at"], name="chargers_ocppmsg_time"),
        ]

    def __str__(self) -> str:
        return f"{self.charger_id} {self.direction} {self.action or self.message_type}"
