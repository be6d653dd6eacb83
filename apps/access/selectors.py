"""Reads for access, scoped by tenancy and explicitly ordered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.access.models import IdToken
from apps.sites.tenancy import TenantQuerySet

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


def id_token_list(
    *, user: AnyUser, person_id: int | None = None, status: str | None = None
) -> TenantQuerySet:
    """The id tokens the user may see, optionally of one person or in one status."""
    tokens = IdToken.objects.visible_to(user).select_related("organization", "person")
    if person_id is not None:
        tokens = tokens.filter(person_id=person_id)
    if status is not None:
        tokens = tokens.filter(status=status)
    # A UID is unique per organization only: the organization breaks ties.
    return tokens.order_by("uid", "organization_id")
