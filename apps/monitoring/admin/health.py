"""Admin for health reporting: uptime policies, documented outage exclusions, report
subscriptions (with their web report and a send-now action) and the log of sent
reports. Tenancy rules come from apps/sites/admin_tenancy.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.monitoring.models import OutageExclusion, ReportDelivery, ReportSubscription, UptimePolicy
from apps.monitoring.services import reports
from apps.sites.admin_tenancy import TenantModelAdmin, TenantTabularInline

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest


@admin.register(UptimePolicy)
class UptimePolicyAdmin(TenantModelAdmin):
    list_display = ("__str__", "organization", "property", "excluded", "hours", "target_percent")
    list_select_related = ("organization", "property")
    list_filter = ("organization",)
    fieldsets = (
        (None, {"fields": ("organization", "property", "target_percent")}),
        (
            "Outage causes left out of NEVI uptime (23 CFR 680.116(b))",
            {
                "description": "Documented outages with these causes do not count, when the "
                "port would otherwise have worked. Plain uptime counts everything.",
                "fields": (
                    "exclude_utility_interruption",
                    "exclude_vehicle_fault",
                    "exclude_scheduled_maintenance",
                    "exclude_vandalism",
                    "exclude_natural_disaster",
                    "exclude_network_provider",
                    "exclude_other",
                ),
            },
        ),
        (
            "Operating hours (the property's local time)",
            {"fields": ("exclude_outside_hours", "opens_at", "closes_at")},
        ),
    )

    @admin.display(description="excluded causes")
    def excluded(self, obj: UptimePolicy) -> str:
        return ", ".join(sorted(obj.excluded_causes())) or "none"

    @admin.display(description="hours")
    def hours(self, obj: UptimePolicy) -> str:
        if obj.opens_at is None or obj.closes_at is None:
            return "24 h"
        return f"{obj.opens_at:%H:%M}–{obj.closes_at:%H:%M}"


@admin.register(OutageExclusion)
class OutageExclusionAdmin(TenantModelAdmin):
    list_display = (
        "cause",
        "property",
        "charger",
        "connector",
        "starts_at",
        "ends_at",
        "minutes",
        "created_by",
    )
    list_select_related = ("property", "charger", "connector__charger", "created_by")
    list_filter = ("cause", "property")
    search_fields = ("evidence", "charger__charge_point_id")
    date_hierarchy = "starts_at"
    fields = ("property", "charger", "connector", "cause", "starts_at", "ends_at", "evidence")

    @admin.display(description="minutes")
    def minutes(self, obj: OutageExclusion) -> str:
        return f"{(obj.ends_at - obj.starts_at).total_seconds() / 60:,.0f}"

    def save_model(
        self, request: HttpRequest, obj: OutageExclusion, form: Any, change: bool
    ) -> None:
        if not change:
            # Who documented it: part of the evidence NEVI asks the operator to keep.
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


class ReportDeliveryInline(TenantTabularInline):
    model = ReportDelivery
    read_only = True
    fields = ("period_start", "period_end", "recipients", "sent_at")
    readonly_fields = fields
    ordering = ("-period_start",)
    extra = 0
    can_delete = False
    max_num = 0

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(TenantModelAdmin):
    list_display = ("property", "frequency", "recipients", "is_enabled", "web_report")
    list_select_related = ("property",)
    list_filter = ("frequency", "is_enabled", "property")
    fields = ("property", "frequency", "recipients", "is_enabled")
    inlines = (ReportDeliveryInline,)
    actions = ("send_latest",)

    @admin.display(description="report")
    def web_report(self, obj: ReportSubscription) -> str:
        url = reverse("monitoring:report_detail", args=[obj.property_id])
        return format_html('<a href="{}?frequency={}">view</a>', url, obj.frequency)

    @admin.action(description="Email the latest complete report now (if not sent yet)")
    def send_latest(self, request: HttpRequest, queryset: QuerySet[ReportSubscription]) -> None:
        editable = self.get_queryset(request).filter(pk__in=queryset.values("pk"))
        sent = reports.reports_send_latest(subscriptions=editable, now=timezone.now())
        level = messages.SUCCESS if sent else messages.INFO
        self.message_user(
            request, f"{len(sent)} report(s) sent; the others were sent already.", level
        )


@admin.register(ReportDelivery)
class ReportDeliveryAdmin(TenantModelAdmin):
    """Written when a report is mailed; shown, never typed in."""

    read_only = True
    list_display = ("subscription", "period_start", "period_end", "recipients", "sent_at")
    list_select_related = ("subscription__property",)
    list_filter = ("subscription__frequency",)
    date_hierarchy = "period_start"
