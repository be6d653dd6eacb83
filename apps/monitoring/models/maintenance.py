"""Maintenance: what chargers report about their configuration, the templates they
should follow (and how far they drift from them), firmware campaigns, and
diagnostics / log uploads.

Rows here are written by services (apps/monitoring/services/{configuration,firmware,
diagnostics}.py); templates and campaigns are what a manager edits."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.chargers.models import Charger, CommandLog
from apps.sites.models import Organization
from apps.sites.tenancy import TenantQuerySet

__all__ = [
    "ChargerConfiguration",
    "ConfigurationChange",
    "ConfigurationDrift",
    "ConfigurationTemplate",
    "ConfigurationTemplateKey",
    "DiagnosticsRequest",
    "FirmwareCampaign",
    "FirmwareUpdate",
]

CHARGER_TENANT_PATH = "charger__zone__property__organization"


class ChargerConfiguration(models.Model):
    """One reading of a charger's configuration, as it reported it: 1.6 keys
    (GetConfiguration) or 2.0.1 "Component.Variable" labels (GetVariables, or the
    NotifyReport parts answering GetBaseReport)."""

    class Source(models.TextChoices):
        GET_CONFIGURATION = "get_configuration", "GetConfiguration (1.6)"
        GET_VARIABLES = "get_variables", "GetVariables (2.0.1)"
        BASE_REPORT = "base_report", "GetBaseReport / NotifyReport (2.0.1)"

    class Status(models.TextChoices):
        # A 2.0.1 base report arrives in parts after the command's answer.
        PENDING = "pending", "Waiting for the report"
        COMPLETE = "complete", "Complete"

    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="configurations")
    source = models.CharField(max_length=24, choices=Source.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    # key -> value as reported (None: the charger keeps the value to itself).
    values = models.JSONField(default=dict, blank=True)
    readonly_keys = models.JSONField(default=list, blank=True)
    unknown_keys = models.JSONField(default=list, blank=True)
    # Only these keys were asked for (empty: the whole configuration).
    requested_keys = models.JSONField(default=list, blank=True)
    report_request_id = models.PositiveIntegerField(null=True, blank=True)
    command = models.ForeignKey(
        CommandLog, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField()
    reported_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = CHARGER_TENANT_PATH

    class Meta:
        verbose_name = "reported configuration"
        indexes = [
            models.Index(fields=["charger", "-requested_at"], name="monitoring_cfg_charger_time"),
        ]

    def __str__(self) -> str:
        return f"{self.charger_id} configuration at {self.requested_at:%Y-%m-%d %H:%M}"


class ConfigurationTemplate(models.Model):
    """The configuration an organization wants on its chargers of one make and
    model (blank vendor / model: any) speaking one OCPP version."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="configuration_templates"
    )
    name = models.CharField(max_length=100)
    vendor = models.CharField(max_length=50, blank=True, help_text="Empty: any vendor.")
    model = models.CharField(max_length=50, blank=True, help_text="Empty: any model.")
    ocpp_version = models.CharField(
        max_length=8, choices=Charger.OcppVersion.choices, default=Charger.OcppVersion.V16
    )
    is_enabled = models.BooleanField(
        default=True, help_text="Disabled templates are neither applied nor checked."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "vendor", "model", "ocpp_version"],
                name="monitoring_configurationtemplate_one_per_model",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ConfigurationTemplateKey(models.Model):
    """One key of a template. 2.0.1 keys are written "Component.Variable"
    (e.g. "OCPPCommCtrlr.HeartbeatInterval")."""

    template = models.ForeignKey(
        ConfigurationTemplate, on_delete=models.CASCADE, related_name="keys"
    )
    key = models.CharField(max_length=120)
    value = models.CharField(max_length=500, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "template__organization"

    class Meta:
        verbose_name = "template key"
        constraints = [
            models.UniqueConstraint(
                fields=["template", "key"], name="monitoring_configurationtemplatekey_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} = {self.value}"


class ConfigurationChange(models.Model):
    """One key sent to one charger (ChangeConfiguration / SetVariables) and its answer."""

    class Status(models.TextChoices):
        ACCEPTED = "Accepted", "Accepted"
        REBOOT_REQUIRED = "RebootRequired", "Reboot required"
        REJECTED = "Rejected", "Rejected"
        NOT_SUPPORTED = "NotSupported", "Not supported"
        OFFLINE = "Offline", "Charger offline"
        NO_ANSWER = "NoAnswer", "No answer"
        ERROR = "Error", "Error"

    charger = models.ForeignKey(
        Charger, on_delete=models.CASCADE, related_name="configuration_changes"
    )
    template = models.ForeignKey(
        ConfigurationTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="changes",
    )
    key = models.CharField(max_length=120)
    value = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    detail = models.CharField(max_length=255, blank=True)
    command = models.ForeignKey(
        CommandLog, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = CHARGER_TENANT_PATH

    class Meta:
        indexes = [
            models.Index(fields=["charger", "-requested_at"], name="monitoring_cfgchange_time"),
        ]

    def __str__(self) -> str:
        return f"{self.charger_id} {self.key} = {self.value}: {self.status}"


class ConfigurationDrift(models.Model):
    """Where a charger stands against its template, as of its last reported
    configuration: one row per charger, re-evaluated on every reading."""

    charger = models.OneToOneField(
        Charger, on_delete=models.CASCADE, related_name="configuration_drift"
    )
    # No template, no drift: deleting a template forgets the drift judged against it.
    template = models.ForeignKey(
        ConfigurationTemplate,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="drifts",
    )
    configuration = models.ForeignKey(
        ChargerConfiguration, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_drifted = models.BooleanField(default=False)
    # [{"key", "expected", "reported"}]; reported None: the charger did not report the key.
    differences = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField()
    drifted_since = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = CHARGER_TENANT_PATH

    class Meta:
        verbose_name = "configuration drift"
        indexes = [models.Index(fields=["is_drifted"], name="monitoring_drift_flag")]

    def __str__(self) -> str:
        state = f"{len(self.differences)} key(s) differ" if self.is_drifted else "as templated"
        return f"{self.charger_id}: {state}"


class FirmwareCampaign(models.Model):
    """A firmware update sent to a selection of chargers."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        FINISHED = "finished", "Finished"
        CANCELLED = "cancelled", "Cancelled"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="firmware_campaigns"
    )
    name = models.CharField(max_length=100)
    firmware_url = models.URLField(max_length=512)
    retrieve_at = models.DateTimeField(help_text="When the chargers should download it.")
    retries = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="How often the charger retries a failed download."
    )
    retry_interval_s = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds between the charger's download attempts."
    )
    max_send_attempts = models.PositiveSmallIntegerField(
        default=5, help_text="How often Plugboard tries to reach an offline charger."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    def __str__(self) -> str:
        return self.name


class FirmwareUpdate(models.Model):
    """One charger in a campaign: sending the UpdateFirmware, then its progress from
    FirmwareStatusNotification."""

    class Status(models.TextChoices):
        PENDING = "pending", "Not sent yet"
        SENT = "sent", "Accepted by the charger"
        DOWNLOADING = "downloading", "Downloading"
        DOWNLOADED = "downloaded", "Downloaded"
        INSTALLING = "installing", "Installing"
        INSTALLED = "installed", "Installed"
        FAILED = "failed", "Failed"

    campaign = models.ForeignKey(FirmwareCampaign, on_delete=models.CASCADE, related_name="updates")
    charger = models.ForeignKey(Charger, on_delete=models.CASCADE, related_name="firmware_updates")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # The charger's last word (FirmwareStatus), or why sending failed.
    ocpp_status = models.CharField(max_length=40, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    command = models.ForeignKey(
        CommandLog, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)
    firmware_version_before = models.CharField(max_length=50, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "campaign__organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "charger"], name="monitoring_firmwareupdate_one_per_charger"
            ),
        ]
        indexes = [models.Index(fields=["status"], name="monitoring_fwupdate_status")]

    def __str__(self) -> str:
        return f"{self.campaign_id} / {self.charger_id}: {self.status}"


class DiagnosticsRequest(models.Model):
    """A diagnostics (1.6 GetDiagnostics) or log (2.0.1 GetLog) upload asked of a
    charger. The charger uploads to a single-use URL on Plugboard; only the hash of
    its token is kept."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        UPLOADING = "uploading", "Uploading"
        UPLOADED = "uploaded", "Uploaded"
        FAILED = "failed", "Failed"
        # Kept for the record; the file went after DIAGNOSTICS_UPLOAD_RETENTION_DAYS.
        DELETED = "deleted", "File deleted (retention)"

    charger = models.ForeignKey(
        Charger, on_delete=models.CASCADE, related_name="diagnostics_requests"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    ocpp_status = models.CharField(max_length=40, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    command = models.ForeignKey(
        CommandLog, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField()
    # The name the charger announced (GetDiagnostics / GetLog answer), and the file kept.
    announced_file_name = models.CharField(max_length=255, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    file_path = models.CharField(
        max_length=500, blank=True, help_text="Relative to DIAGNOSTICS_UPLOAD_DIR."
    )
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = CHARGER_TENANT_PATH

    class Meta:
        verbose_name = "diagnostics upload"
        constraints = [
            models.CheckConstraint(
                condition=Q(status="uploaded", file_path__gt="") | ~Q(status="uploaded"),
                name="monitoring_diagnosticsrequest_uploaded_has_file",
            ),
        ]
        indexes = [
            models.Index(fields=["charger", "-requested_at"], name="monitoring_diag_charger_time"),
        ]

    def __str__(self) -> str:
        return f"{self.charger_id} diagnostics {self.requested_at:%Y-%m-%d %H:%M}: {self.status}"
