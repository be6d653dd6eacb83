"""The actions on the charger list (apps/chargers/admin.py) that start
maintenance work. Each action makes one service call and shows every charger's
answer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from apps.chargers.models import Charger, CommandLog
from apps.monitoring.admin.maintenance.common import YesNoDriftedFilter, command_timeout
from apps.monitoring.admin.maintenance.configuration import apply_message
from apps.monitoring.models import ChargerConfiguration, DiagnosticsRequest
from apps.monitoring.services import configuration, diagnostics, firmware
from apps.sites.admin_tenancy import scope_editable
from apps.sites.exceptions import DomainError
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


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
        timeout=command_timeout(),
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
        timeout=command_timeout(),
    )
    for result in results:
        model_admin.message_user(request, *apply_message(result))


@admin.action(description="Request diagnostics / log upload", permissions=["change"])
def request_diagnostics(
    model_admin: Any, request: HttpRequest, queryset: QuerySet[Charger]
) -> None:
    chargers = _editable(model_admin, request, queryset)
    outcomes = diagnostics.diagnostics_request_many(
        chargers=chargers,
        issued_by=request.user,
        source=CommandLog.Source.ADMIN,
        timeout=command_timeout(),
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
                timeout=command_timeout(),
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


class ChargerDriftedFilter(YesNoDriftedFilter):
    """On the charger list: chargers whose reported configuration differs from
    their template."""

    title = "configuration drift"
    drifted_label = "Drifted from template"
    drifted_field = "configuration_drift__is_drifted"


CHARGER_ACTIONS = (
    read_configuration,
    apply_configuration_template,
    update_firmware,
    request_diagnostics,
)
