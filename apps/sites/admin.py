"""The admin for sites: organizations, who manages them, properties, circuits,
zones, and API tokens. Tenancy rules come from apps/sites/admin_tenancy.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.urls import reverse

from apps.access.models import AccessPolicy
from apps.chargers.models import Charger
from apps.sites import services
from apps.sites.admin_once import shown_once_response
from apps.sites.admin_tenancy import (
    TenantModelAdmin,
    TenantStackedInline,
    TenantTabularInline,
    kilo,
    users_sharing_organizations,
)
from apps.sites.models import ApiToken, Circuit, Membership, Organization, Property, Zone
from apps.sites.tenancy import is_unrestricted

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest, HttpResponse

# Organizations and their memberships are changed by their owners only.
OWNER_ROLES = frozenset({Membership.Role.OWNER.value})


class MembershipInline(TenantTabularInline):
    model = Membership
    write_roles = OWNER_ROLES
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    extra = 0


@admin.register(Organization)
class OrganizationAdmin(TenantModelAdmin):
    write_roles = OWNER_ROLES
    list_display = ("name", "slug", "kind", "member_count", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "slug")
    ordering = ("name",)
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at",)
    inlines = (MembershipInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Organization) -> int:
        return obj.member_count  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A new tenant is created by the operator of the installation, not by a tenant.
        return is_unrestricted(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_unrestricted(request.user)


@admin.register(Membership)
class MembershipAdmin(TenantModelAdmin):
    write_roles = OWNER_ROLES
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", "organization")
    list_select_related = ("user", "organization")
    search_fields = ("user__username", "user__email", "organization__name")
    ordering = ("organization__name", "user__username")
    readonly_fields = ("created_at",)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and db_field.name == "user":
            field.help_text = (
                "Someone who already belongs to one of your organizations. New logins "
                "are created by an administrator."
            )
        return field


class ZoneInline(TenantTabularInline):
    model = Zone
    fields = ("name", "kind")
    extra = 0
    show_change_link = True


class CircuitInline(TenantTabularInline):
    model = Circuit
    fk_name = "property"
    fields = ("name", "parent", "limit_w", "phases")
    extra = 0


@admin.register(Property)
class PropertyAdmin(TenantModelAdmin):
    list_display = ("name", "organization", "city", "country", "time_zone", "grid_limit")
    list_filter = ("organization", "country")
    list_select_related = ("organization",)
    search_fields = ("name", "street", "city", "postal_code")
    ordering = ("organization__name", "name")
    autocomplete_fields = ("organization",)
    readonly_fields = ("created_at",)
    inlines = (ZoneInline, CircuitInline)

    @admin.display(description="grid limit", ordering="grid_limit_w")
    def grid_limit(self, obj: Property) -> str:
        return kilo(obj.grid_limit_w, "kW")


@admin.register(Circuit)
class CircuitAdmin(TenantModelAdmin):
    list_display = ("name", "property", "parent", "limit", "phases")
    list_filter = ("property",)
    list_select_related = ("property", "parent__property")
    search_fields = ("name", "property__name")
    ordering = ("property__name", "name")
    autocomplete_fields = ("property", "parent")

    @admin.display(description="limit", ordering="limit_w")
    def limit(self, obj: Circuit) -> str:
        return kilo(obj.limit_w, "kW")


class ZoneChargerInline(TenantTabularInline):
    """Chargers are registered through the charger admin (it hashes the password
    and runs the registration service); here they are listed with a link."""

    model = Charger
    fields = ("charge_point_id", "name", "max_power", "registration", "last_seen_at")
    readonly_fields = fields
    read_only = True
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description="max power")
    def max_power(self, obj: Charger) -> str:
        return kilo(obj.max_power_w, "kW")


class AccessPolicyInline(TenantStackedInline):
    model = AccessPolicy
    fields = (
        "admits",
        "groups",
        "fleets",
        ("weekdays", "start_time", "end_time"),
        "is_active",
    )
    filter_horizontal = ("groups", "fleets")
    extra = 0


@admin.register(Zone)
class ZoneAdmin(TenantModelAdmin):
    list_display = ("name", "property", "kind", "charger_count")
    list_filter = ("kind", "property")
    list_select_related = ("property",)
    search_fields = ("name", "property__name")
    ordering = ("property__name", "name")
    autocomplete_fields = ("property",)
    inlines = (AccessPolicyInline, ZoneChargerInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Zone]:
        return super().get_queryset(request).annotate(charger_count=Count("chargers"))

    @admin.display(description="chargers", ordering="charger_count")
    def charger_count(self, obj: Zone) -> int:
        return obj.charger_count  # type: ignore[attr-defined]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """A user manages their own tokens (superusers: everyone's). The raw token is
    shown once, in a message, when it is created; only its hash is stored, and
    the hash is never shown."""

    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "expires_at", "status")
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    search_fields = ("name", "prefix")
    ordering = ("-created_at",)
    actions = ("revoke",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        qs = super().get_queryset(request)
        if is_unrestricted(request.user):
            return qs
        return qs.filter(user_id=request.user.pk)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        fields = ["name", "expires_at"]
        if is_unrestricted(request.user):
            fields.insert(0, "user")
        if obj is not None:
            fields += ["prefix", "created_at", "last_used_at", "revoked_at"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        if obj is None:
            return ()
        # A token's owner and lifetime are fixed when it is made; revoke and make
        # a new one instead.
        return ("user", "expires_at", "prefix", "created_at", "last_used_at", "revoked_at")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            kwargs["queryset"] = users_sharing_organizations(
                db_field.remote_field.model._default_manager.all(), request.user
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="status")
    def status(self, obj: ApiToken) -> str:
        return "revoked" if obj.revoked_at else "live"

    def _own_or_superuser(self, request: HttpRequest, obj: ApiToken | None) -> bool:
        if not request.user.is_active:
            return False
        return obj is None or is_unrestricted(request.user) or obj.user_id == request.user.pk

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._own_or_superuser(request, None)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own_or_superuser(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._own_or_superuser(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own_or_superuser(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own_or_superuser(request, obj)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Only superusers get the user field; everyone else makes their own tokens.
        owner = cast("User", form.cleaned_data.get("user") or request.user)
        token, raw = services.api_token_create(
            user=owner, name=obj.name, expires_at=form.cleaned_data.get("expires_at")
        )
        # The admin goes on with `obj` (log entry, redirect): make it the saved row.
        obj.pk = token.pk
        obj.user_id = token.user_id
        obj.prefix = token.prefix
        obj.token_hash = token.token_hash
        obj.created_at = token.created_at
        obj._state.adding = False
        obj._state.db = token._state.db
        # Rendered by response_add, in this same request.
        request._new_api_token = raw  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        raw = getattr(request, "_new_api_token", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        return shown_once_response(
            self,
            request,
            title="New API token",
            secrets=[f"API token “{obj.name}”: {raw}"],
            next_url=reverse("admin:sites_apitoken_changelist"),
            next_label="Back to API tokens",
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            services.api_token_revoke(token=token)
            count += 1
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
