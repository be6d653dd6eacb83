"""Tenancy for the Django admin, in one place.

Every admin (and inline) of a tenant-owned model mixes in `TenantAdminMixin`.
It replaces Django's model permissions with the membership roles of
`apps.sites.tenancy`, and scopes everything the admin shows or accepts:

- the changelist and every object URL (`get_queryset`: rows of another
  organization do not exist, so their change/delete/history URLs redirect);
- object-level permissions (a viewer reads, a manager writes, in their orgs);
- foreign-key and many-to-many choices, including `organization` and
  `auth.User` fields (`get_field_queryset`), so a posted foreign id is a form
  error, never a row in someone else's organization;
- autocomplete results (`get_search_results`);
- list filters on relations (`TenantRelatedFieldListFilter`);
- bulk actions (delete selected only ever touches rows the user may delete).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.sites.tenancy import (
    MANAGE_ROLES,
    TenantQuerySet,
    is_unrestricted,
    organization_id_of,
    organization_ids,
)

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def is_tenant_model(model: type[models.Model]) -> bool:
    return isinstance(getattr(model, "tenant_path", None), str)


def scope_visible(qs: models.QuerySet, user: Any) -> models.QuerySet:
    """Rows of `qs` the user may see: their organizations' rows (all for superusers)."""
    if is_unrestricted(user):
        return qs
    if is_tenant_model(qs.model):
        return _for_orgs(qs, organization_ids(user))
    if qs.model is get_user_model():
        return users_sharing_organizations(qs, user)
    return qs


def scope_editable(qs: models.QuerySet, user: Any, roles: frozenset[str]) -> models.QuerySet:
    """Rows of `qs` the user may change, or pick as a reference, with one of `roles`."""
    if is_unrestricted(user):
        return qs
    if is_tenant_model(qs.model):
        return _for_orgs(qs, organization_ids(user, roles))
    if qs.model is get_user_model():
        return users_sharing_organizations(qs, user)
    return qs


def _for_orgs(qs: models.QuerySet, org_ids: set[int]) -> models.QuerySet:
    if isinstance(qs, TenantQuerySet):
        return qs.for_organizations(org_ids)
    path: str = qs.model.tenant_path  # type: ignore[attr-defined]
    return qs.filter(**{f"{path}__id__in" if path else "id__in": org_ids})


def users_sharing_organizations(qs: models.QuerySet, user: Any) -> models.QuerySet:
    """Users a non-superuser may pick: members of one of their organizations, and
    people of those organizations who have a login. Never the whole user table."""
    if is_unrestricted(user):
        return qs
    org_ids = organization_ids(user)
    return qs.filter(
        Q(memberships__organization_id__in=org_ids) | Q(person__organization_id__in=org_ids)
    ).distinct()


class TenantRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A relation filter offering only the related rows the user may see (Django's
    default lists every row of the related table, other organizations' names too)."""

    def field_choices(
        self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, Any]]:
        related = field.remote_field.model
        qs = scope_visible(related._default_manager.all(), request.user)
        ordering = self.field_admin_ordering(field, request, model_admin) or (
            related._meta.pk.name,
        )
        # Labels often name a parent ("Property / Zone"): fetch parents in the same query.
        qs = qs.select_related().order_by(*ordering)
        return [(str(obj.pk), str(obj)) for obj in qs]


class TenantModelForm(forms.ModelForm):
    """Refuses a row whose references belong to different organizations (a manager
    of two organizations must not hang org 1's vehicle under org 2's fleet)."""

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        orgs: dict[int, str] = {}
        for name, value in cleaned.items():
            values: list[Any]
            if isinstance(value, models.QuerySet):
                values = list(value)
            elif isinstance(value, models.Model):
                values = [value]
            else:
                continue
            for related in values:
                if not is_tenant_model(type(related)):
                    continue
                org_id = organization_id_of(related)
                if org_id is not None:
                    orgs.setdefault(org_id, name)
        if len(orgs) > 1:
            raise ValidationError(
                "Everything this row refers to must belong to one organization "
                f"(check: {', '.join(sorted(set(orgs.values())))})."
            )
        return cleaned


class TenantAdminMixin:
    """Mix into `admin.ModelAdmin` or an inline, before the Django base class.

    `write_roles`: the membership roles that may add, change and delete rows (and
    pick related rows for them). `read_only`: rows are written by chargers or
    services, never in the admin (delete stays, so a charger can be removed with
    its history)."""

    write_roles: frozenset[str] = MANAGE_ROLES
    read_only: bool = False
    form: type[forms.ModelForm] = TenantModelForm

    # --- rows -----------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        return scope_visible(super().get_queryset(request), request.user)  # type: ignore[misc]

    def get_field_queryset(self, db: Any, db_field: Any, request: HttpRequest) -> Any:
        qs = super().get_field_queryset(db, db_field, request)  # type: ignore[misc]
        if qs is None:
            qs = db_field.remote_field.model._default_manager.using(db).all()
        return scope_editable(qs, request.user, self.write_roles)

    def get_search_results(
        self, request: HttpRequest, queryset: models.QuerySet, search_term: str
    ) -> tuple[models.QuerySet, bool]:
        qs, may_have_duplicates = super().get_search_results(  # type: ignore[misc]
            request, queryset, search_term
        )
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == "autocomplete":
            # Autocomplete offers choices for a field of another model: offer only
            # what that model's admin would accept, not everything visible.
            qs = scope_editable(qs, request.user, self._autocomplete_roles(request))
        return qs, may_have_duplicates

    def _autocomplete_roles(self, request: HttpRequest) -> frozenset[str]:
        from django.apps import apps

        try:
            source = apps.get_model(request.GET["app_label"], request.GET["model_name"])
            source_admin = self.admin_site.get_model_admin(source)  # type: ignore[attr-defined]
        except (KeyError, LookupError, NotRegistered):
            return self.write_roles
        return getattr(source_admin, "write_roles", self.write_roles)

    def get_list_filter(self, request: HttpRequest) -> Any:
        """Plain relation names in `list_filter` get the scoped related filter."""
        result: list[Any] = []
        for entry in super().get_list_filter(request):  # type: ignore[misc]
            if isinstance(entry, str):
                field = get_fields_from_path(self.model, entry)[-1]  # type: ignore[attr-defined]
                if field.is_relation:
                    entry = (entry, TenantRelatedFieldListFilter)
            result.append(entry)
        return result

    # --- permissions: membership roles instead of Django model permissions -----

    def _org_ids(self, request: HttpRequest, roles: frozenset[str] | None = None) -> set[int]:
        return organization_ids(request.user, roles)

    def _allowed(self, request: HttpRequest, obj: Any, roles: frozenset[str] | None) -> bool:
        if is_unrestricted(request.user):
            return True
        org_ids = self._org_ids(request, roles)
        if obj is None:
            return bool(org_ids)
        return organization_id_of(obj) in org_ids

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request, None, None)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, obj, None)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Inlines pass the parent object; ModelAdmin passes nothing.
        return not self.read_only and self._allowed(request, obj, self.write_roles)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self.read_only and self._allowed(request, obj, self.write_roles)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, obj, self.write_roles)

    # --- bulk actions ----------------------------------------------------------

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)  # type: ignore[misc]
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (_delete_selected_editable, name, description)
        return actions

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        super().delete_queryset(  # type: ignore[misc]
            request, scope_editable(queryset, request.user, self.write_roles)
        )


def _delete_selected_editable(
    modeladmin: Any, request: HttpRequest, queryset: models.QuerySet
) -> HttpResponse | None:
    """Django's "delete selected", over only the selected rows the user may delete:
    the selection comes from the browser and can name any row the user sees."""
    editable = scope_editable(queryset, request.user, modeladmin.write_roles)
    if not editable.exists():
        modeladmin.message_user(
            request, "None of the selected rows may be deleted by you.", messages.WARNING
        )
        return None
    return delete_selected(modeladmin, request, editable)


_delete_selected_editable.allowed_permissions = ("delete",)  # type: ignore[attr-defined]
_delete_selected_editable.short_description = delete_selected.short_description  # type: ignore[attr-defined]


class TenantModelAdmin(TenantAdminMixin, admin.ModelAdmin):
    pass


class TenantTabularInline(TenantAdminMixin, admin.TabularInline):
    pass


class TenantStackedInline(TenantAdminMixin, admin.StackedInline):
    pass


def kilo(value: int | None, unit: str) -> str:
    """W → "11 kW", Wh → "12.3 kWh" for list columns (models store W and Wh)."""
    if value is None:
        return "—"
    number = f"{value / 1000:,.3f}".rstrip("0").rstrip(".")
    return f"{number} {unit}"
