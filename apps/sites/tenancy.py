"""Tenancy: which organizations' rows a user may see and change.

Every tenant-owned model declares, through its manager, the lookup path from the
row to its Organization. The admin, the portal and the API all scope querysets
through `visible_to()` / `editable_by()`, so the rule lives in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    AnyUser = AbstractBaseUser | AnonymousUser

# Roles that may change an organization's data. Viewers only read; fleet managers
# change fleet data only (see WRITE_ROLES_BY_AREA).
MANAGE_ROLES = frozenset({"owner", "property_manager"})
FLEET_ROLES = frozenset({"owner", "property_manager", "fleet_manager"})


def organization_ids(user: AnyUser, roles: frozenset[str] | None = None) -> set[int]:
    """Ids of the organizations the user belongs to (with one of `roles`, if given).
    Cached per user object for the length of a request."""
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return set()
    cache: dict[Any, set[int]] = user.__dict__.setdefault("_plugboard_org_ids", {})
    key = roles or "any"
    if key not in cache:
        from apps.sites.models import Membership

        memberships = Membership.objects.filter(user_id=int(user.pk))
        if roles is not None:
            memberships = memberships.filter(role__in=roles)
        cache[key] = set(memberships.values_list("organization_id", flat=True))
    return cache[key]


def is_unrestricted(user: AnyUser) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_superuser", False))


class TenantQuerySet(models.QuerySet):
    """Scopes rows by organization. The model names the lookup path from a row to
    its Organization in a `tenant_path` class attribute ("" for Organization)."""

    def _org_field(self) -> str:
        path: str = getattr(self.model, "tenant_path")  # noqa: B009 -- declared per model
        return f"{path}__id" if path else "id"

    def for_organizations(self, org_ids: set[int]) -> TenantQuerySet:
        return self.filter(**{f"{self._org_field()}__in": org_ids})

    def visible_to(self, user: AnyUser) -> TenantQuerySet:
        if is_unrestricted(user):
            return self.all()
        return self.for_organizations(organization_ids(user))

    def editable_by(self, user: AnyUser, roles: frozenset[str] = MANAGE_ROLES) -> TenantQuerySet:
        if is_unrestricted(user):
            return self.all()
        return self.for_organizations(organization_ids(user, roles))


def organization_id_of(obj: models.Model) -> int | None:
    """The organization id a row belongs to, following its manager's tenant path."""
    path: str = type(obj).tenant_path  # type: ignore[attr-defined]
    if not path:
        return obj.pk
    target: Any = obj
    for part in path.split("__"):
        target = getattr(target, part, None)
        if target is None:
            return None
    return target.pk
