"""Firmware campaigns and their per-charger updates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.chargers.models import Charger, CommandLog
from apps.monitoring.admin.maintenance.common import MaintenanceDataAdmin, command_timeout
from apps.monitoring.models import FirmwareCampaign, FirmwareUpdate
from apps.monitoring.services import firmware
from apps.sites.admin_tenancy import (
    TenantModelAdmin,
    TenantModelForm,
    TenantTabularInline,
    scope_editable,
)

if TYPE_CHECKING:
    from django.http import HttpRequest


class FirmwareUpdateInline(TenantTabularInline):
    model = FirmwareUpdate
    fields = ("charger", "status", "ocpp_status", "send_attempts", "sent_at", "status_at", "detail")
    readonly_fields = fields
    ordering = ("charger__charge_point_id",)
    read_only = True
    can_delete = False
    extra = 0


class FirmwareCampaignAddForm(TenantModelForm):
    """A new campaign: its chargers (of the campaign's organization) are picked here,
    or selected on the charger list ("Update firmware…")."""

    firmware_url = forms.URLField(max_length=512, label="Firmware URL", assume_scheme="https")
    chargers = forms.ModelMultipleChoiceField(queryset=Charger.objects.none())

    class Meta:
        model = FirmwareCampaign
        fields = (
            "organization",
            "name",
            "firmware_url",
            "retrieve_at",
            "retries",
            "retry_interval_s",
            "max_send_attempts",
        )


CAMPAIGN_READONLY = (
    "organization",
    "firmware_url",
    "retrieve_at",
    "retries",
    "retry_interval_s",
    "status",
    "summary",
    "created_by",
    "created_at",
    "finished_at",
)


@admin.register(FirmwareCampaign)
class FirmwareCampaignAdmin(TenantModelAdmin):
    list_display = (
        "name",
        "organization",
        "status",
        "installed",
        "failed",
        "in_progress",
        "pending",
        "created_at",
    )
    list_filter = ("status", "organization")
    search_fields = ("name", "firmware_url")
    ordering = ("-created_at",)
    inlines = (FirmwareUpdateInline,)
    actions = ("cancel_campaigns",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return (*FirmwareCampaignAddForm.Meta.fields, "chargers")
        return ("name", "max_send_attempts", *CAMPAIGN_READONLY)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else CAMPAIGN_READONLY

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return () if obj is None else self.inlines

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is not None:
            return super().get_form(request, obj, change, **kwargs)
        chargers = scope_editable(Charger.objects.all(), request.user, self.write_roles).order_by(
            "charge_point_id"
        )

        class Form(FirmwareCampaignAddForm):
            def __init__(self, *args: Any, **form_kwargs: Any) -> None:
                super().__init__(*args, **form_kwargs)
                field = self.fields["chargers"]
                assert isinstance(field, forms.ModelMultipleChoiceField)  # noqa: S101 (narrows)
                field.queryset = chargers

        kwargs["form"] = Form
        kwargs["fields"] = FirmwareCampaignAddForm.Meta.fields
        return super().get_form(request, obj, change, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: FirmwareCampaign, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        campaign = firmware.firmware_campaign_start(
            organization=data["organization"],
            name=data["name"],
            firmware_url=data["firmware_url"],
            retrieve_at=data["retrieve_at"],
            chargers=list(data["chargers"]),
            retries=data["retries"],
            retry_interval_s=data["retry_interval_s"],
            created_by=request.user,
            source=CommandLog.Source.ADMIN,
            timeout=command_timeout(),
        )
        # The admin carries on with `obj` (log entry, redirect): make it the new row.
        obj.pk = campaign.pk
        obj.created_at = campaign.created_at
        obj._state.adding = False
        obj._state.db = campaign._state.db

    def get_queryset(self, request: HttpRequest) -> QuerySet[FirmwareCampaign]:
        S = FirmwareUpdate.Status
        return (
            super()
            .get_queryset(request)
            .select_related("organization")
            .annotate(
                _installed=Count("updates", filter=Q(updates__status=S.INSTALLED)),
                _failed=Count("updates", filter=Q(updates__status=S.FAILED)),
                _pending=Count("updates", filter=Q(updates__status=S.PENDING)),
                _in_progress=Count("updates", filter=Q(updates__status__in=firmware.IN_PROGRESS)),
            )
        )

    @admin.display(description="installed", ordering="_installed")
    def installed(self, obj: FirmwareCampaign) -> int:
        return getattr(obj, "_installed", 0)

    @admin.display(description="failed", ordering="_failed")
    def failed(self, obj: FirmwareCampaign) -> int:
        return getattr(obj, "_failed", 0)

    @admin.display(description="in progress", ordering="_in_progress")
    def in_progress(self, obj: FirmwareCampaign) -> int:
        return getattr(obj, "_in_progress", 0)

    @admin.display(description="waiting to be sent", ordering="_pending")
    def pending(self, obj: FirmwareCampaign) -> int:
        return getattr(obj, "_pending", 0)

    @admin.display(description="summary")
    def summary(self, obj: FirmwareCampaign) -> str:
        return str(firmware.firmware_campaign_summary(campaign=obj))

    @admin.action(
        description="Cancel (stop sending to chargers not reached yet)", permissions=["change"]
    )
    def cancel_campaigns(self, request: HttpRequest, queryset: QuerySet[FirmwareCampaign]) -> None:
        for campaign in queryset.filter(status=FirmwareCampaign.Status.ACTIVE).order_by("pk"):
            n = firmware.firmware_campaign_cancel(campaign=campaign, now=timezone.now())
            self.message_user(
                request, f"{campaign}: cancelled; {n} charger(s) will not be sent it."
            )


@admin.register(FirmwareUpdate)
class FirmwareUpdateAdmin(MaintenanceDataAdmin):
    list_display = (
        "charger",
        "campaign",
        "status",
        "ocpp_status",
        "send_attempts",
        "sent_at",
        "status_at",
    )
    list_filter = ("status", "campaign")
    list_select_related = ("charger", "campaign")
    search_fields = ("charger__charge_point_id", "campaign__name")
    ordering = ("-pk",)
