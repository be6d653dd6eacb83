from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.sites.models import Circuit, Membership, Property
from tests import factories

pytestmark = pytest.mark.django_db


def test_property_time_zone_must_be_iana():
    prop = factories.PropertyFactory.build(
        organization=factories.OrganizationFactory(), time_zone="Mars/Olympus"
    )
    with pytest.raises(ValidationError, match="time_zone"):
        prop.full_clean()


def test_property_address_joins_present_parts():
    prop = factories.PropertyFactory.build(
        street="1 Elm St", postal_code="62701", city="Springfield", country="US"
    )
    assert prop.address == "1 Elm St, 62701 Springfield, US"


def test_property_name_unique_per_organization():
    prop = factories.PropertyFactory(name="Elm Court")
    factories.PropertyFactory(name="Elm Court")  # another organization: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.PropertyFactory(name="Elm Court", organization=prop.organization)


def test_property_onboarding_requires_a_zone():
    prop = factories.PropertyFactory()
    prop.accept_unknown_chargers = True
    with pytest.raises(IntegrityError), transaction.atomic():
        prop.save()
    prop.onboarding_zone = factories.ZoneFactory(property=prop)
    prop.save()
    assert Property.objects.get(pk=prop.pk).accept_unknown_chargers


def test_property_onboarding_keys_are_unique_and_random():
    keys = {factories.PropertyFactory().onboarding_key for _ in range(5)}
    assert len(keys) == 5
    assert all(len(k) == 16 for k in keys)


def test_membership_one_per_user_and_organization():
    membership = factories.MembershipFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            user=membership.user,
            organization=membership.organization,
            role=Membership.Role.VIEWER,
        )


def test_circuit_parent_must_be_in_same_property():
    panel = factories.CircuitFactory()
    other = factories.CircuitFactory()
    child = Circuit(property=other.property, parent=panel, name="Sub", limit_w=22_000)
    with pytest.raises(ValidationError, match="same property"):
        child.full_clean()


def test_circuit_tree_cannot_loop():
    main = factories.CircuitFactory(name="Main")
    sub = factories.CircuitFactory(name="Sub", property=main.property, parent=main)
    main.parent = sub
    with pytest.raises(ValidationError, match="cannot feed itself"):
        main.full_clean()


def test_circuit_cannot_be_its_own_parent_in_the_database():
    circuit = factories.CircuitFactory()
    circuit.parent_id = circuit.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        circuit.save()


def test_str_of_sites_models_is_readable():
    zone = factories.ZoneFactory(name="Garage", property__name="Elm Court")
    assert str(zone) == "Elm Court / Garage"
    assert str(zone.property.organization).startswith("Organization")
    membership = factories.MembershipFactory(role=Membership.Role.VIEWER)
    assert "Viewer of" in str(membership)
