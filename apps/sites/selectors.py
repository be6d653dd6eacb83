"""Reads for sites, scoped by tenancy. Every list orders explicitly: no
`Meta.ordering` on domain tables, and API pages must not shuffle between calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.db import models

from apps.sites.exceptions import Forbidden, InvalidReference
from apps.sites.models import Membership, Zone
from apps.sites.tenancy import MANAGE_ROLES, TenantQuerySet

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

M = TypeVar("M", bound=models.Model)


def zone_list(*, user: AnyUser) -> TenantQuerySet:
    """The zones the user may see, with their property."""
    return (
        Zone.objects.visible_to(user)
        .select_related("property")
        .order_by("property__name", "property_id", "name", "pk")
    )


def row_for_write(
    queryset: models.QuerySet[M],
    pk: int,
    *,
    user: AnyUser,
    field: str,
    label: str,
    roles: frozenset[str] = MANAGE_ROLES,
) -> M:
    """The row `pk` of `queryset` (a tenant-owned model), for a write by `user`.

    A row the user cannot see is reported exactly like a missing one, so that ids of
    other organizations reveal nothing (InvalidReference, on `field`). A row the user
    sees but may not change (a viewer's) is Forbidden."""
    if not isinstance(queryset, TenantQuerySet):
        raise TypeError(f"{queryset.model.__name__} rows are not scoped by organization.")
    row = queryset.visible_to(user).filter(pk=pk).first()
    if row is None:
        raise InvalidReference(f"No such {label}: {pk}.", field=field)
    if not queryset.editable_by(user, roles).filter(pk=pk).exists():
        where = "this organization" if label == "organization" else f"the {label}'s organization"
        needed = " or ".join(str(Membership.Role(role).label).lower() for role in sorted(roles))
        raise Forbidden(f"Your role in {where} does not allow changes: it takes {needed}.")
    return row
