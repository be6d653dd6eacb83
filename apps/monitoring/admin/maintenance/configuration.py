"""Configuration templates (edited), and what chargers reported: configurations,
drift and changes (read-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.chargers import commands
from apps.chargers.models import Charger, CommandLog
from apps.monitoring.admin.maintenance.common import (
    MaintenanceDataAdmin,
    YesNoDriftedFilter,
    command_timeout,
    key_value_table,
)
from apps.monitoring.models import (
    ChargerConfiguration,
    ConfigurationChange,
    ConfigurationDrift,
    ConfigurationTemplate,
    ConfigurationTemplateKey,
)
from apps.monitoring.services import configuration
from apps.sites.admin_tenancy import (
    TenantModelAdmin,
    TenantModelForm,
    TenantTabularInline,
    scope_editable,
)
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from django.http import HttpRequest


# --- configuration templates -----------------------------------------------------------


class TemplateKeyForm(TenantModelForm):
    class Meta:
        model = ConfigurationTemplateKey
        fields = ("key", "value")

    def clean_key(self) -> str:
        key: str = self.cleaned_data["key"].strip()
        if commands.is_password_key(key):
            raise forms.ValidationError(
                "The charger's OCPP password is rotated from the charger page, not templated."
            )
        return key


class TemplateKeyFormSet(forms.BaseInlineFormSet):
    """Refuses 2.0.1 keys that are not 'Component.Variable' (1.6 keys are plain names)."""

    def clean(self) -> None:
        super().clean()
        version = getattr(self.instance, "ocpp_version", Charger.OcppVersion.V16)
        if version == Charger.OcppVersion.V16:
            return
        for key_form in self.forms:
            key = getattr(key_form, "cleaned_data", {}).get("key")
            if key and "." not in key:
                key_form.add_error(
                    "key",
                    "A 2.0.1 key is written 'Component.Variable' "
                    "(e.g. OCPPCommCtrlr.HeartbeatInterval).",
                )


class TemplateKeyInline(TenantTabularInline):
    model = ConfigurationTemplateKey
    form = TemplateKeyForm
    formset = TemplateKeyFormSet
    fields = ("key", "value")
    extra = 1


class TemplateForm(TenantModelForm):
    class Meta:
        model = ConfigurationTemplate
        fields = "__all__"


@admin.register(ConfigurationTemplate)
class ConfigurationTemplateAdmin(TenantModelAdmin):
    form = TemplateForm
    list_display = (
        "name",
        "organization",
        "ocpp_version",
        "vendor",
        "model",
        "is_enabled",
        "keys_count",
        "drifted_count",
    )
    list_filter = ("ocpp_version", "is_enabled", "organization")
    search_fields = ("name", "vendor", "model")
    ordering = ("organization", "name")
    inlines = (TemplateKeyInline,)
    actions = ("apply_to_matching_chargers",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConfigurationTemplate]:
        return (
            super()
            .get_queryset(request)
            .select_related("organization")
            .annotate(
                _keys=Count("keys", distinct=True),
                _drifted=Count(
                    "drifts",
                    filter=Q(drifts__is_drifted=True),
                    distinct=True,
                ),
            )
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # The keys may have changed: judge drift again from what chargers reported.
        configuration.configuration_template_drift_refresh(
            template=form.instance, now=timezone.now()
        )

    @admin.display(description="keys", ordering="_keys")
    def keys_count(self, obj: ConfigurationTemplate) -> int:
        return getattr(obj, "_keys", 0)

    @admin.display(description="chargers drifted", ordering="_drifted")
    def drifted_count(self, obj: ConfigurationTemplate) -> int:
        return getattr(obj, "_drifted", 0)

    @admin.action(
        description="Apply to the chargers it fits (sends every key)", permissions=["change"]
    )
    def apply_to_matching_chargers(
        self, request: HttpRequest, queryset: QuerySet[ConfigurationTemplate]
    ) -> None:
        for template in queryset.order_by("pk"):
            chargers = [
                c
                for c in scope_editable(
                    Charger.objects.filter(
                        zone__property__organization_id=template.organization_id,
                        ocpp_version=template.ocpp_version,
                    ).select_related("zone__property"),
                    request.user,
                    MANAGE_ROLES,
                ).order_by("charge_point_id")
                if configuration.configuration_template_for(charger=c) == template
            ]
            if not chargers:
                self.message_user(request, f"{template}: no charger fits it.", messages.WARNING)
                continue
            results = configuration.configuration_template_apply(
                template=template,
                chargers=chargers,
                issued_by=request.user,
                source=CommandLog.Source.ADMIN,
                timeout=command_timeout(),
            )
            for result in results:
                self.message_user(request, *apply_message(result))


def apply_message(result: configuration.ChargerApplyResult) -> tuple[str, int]:
    name = result.charger.charge_point_id
    if result.error:
        return f"{name}: {result.error}", messages.ERROR
    level = messages.SUCCESS
    if any(c.status not in ("Accepted", "RebootRequired") for c in result.changes):
        level = messages.WARNING
    text = f"{name}: {result.summary}"
    if any(c.status == "RebootRequired" for c in result.changes):
        text += " (a reboot is needed for some keys)"
    if result.drift is not None:
        text += (
            f"; still differs from the template on {len(result.drift.differences)} key(s)"
            if result.drift.is_drifted
            else "; now matches its template"
        )
    return text, level


# --- what chargers reported ------------------------------------------------------------


@admin.register(ChargerConfiguration)
class ChargerConfigurationAdmin(MaintenanceDataAdmin):
    list_display = ("charger", "source", "status", "keys_count", "requested_at", "reported_at")
    list_filter = ("status", "source")
    list_select_related = ("charger",)
    search_fields = ("charger__charge_point_id",)
    ordering = ("-requested_at",)
    date_hierarchy = "requested_at"
    fields = (
        "charger",
        "source",
        "status",
        "requested_at",
        "reported_at",
        "command",
        "configuration_table",
        "unknown_keys",
    )
    readonly_fields = fields

    @admin.display(description="keys")
    def keys_count(self, obj: ChargerConfiguration) -> int:
        return len(obj.values)

    @admin.display(description="configuration")
    def configuration_table(self, obj: ChargerConfiguration) -> str:
        readonly = set(obj.readonly_keys)
        rows = [(k, v, "read-only" if k in readonly else "") for k, v in sorted(obj.values.items())]
        return key_value_table(rows, ("key", "value", ""))


class DriftedFilter(YesNoDriftedFilter):
    title = "drifted"
    drifted_label = "Drifted"
    drifted_field = "is_drifted"


@admin.register(ConfigurationDrift)
class ConfigurationDriftAdmin(MaintenanceDataAdmin):
    list_display = (
        "charger",
        "maintenance_page",
        "template",
        "drifted",
        "keys_differing",
        "checked_at",
        "drifted_since",
    )
    list_filter = (DriftedFilter, "template")
    list_select_related = ("charger", "template")
    search_fields = ("charger__charge_point_id",)
    ordering = ("-is_drifted", "charger__charge_point_id")
    fields = (
        "charger",
        "template",
        "drifted",
        "checked_at",
        "drifted_since",
        "configuration",
        "differences_table",
    )
    readonly_fields = fields

    @admin.display(description="page")
    def maintenance_page(self, obj: ConfigurationDrift) -> str:
        url = reverse("monitoring:charger-maintenance", args=[obj.charger_id])
        return format_html('<a href="{}">maintenance</a>', url)

    @admin.display(boolean=True, description="drifted", ordering="is_drifted")
    def drifted(self, obj: ConfigurationDrift) -> bool:
        return obj.is_drifted

    @admin.display(description="keys differing")
    def keys_differing(self, obj: ConfigurationDrift) -> str:
        return ", ".join(d["key"] for d in obj.differences) or "-"

    @admin.display(description="differences")
    def differences_table(self, obj: ConfigurationDrift) -> str:
        rows = [
            (
                d["key"],
                d["expected"],
                d["reported"] if d["reported"] is not None else "not reported",
            )
            for d in obj.differences
        ]
        return key_value_table(rows, ("key", "expected", "reported"))


@admin.register(ConfigurationChange)
class ConfigurationChangeAdmin(MaintenanceDataAdmin):
    list_display = ("charger", "key", "value", "status", "template", "requested_by", "requested_at")
    list_filter = ("status", "template")
    list_select_related = ("charger", "template", "requested_by")
    search_fields = ("charger__charge_point_id", "key")
    ordering = ("-requested_at",)
    date_hierarchy = "requested_at"
