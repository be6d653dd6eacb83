from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.sites.models import Organization, Property, Zone
from apps.sites.tenancy import TenantQuerySet


class Person(models.Model):
    """Someone who charges: a resident (with a unit), an employee, a customer or
    driver. A login is optional: most residents only ever tap an RFID card."""

    class Kind(models.TextChoices):
        RESIDENT = "resident", "Resident"
        EMPLOYEE = "employee", "Employee"
        CUSTOMER = "customer", "Customer"
        DRIVER = "driver", "Driver"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="people")
    property = models.ForeignKey(
        Property,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="people",
        help_text="Where a resident lives or an employee works.",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    unit = models.CharField(max_length=40, blank=True, help_text="Apartment or unit number.")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="person",
    )
    is_active = models.BooleanField(default=True)
    notify_session_email = models.BooleanField(
        "email me about my sessions",
        default=False,
        help_text="Email this person when their session ends or is suspended "
        '("move your car"). They opt in; off by default.',
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        verbose_name_plural = "people"
        indexes = [models.Index(fields=["organization", "last_name"])]

    def __str__(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.first_name} {self.last_name}{unit}"


class AccessGroup(models.Model):
    """A named list of people an access policy can admit (e.g. "Night shift")."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="access_groups"
    )
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(Person, blank=True, related_name="access_groups")

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="access_accessgroup_unique_name_per_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Fleet(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="fleets")
    name = models.CharField(max_length=100)
    depot = models.ForeignKey(
        Property, on_delete=models.SET_NULL, null=True, blank=True, related_name="fleets"
    )

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="access_fleet_unique_name_per_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Vehicle(models.Model):
    """An electric vehicle, owned by a person or by a fleet (exactly one of them)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="vehicles"
    )
    make = models.CharField(max_length=60)
    model = models.CharField(max_length=60)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    license_plate = models.CharField(max_length=20, blank=True)
    vin = models.CharField(max_length=17, blank=True, verbose_name="VIN")
    battery_capacity_wh = models.PositiveIntegerField(
        verbose_name="battery capacity (Wh)", help_text="Usable capacity: 77 kWh = 77000."
    )
    max_ac_power_w = models.PositiveIntegerField(verbose_name="max AC power (W)")
    max_dc_power_w = models.PositiveIntegerField(
        null=True, blank=True, verbose_name="max DC power (W)"
    )
    owner_person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="vehicles"
    )
    fleet = models.ForeignKey(
        Fleet, on_delete=models.SET_NULL, null=True, blank=True, related_name="vehicles"
    )

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~(Q(owner_person__isnull=False) & Q(fleet__isnull=False)),
                name="access_vehicle_one_owner",
            ),
            models.UniqueConstraint(
                fields=["organization", "vin"],
                condition=~Q(vin=""),
                name="access_vehicle_unique_vin_per_org",
            ),
        ]

    def __str__(self) -> str:
        plate = f" {self.license_plate}" if self.license_plate else ""
        return f"{self.make} {self.model}{plate}"


class IdToken(models.Model):
    """What a driver identifies with at a charger: an RFID card, an app token or a
    vehicle's MAC (Autocharge / Plug&Charge). A token with no person is a
    registered token that zones admitting any registered token accept."""

    class Kind(models.TextChoices):
        RFID = "rfid", "RFID card"
        APP = "app", "App"
        VEHICLE_MAC = "vehicle_mac", "Vehicle MAC"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        BLOCKED = "blocked", "Blocked"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="id_tokens"
    )
    # OCPP 1.6 idTag is at most 20 characters, 2.0.1 idToken at most 36.
    uid = models.CharField(max_length=36, verbose_name="UID")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.RFID)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField(null=True, blank=True)
    person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="id_tokens"
    )
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.SET_NULL, null=True, blank=True, related_name="id_tokens"
    )
    label = models.CharField(
        max_length=100, blank=True, help_text="E.g. the card's printed number."
    )
    # Token groups (a household's or a company's cards): the members point at one
    # token of the organization, the group's head, whose UID is the group id that
    # chargers see (OCPP 1.6 parentIdTag, 2.0.1 groupIdToken). A FK rather than a
    # free-text group id: the group id is then always a real token of the same
    # organization, and renaming the head's UID renames the group. Groups are flat:
    # a head has no group of its own.
    group = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        verbose_name="group (head token)",
        help_text="Tokens of one group may stop each other's sessions.",
    )
    # The head of the master pass group: its UID is what stations are configured
    # with as AuthCtrlr.MasterPassGroupId (2.0.1); a member of its group may stop
    # any transaction at such a station. At most one per organization.
    is_master_pass_group = models.BooleanField(
        default=False,
        verbose_name="master pass group",
        help_text="This token heads the master pass group (OCPP 2.0.1 MasterPassGroupId).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "organization"

    class Meta:
        verbose_name = "ID token"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "uid"], name="access_idtoken_unique_uid_per_org"
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(is_master_pass_group=True),
                name="access_idtoken_one_master_pass_group_per_org",
            ),
        ]

    def __str__(self) -> str:
        return self.uid

    def clean(self) -> None:
        super().clean()
        group = self.group
        if group is None:
            return
        if group.organization_id != self.organization_id:
            raise ValidationError({"group": "The group's token belongs to another organization."})
        if self.pk is not None and group.pk == self.pk:
            raise ValidationError({"group": "A token cannot be its own group."})
        if group.group_id is not None:
            raise ValidationError({"group": "Groups are flat: that token is a member of a group."})
        if self.pk is not None and self.members.exists():
            raise ValidationError({"group": "This token heads a group: it cannot join another."})
        if self.is_master_pass_group:
            raise ValidationError(
                {"is_master_pass_group": "A master pass group is headed by a token with no group."}
            )

    @property
    def group_uid(self) -> str:
        """The group id chargers see: the head's UID, for the head too (so a head
        and its members match). Empty when the token is in no group. A head is
        recognised by having members, which costs a query unless annotated."""
        if self.group is not None:
            return self.group.uid
        has_members = getattr(self, "has_members", None)
        if has_members is None:
            has_members = self.pk is not None and self.members.exists()
        return self.uid if (has_members or self.is_master_pass_group) else ""


class AccessPolicy(models.Model):
    """Who may charge in a zone, and when. A zone with several policies admits a
    token that any one of them admits; a zone with none admits nobody."""

    class Admits(models.TextChoices):
        PUBLIC = "public", "Anyone with a registered token"
        RESIDENTS = "residents", "Residents of this property"
        EMPLOYEES = "employees", "Employees of this property"
        GROUPS = "groups", "Members of listed groups"
        FLEET_VEHICLES = "fleet_vehicles", "Vehicles of listed fleets"

    zone = models.ForeignKey(Zone, on_delete=models.CASCADE, related_name="access_policies")
    admits = models.CharField(max_length=32, choices=Admits.choices)
    groups = models.ManyToManyField(AccessGroup, blank=True, related_name="access_policies")
    fleets = models.ManyToManyField(Fleet, blank=True, related_name="access_policies")
    # Optional time window, in the property's local time. Both empty: all day.
    # start > end wraps past midnight (22:00–06:00).
    weekdays = models.CharField(
        max_length=7,
        blank=True,
        help_text="Days it applies: digits 1 (Monday) to 7 (Sunday), e.g. 12345. Empty: all.",
    )
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    objects = TenantQuerySet.as_manager()
    tenant_path: ClassVar[str] = "zone__property__organization"

    class Meta:
        verbose_name_plural = "access policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(start_time__isnull=True, end_time__isnull=True)
                | Q(start_time__isnull=False, end_time__isnull=False),
                name="access_accesspolicy_window_both_or_neither",
            ),
            models.CheckConstraint(
                condition=Q(weekdays__regex=r"^[1-7]{0,7}$"),
                name="access_accesspolicy_weekdays_digits",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.zone}: {self.get_admits_display()}"
