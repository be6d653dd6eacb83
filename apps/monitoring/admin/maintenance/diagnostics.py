"""Diagnostics / log upload requests (read-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from apps.monitoring.admin.maintenance.common import MaintenanceDataAdmin
from apps.monitoring.models import DiagnosticsRequest

if TYPE_CHECKING:
    pass


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
