"""What the configuration services share: who asked, the protocol version, and
the manager check made before anything is sent or stored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.chargers.models import Charger
from apps.sites.exceptions import Forbidden, NotFound
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser


def account_id(user: AnyUser | None) -> int | None:
    """The account's id for a log row (an anonymous user has none)."""
    return int(user.pk) if user is not None and user.is_authenticated and user.pk else None


def is_v16(charger: Charger) -> bool:
    return charger.ocpp_version == Charger.OcppVersion.V16


def check_manager(charger: Charger, user: AnyUser | None) -> None:
    """Raises NotFound when the user does not see the charger, Forbidden when they
    may not command it (checked before anything is sent or stored)."""
    if user is None:
        return
    if not Charger.objects.visible_to(user).filter(pk=charger.pk).exists():
        raise NotFound(f"No charger with charge point id {charger.charge_point_id!r}.")
    if not Charger.objects.editable_by(user, MANAGE_ROLES).filter(pk=charger.pk).exists():
        raise Forbidden("Your role in the charger's organization does not allow this.")
