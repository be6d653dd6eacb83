"""What the maintenance admin modules share: the command timeout, the
key/value table, the read-only base admin and the drifted filter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.utils.html import format_html, format_html_join

from apps.sites.admin_tenancy import TenantModelAdmin

if TYPE_CHECKING:
    from django.http import HttpRequest


# Seconds each charger is given to answer an admin action: someone is waiting.
ADMIN_TIMEOUT_S = 10.0


def command_timeout() -> float:
    return float(getattr(settings, "OCPP_ADMIN_COMMAND_TIMEOUT", ADMIN_TIMEOUT_S))


def key_value_table(rows: list[tuple[Any, ...]], headers: tuple[str, ...]) -> str:
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


class MaintenanceDataAdmin(TenantModelAdmin):
    """Rows written by services from what chargers answer: shown, never typed in."""

    read_only = True


class YesNoDriftedFilter(admin.SimpleListFilter):
    """Drifted or as templated, by a boolean field; subclasses name the field, the
    title and the drifted choice's label."""

    parameter_name = "drifted"
    drifted_label: str
    drifted_field: str

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", self.drifted_label), ("no", "As templated")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(**{self.drifted_field: True})
        if self.value() == "no":
            return queryset.filter(**{self.drifted_field: False})
        return queryset
