"""The admin for people, groups, fleets, vehicles, id tokens and access policies.
Tenancy rules come from apps/sites/admin_tenancy.py; fleet managers change
people, fleets, vehicles and tokens, while access policies stay with property
managers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Count, QuerySet

from apps.access.models import AccessGroup, AccessPolicy, Fleet, IdToken, Person, Vehicle
from apps.sites.admin_tenancy import TenantModelAdmin, TenantTabularInline, kilo
from apps.sites.tenancy import FLEET_ROLES, organization_id_of

if TYPE_CHECKING:
    from django.http import HttpRequest


class OrganizationFromParentMixin:
    """Inline rows carry their own `organization`: preselect the parent's, so
    the usual case is one click (the form still refuses a mismatch)."""

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        field = formset.form.base_fields.get("organization")
        if obj is not None and field is not None:
            field.initial = organization_id_of(obj)
        return formset


class IdTokenInline(OrganizationFromParentMixin, TenantTabularInline):
    model = IdToken
    write_roles = FLEET_ROLES
    fk_name = "person"
    fields = ("uid", "organization", "kind", "status", "expires_at", "label")
    extra = 0


@admin.register(Person)
class PersonAdmin(TenantModelAdmin):
    write_roles = FLEET_ROLES
    list_display = (
        "last_name",
        "first_name",
        "kind",
        "unit",
        "property",
        "organization",
        "email",
        "is_active",
    )
    list_filter = ("kind", "is_active", "organization", "property")
    list_select_related = ("organization", "property")
    search_fields = ("first_name", "last_name", "email", "unit", "phone")
    ordering = ("last_name", "first_name")
    autocomplete_fields = ("organization", "property")
    readonly_fields = ("created_at",)
    inlines = (IdTokenInline,)


@admin.register(AccessGroup)
class AccessGroupAdmin(TenantModelAdmin):
    list_display = ("name", "organization", "member_count")
    list_filter = ("organization",)
    list_select_related = ("organization",)
    search_fields = ("name",)
    ordering = ("organization__name", "name")
    filter_horizontal = ("members",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccessGroup]:
        return super().get_queryset(request).annotate(member_total=Count("members"))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj: AccessGroup) -> int:
        return obj.member_total  # type: ignore[attr-defined]


class VehicleInline(OrganizationFromParentMixin, TenantTabularInline):
    model = Vehicle
    write_roles = FLEET_ROLES
    fk_name = "fleet"
    fields = (
        "make",
        "model",
        "license_plate",
        "organization",
        "battery_capacity_wh",
        "max_ac_power_w",
    )
    extra = 0
    show_change_link = True


@admin.register(Fleet)
class FleetAdmin(TenantModelAdmin):
    write_roles = FLEET_ROLES
    list_display = ("name", "organization", "depot")
    list_filter = ("organization",)
    list_select_related = ("organization", "depot")
    search_fields = ("name",)
    ordering = ("organization__name", "name")
    autocomplete_fields = ("organization", "depot")
    inlines = (VehicleInline,)


@admin.register(Vehicle)
class VehicleAdmin(TenantModelAdmin):
    write_roles = FLEET_ROLES
    list_display = (
        "__str__",
        "license_plate",
        "vin",
        "organization",
        "fleet",
        "owner_person",
        "battery",
        "max_ac_power",
        "max_dc_power",
    )
    list_filter = ("organization", "fleet", "make")
    list_select_related = ("organization", "fleet", "owner_person")
    search_fields = ("make", "model", "license_plate", "vin")
    ordering = ("make", "model", "license_plate")
    autocomplete_fields = ("organization", "fleet", "owner_person")

    @admin.display(description="battery", ordering="battery_capacity_wh")
    def battery(self, obj: Vehicle) -> str:
        return kilo(obj.battery_capacity_wh, "kWh")

    @admin.display(description="max AC", ordering="max_ac_power_w")
    def max_ac_power(self, obj: Vehicle) -> str:
        return kilo(obj.max_ac_power_w, "kW")

    @admin.display(description="max DC", ordering="max_dc_power_w")
    def max_dc_power(self, obj: Vehicle) -> str:
        return kilo(obj.max_dc_power_w, "kW")


@admin.register(IdToken)
class IdTokenAdmin(TenantModelAdmin):
    write_roles = FLEET_ROLES
    list_display = (
        "uid",
        "label",
        "kind",
        "status",
        "person",
        "vehicle",
        "group",
        "organization",
        "expires_at",
    )
    list_filter = ("status", "kind", "is_master_pass_group", "organization")
    list_select_related = ("person", "vehicle", "group", "organization")
    search_fields = ("uid", "label", "person__first_name", "person__last_name")
    ordering = ("uid",)
    autocomplete_fields = ("organization", "person", "vehicle", "group")
    readonly_fields = ("created_at",)


@admin.register(AccessPolicy)
class AccessPolicyAdmin(TenantModelAdmin):
    list_display = ("zone", "admits", "weekdays", "start_time", "end_time", "is_active")
    list_filter = ("admits", "is_active", "zone__property")
    list_select_related = ("zone__property",)
    search_fields = ("zone__name", "zone__property__name")
    ordering = ("zone__property__name", "zone__name", "id")
    autocomplete_fields = ("zone",)
    filter_horizontal = ("groups", "fleets")
