"""Alerts in the admin: rules (managers edit their organization's), alerts (read
only, with an acknowledge action), the remedy log and the email log (read only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.monitoring.models import Alert, AlertRule, Notification, RemedyAttempt
from apps.monitoring.services.alerts import alerts_acknowledge
from apps.sites.admin_tenancy import TenantModelAdmin, TenantTabularInline


@admin.register(AlertRule)
class AlertRuleAdmin(TenantModelAdmin):
    list_display = (
        "kind",
        "organization",
        "is_enabled",
        "severity",
        "threshold_minutes",
        "escalate_after_minutes",
        "remedy",
    )
    list_filter = ("is_enabled", "kind", "severity", "remedy", "organization")
    list_editable = ("is_enabled",)
    list_select_related = ("organization",)
    ordering = ("organization__name", "kind")
    fieldsets = (
        (None, {"fields": ("organization", "kind", "is_enabled", "severity")}),
        (
            "When",
            {
                "fields": ("threshold_minutes", "threshold_count", "escalate_after_minutes"),
                "description": "Offline, faulted, preparing and session rules open an alert "
                "once the condition lasted the threshold. Reboots and rejected commands "
                "open one when the count is reached within the threshold's window.",
            },
        ),
        (
            "Who is told",
            {
                "fields": (
                    "notify_managers",
                    "extra_recipients",
                    "escalation_recipients",
                    "notify_on_resolve",
                )
            },
        ),
        (
            "Self-healing",
            {
                "fields": (
                    "remedy",
                    "remedy_error_codes",
                    "remedy_max_attempts",
                    "remedy_backoff_minutes",
                    "remedy_daily_cap",
                ),
                "description": "Faulted, preparing and not-started connectors only. Every "
                "automatic command is logged; when it does not help, the alert is escalated.",
            },
        ),
    )


class RemedyAttemptInline(TenantTabularInline):
    model = RemedyAttempt
    fields = ("attempt", "action", "outcome", "detail", "created_at", "finished_at")
    readonly_fields = fields
    extra = 0
    read_only = True
    ordering = ("pk",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class HandledFilter(admin.SimpleListFilter):
    """Open alerts nobody has taken in hand yet, at a glance."""

    title = "handling"
    parameter_name = "handling"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("unacknowledged", "Not acknowledged"),
            ("acknowledged", "Acknowledged"),
            ("escalated", "Escalated"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Alert]) -> QuerySet[Alert]:
        if self.value() == "unacknowledged":
            return queryset.filter(acknowledged_at__isnull=True)
        if self.value() == "acknowledged":
            return queryset.filter(acknowledged_at__isnull=False)
        if self.value() == "escalated":
            return queryset.filter(escalated_at__isnull=False)
        return queryset


@admin.register(Alert)
class AlertAdmin(TenantModelAdmin):
    read_only = True
    list_display = (
        "title",
        "kind",
        "severity",
        "status",
        "charger",
        "opened_at",
        "resolved_at",
        "escalated_at",
        "acknowledged_at",
    )
    list_filter = (
        "status",
        HandledFilter,
        "severity",
        "kind",
        "charger__zone__property",
        "organization",
    )
    list_select_related = ("charger", "organization")
    search_fields = ("title", "charger__charge_point_id")
    ordering = ("-opened_at", "-pk")
    date_hierarchy = "opened_at"
    actions = ("acknowledge",)
    inlines = (RemedyAttemptInline,)
    readonly_fields = ("commands_link",)

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request, None, self.write_roles)

    @admin.action(
        description="Acknowledge (stop escalation and automatic remedies)",
        permissions=["acknowledge"],
    )
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        count = alerts_acknowledge(user=request.user, alert_ids=[a.pk for a in queryset])
        if count:
            self.message_user(request, f"{count} alert(s) acknowledged.", messages.SUCCESS)
        else:
            self.message_user(
                request,
                "Nothing to acknowledge: already acknowledged, or not yours to manage.",
                messages.WARNING,
            )

    @admin.display(description="Commands to the charger")
    def commands_link(self, obj: Alert) -> str:
        url = (
            reverse("admin:chargers_commandlog_changelist")
            + f"?charger__id__exact={obj.charger_id}"
        )
        return format_html('<a href="{}">Command log of {}</a>', url, obj.charger)


@admin.register(RemedyAttempt)
class RemedyAttemptAdmin(TenantModelAdmin):
    read_only = True
    list_display = ("charger", "action", "attempt", "outcome", "alert", "created_at", "finished_at")
    list_filter = ("outcome", "action", "charger__zone__property")
    list_select_related = ("charger", "alert")
    search_fields = ("charger__charge_point_id", "alert__title")
    ordering = ("-created_at", "-pk")
    date_hierarchy = "created_at"
    readonly_fields = ("command_log",)

    @admin.display(description="Commands")
    def command_log(self, obj: RemedyAttempt) -> str:
        rows = obj.commands.order_by("pk")
        return (
            format_html_join(
                ", ",
                '<a href="{}">{}</a>',
                ((reverse("admin:chargers_commandlog_change", args=[c.pk]), str(c)) for c in rows),
            )
            or "—"
        )


@admin.register(Notification)
class NotificationAdmin(TenantModelAdmin):
    read_only = True
    list_display = ("subject", "kind", "status", "recipient_list", "created_at", "sent_at")
    list_filter = ("kind", "status")
    list_select_related = ("organization",)
    search_fields = ("subject",)
    ordering = ("-created_at", "-pk")
    date_hierarchy = "created_at"

    @admin.display(description="Recipients")
    def recipient_list(self, obj: Notification) -> str:
        return ", ".join(obj.recipients)
