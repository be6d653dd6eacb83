"""maintenance admin: configuration templates (edited), reported configurations,
drift and changes (read-only), firmware campaigns and diagnostics uploads; plus the
actions on the charger list (apps/chargers/admin.py) that start them. Each action
makes one service call and shows every charger's answer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from apps.chargers import commands
from apps.chargers.models import Charger, CommandLog
from apps.monitoring.models import (
    ChargerConfiguration,
    ConfigurationChange,
    ConfigurationDrift,
    ConfigurationTemplate,
    ConfigurationTemplateKey,
    DiagnosticsRequest,
    FirmwareCampaign,
    FirmwareUpdate,
)
from apps.monitoring.services import configuration, diagnostics, firmware
from apps.sites.admin_tenancy import (
    TenantModelAdmin,
    TenantModelForm,
    TenantTabularInline,
    scope_editable,
)
from apps.sites.exceptions import DomainError
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

# Seconds each charger is given to answer an admin action: someone is waiting.
ADMIN_TIMEOUT_S = 10.0


def _timeout() -> float:
    return float(getattr(settings, "OCPP_ADMIN_COMMAND_TIMEOUT", ADMIN_TIMEOUT_S))


def _key_value_table(rows: list[tuple[Any, ...]], headers: tuple[str, ...]) -> str:
    if not rows:
        return "-"
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (format_html_join("", "<td>{}</td>", ((c if c is not None else "—",) for c in r)),)
            for r in rows
        ),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


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
                timeout=_timeout(),
            )
            for result in results:
                self.message_user(request, *_apply_message(result))


def _apply_message(result: configuration.ChargerApplyResult) -> tuple[str, int]:
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


class MaintenanceDataAdmin(TenantModelAdmin):
    """Rows written by services from what chargers answer: shown, never typed in."""

    read_only = True


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
        return _key_value_table(rows, ("key", "value", ""))


class DriftedFilter(admin.SimpleListFilter):
    title = "drifted"
    parameter_name = "drifted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Drifted"), ("no", "As templated")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(is_drifted=True)
        if self.value() == "no":
            return queryset.filter(is_drifted=False)
        return queryset


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
        return _key_value_table(rows, ("key", "expected", "reported"))


@admin.register(ConfigurationChange)
class ConfigurationChangeAdmin(MaintenanceDataAdmin):
    list_display = ("charger", "key", "value", "status", "template", "requested_by", "requested_at")
    list_filter = ("status", "template")
    list_select_related = ("charger", "template", "requested_by")
    search_fields = ("charger__charge_point_id", "key")
    ordering = ("-requested_at",)
    date_hierarchy = "requested_at"


# --- firmware ------------------------------------------------------------------------


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
            timeout=_timeout(),
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


# --- diagnostics -----------------------------------------------------------------------


@admin.register(DiagnosticsRequest)
class DiagnosticsRequestAdmin(MaintenanceDataAdmin):
    list_display = (
        "charger",
        "status",
        "ocpp_status",
        "requested_by",
        "requested_at",
        "download",
        "size",
    )
    list_filter = ("status",)
    list_select_related = ("charger", "requested_by")
    search_fields = ("charger__charge_point_id", "file_name")
    ordering = ("-requested_at",)
    date_hierarchy = "requested_at"
    fields = (
        "charger",
        "status",
        "ocpp_status",
        "detail",
        "requested_by",
        "requested_at",
        "expires_at",
        "announced_file_name",
        "download",
        "size",
        "content_type",
        "uploaded_at",
        "command",
    )
    readonly_fields = fields

    @admin.display(description="file")
    def download(self, obj: DiagnosticsRequest) -> str:
        if obj.status != DiagnosticsRequest.Status.UPLOADED:
            return "-"
        url = reverse("monitoring:diagnostics-download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.file_name)

    @admin.display(description="size", ordering="file_size")
    def size(self, obj: DiagnosticsRequest) -> str:
        if obj.file_size is None:
            return "-"
        return f"{obj.file_size / 1024:.1f} KiB" if obj.file_size >= 1024 else f"{obj.file_size} B"


# --- actions on the charger list (apps/chargers/admin.py) -----------------------------


def _editable(model_admin: Any, request: HttpRequest, queryset: QuerySet[Charger]) -> list[Charger]:
    """The selected chargers the user may command; warns about the others."""
    editable = list(
        scope_editable(queryset, request.user, MANAGE_ROLES)
        .select_related("zone__property")
        .order_by("charge_point_id")
    )
    skipped = queryset.count() - len(editable)
    if skipped:
        model_admin.message_user(
            request,
            f"{skipped} of the selected chargers may not be commanded by you: skipped.",
            messages.WARNING,
        )
    return editable


@admin.action(description="Read configuration", permissions=["change"])
def read_configuration(model_admin: Any, request: HttpRequest, queryset: QuerySet[Charger]) -> None:
    chargers = _editable(model_admin, request, queryset)
    outcomes = configuration.configuration_read_many(
        chargers=chargers,
        issued_by=request.user,
        source=CommandLog.Source.ADMIN,
        timeout=_timeout(),
    )
    for charger, outcome in zip(chargers, outcomes, strict=True):
        name = charger.charge_point_id
        if isinstance(outcome, DomainError):
            model_admin.message_user(request, f"{name}: {outcome}", messages.ERROR)
        elif outcome.status == ChargerConfiguration.Status.PENDING:
            model_admin.message_user(
                request,
                f"{name}: configuration report requested; it arrives in parts "
                "and is stored within a minute.",
            )
        else:
            model_admin.message_user(
                request, f"{name}: {len(outcome.values)} keys read.", messages.SUCCESS
            )


@admin.action(description="Apply configuration template", permissions=["change"])
def apply_configuration_template(
    model_admin: Any, request: HttpRequest, queryset: QuerySet[Charger]
) -> None:
    chargers = _editable(model_admin, request, queryset)
    results = configuration.configuration_template_apply(
        chargers=chargers,
        issued_by=request.user,
        source=CommandLog.Source.ADMIN,
        timeout=_timeout(),
    )
    for result in results:
        model_admin.message_user(request, *_apply_message(result))


@admin.action(description="Request diagnostics / log upload", permissions=["change"])
def request_diagnostics(
    model_admin: Any, request: HttpRequest, queryset: QuerySet[Charger]
) -> None:
    chargers = _editable(model_admin, request, queryset)
    outcomes = diagnostics.diagnostics_request_many(
        chargers=chargers,
        issued_by=request.user,
        source=CommandLog.Source.ADMIN,
        timeout=_timeout(),
    )
    for charger, asked in zip(chargers, outcomes, strict=True):
        name = charger.charge_point_id
        if isinstance(asked, DomainError):
            model_admin.message_user(request, f"{name}: {asked}", messages.ERROR)
        elif asked.status == DiagnosticsRequest.Status.FAILED:
            model_admin.message_user(request, f"{name}: {asked.detail}", messages.ERROR)
        else:
            model_admin.message_user(
                request,
                f"{name}: upload requested (follow it under Diagnostics uploads).",
                messages.SUCCESS,
            )


class FirmwareCampaignForm(forms.Form):
    name = forms.CharField(max_length=100)
    firmware_url = forms.URLField(max_length=512, label="Firmware URL", assume_scheme="https")
    retrieve_at = forms.DateTimeField(
        label="Download from",
        help_text="Empty: at once.",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    retries = forms.IntegerField(
        min_value=0, required=False, help_text="Download retries by the charger."
    )
    retry_interval_s = forms.IntegerField(min_value=0, required=False, label="Retry interval (s)")


@admin.action(description="Update firmware…", permissions=["change"])
def update_firmware(
    model_admin: Any, request: HttpRequest, queryset: QuerySet[Charger]
) -> HttpResponse | None:
    chargers = _editable(model_admin, request, queryset)
    if not chargers:
        return None
    orgs = {c.zone.property.organization_id for c in chargers}
    if len(orgs) > 1:
        model_admin.message_user(
            request,
            "A firmware campaign belongs to one organization: select chargers of one.",
            messages.ERROR,
        )
        return None
    form = FirmwareCampaignForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        data = form.cleaned_data
        retrieve_at: datetime = data["retrieve_at"] or timezone.now()
        try:
            campaign = firmware.firmware_campaign_start(
                organization=chargers[0].zone.property.organization,
                name=data["name"],
                firmware_url=data["firmware_url"],
                retrieve_at=retrieve_at,
                chargers=chargers,
                retries=data["retries"],
                retry_interval_s=data["retry_interval_s"],
                created_by=request.user,
                source=CommandLog.Source.ADMIN,
                timeout=_timeout(),
            )
        except DomainError as exc:
            model_admin.message_user(request, str(exc), messages.ERROR)
            return None
        summary = firmware.firmware_campaign_summary(campaign=campaign)
        model_admin.message_user(
            request, f"Firmware campaign {campaign}: {summary}.", messages.SUCCESS
        )
        return HttpResponseRedirect(
            reverse("admin:monitoring_firmwarecampaign_change", args=[campaign.pk])
        )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Update firmware",
        "opts": model_admin.opts,
        "form": form,
        "chargers": chargers,
        "action": "update_firmware",
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/monitoring/firmware_campaign_form.html", context)


class ChargerDriftedFilter(admin.SimpleListFilter):
    """On the charger list: chargers whose reported configuration differs from
    their template."""

    title = "configuration drift"
    parameter_name = "drifted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Drifted from template"), ("no", "As templated")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(configuration_drift__is_drifted=True)
        if self.value() == "no":
            return queryset.filter(configuration_drift__is_drifted=False)
        return queryset


CHARGER_ACTIONS = (
    read_configuration,
    apply_configuration_template,
    update_firmware,
    request_diagnostics,
)
