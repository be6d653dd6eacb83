"""factory_boy factories for every domain model. Related objects follow the
organization of their parent, so a factory never mixes tenants by accident."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.access.models import AccessGroup, AccessPolicy, Fleet, IdToken, Person, Vehicle
from apps.chargers.models import (
    Charger,
    ChargingSession,
    Connector,
    MeterSample,
    StatusChange,
)
from apps.sites.models import Circuit, Membership, Organization, Property, Zone


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct-horse-battery")
    is_staff = True


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.PROPERTY_MANAGER


class PropertyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Property

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Property {n}")
    city = "Springfield"
    country = "US"
    time_zone = "America/Chicago"
    grid_limit_w = 150_000


class CircuitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Circuit

    property = factory.SubFactory(PropertyFactory)
    name = factory.Sequence(lambda n: f"Panel {n}")
    limit_w = 66_000


class ZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Zone

    property = factory.SubFactory(PropertyFactory)
    name = factory.Sequence(lambda n: f"Zone {n}")
    kind = Zone.Kind.RESIDENTS


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    organization = factory.SubFactory(OrganizationFactory)
    kind = Person.Kind.RESIDENT
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda p: f"{p.first_name}.{p.last_name}@example.com".lower())


class AccessGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccessGroup

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Group {n}")


class FleetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fleet

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Fleet {n}")


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    organization = factory.SubFactory(OrganizationFactory)
    make = "Volkswagen"
    model = "ID.4"
    battery_capacity_wh = 77_000
    max_ac_power_w = 11_000
    max_dc_power_w = 135_000


class IdTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IdToken

    organization = factory.SubFactory(OrganizationFactory)
    uid = factory.Sequence(lambda n: f"04A1B2C3{n:06X}")


class AccessPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccessPolicy

    zone = factory.SubFactory(ZoneFactory)
    admits = AccessPolicy.Admits.PUBLIC


class ChargerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Charger

    charge_point_id = factory.Sequence(lambda n: f"CP-{n:05d}")
    zone = factory.SubFactory(ZoneFactory)
    vendor = "ABB"
    model = "Terra AC"
    max_power_w = 11_000
    ocpp_version = Charger.OcppVersion.V16


class ConnectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connector

    charger = factory.SubFactory(ChargerFactory)
    connector_id = 1


class StatusChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StatusChange

    charger = factory.SubFactory(ChargerFactory)
    status = Connector.Status.AVAILABLE
    reported_at = factory.LazyFunction(timezone.now)


class ChargingSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChargingSession

    connector = factory.SubFactory(ConnectorFactory)
    charger = factory.SelfAttribute("connector.charger")
    ocpp_transaction_id = factory.Sequence(lambda n: str(n + 1))
    meter_start_wh = 1_000
    started_at = factory.LazyFunction(timezone.now)


class MeterSampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MeterSample

    session = factory.SubFactory(ChargingSessionFactory)
    charger = factory.SelfAttribute("session.charger")
    connector_id = 1
    sampled_at = factory.LazyFunction(timezone.now)
    value = 1_500
    unit = "Wh"
