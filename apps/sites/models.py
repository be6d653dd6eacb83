from __future__ import annotations

import secrets
import zoneinfo
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.sites.tenancy import TenantQuerySet


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin).")


def new_onboarding_key() -> str:
    return secrets.token_hex(8)


class Organization(models.Model):
    """The operator: a property company, a dealership, a fleet owner. Every row a
    property manager can see hangs under exactly one organization."""

    class Kind(models.TextChoices):
        PROPERTY_COMPANY = "property_company", "Property company"
        DEALERSHIP = "dealership", "Dealership"
        FLEET_OPERATOR = "fleet_operator", "Fleet operator"
        EMPLOYER = "employer", "Employer"
        OTHER = "other", "Other"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.PROPERTY_COMPANY)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = ""

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """Who manages what: a user's role in an organization."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        PROPERTY_MANAGER = "property_manager", "Property manager"
        FLEET_MANAGER = "fleet_manager", "Fleet manager"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="sites_membership_one_per_user_and_org"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.organization}"


class Property(models.Model):
    """A place with chargers: an apartment building, a dealership, a depot."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="properties"
    )
    name = models.CharField(max_length=200)
    street = models.CharField(max_length=200, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 code, e.g. US")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    grid_limit_w = models.PositiveIntegerField(
        null=True,
        blank=True,
        verbose_name="grid connection limit (W)",
        help_text="The utility connection's limit in watts (150 kW = 150000). Empty: no limit.",
    )
    # Onboarding: a charger configured with the URL /ocpp/<onboarding_key>/<its id>
    # whose id is unknown is registered as pending in the onboarding zone, for
    # approval in the admin. Without the key nobody can tell which property an
    # unknown charger belongs to.
    accept_unknown_chargers = models.BooleanField(
        default=False,
        help_text="Register unknown chargers that connect with this property's onboarding "
        "URL as pending, for approval in the admin.",
    )
    onboarding_zone = models.ForeignKey(
        "Zone",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Where newly connected unknown chargers are registered.",
    )
    onboarding_key = models.CharField(
        max_length=32, unique=True, default=new_onboarding_key, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        verbose_name_plural = "properties"
        constraints = [
            models.CheckConstraint(
                condition=Q(accept_unknown_chargers=False) | Q(onboarding_zone__isnull=False),
                name="sites_property_onboarding_needs_zone",
            ),
            models.UniqueConstraint(
                fields=["organization", "name"], name="sites_property_unique_name_per_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def address(self) -> str:
        parts = [self.street, " ".join(p for p in (self.postal_code, self.city) if p), self.country]
        return ", ".join(p for p in parts if p)


class Circuit(models.Model):
    """A panel or circuit under a property, with its own power limit. Circuits form a
    tree (a panel feeding sub-panels); load management keeps every node under its limit."""

    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="circuits")
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    name = models.CharField(max_length=200)
    limit_w = models.PositiveIntegerField(verbose_name="limit (W)")
    phases = models.PositiveSmallIntegerField(choices=[(1, "1"), (3, "3")], default=3)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "property__organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["property", "name"], name="sites_circuit_unique_name_per_property"
            ),
            models.CheckConstraint(
                condition=~Q(parent=models.F("id")), name="sites_circuit_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.property} / {self.name}"

    def clean(self) -> None:
        if self.parent is None:
            return
        if self.parent.property_id != self.property_id:
            raise ValidationError({"parent": "The parent circuit must be in the same property."})
        node: Circuit | None = self.parent
        while node is not None:
            if self.pk is not None and node.pk == self.pk:
                raise ValidationError({"parent": "A circuit cannot feed itself."})
            node = node.parent


class Zone(models.Model):
    """A part of a property with its own access rules: residents' garage, visitor
    parking, employee lot, public spaces, fleet depot."""

    class Kind(models.TextChoices):
        RESIDENTS = "residents", "Residents' garage"
        VISITORS = "visitors", "Visitor parking"
        CUSTOMERS = "customers", "Customer parking"
        EMPLOYEES = "employees", "Employee lot"
        PUBLIC = "public", "Public"
        FLEET_DEPOT = "fleet_depot", "Fleet depot"

    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="zones")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Kind.choices)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "property__organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["property", "name"], name="sites_zone_unique_name_per_property"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.property} / {self.name}"


class ApiToken(models.Model):
    """A bearer token for the REST API. Only its SHA-256 is stored; the token itself
    is shown once, when it is created. It acts with its user's permissions."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for.")
    prefix = models.CharField(max_length=12, editable=False, help_text="Its first characters.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    # A token belongs to a user, not to an organization: a user sees their own
    # tokens, superusers see all (apps/sites/admin.py).

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
