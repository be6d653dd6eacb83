"""The tenancy queryset every interface relies on."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from apps.access.models import AccessPolicy, IdToken
from apps.chargers.models import Charger, ChargingSession, MeterSample
from apps.sites.models import Membership, Organization, Zone
from apps.sites.tenancy import FLEET_ROLES, organization_id_of, organization_ids
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_worlds(org_a, org_b):
    """One charger with a session and a sample, a token and a policy in each org."""
    world = {}
    for org in (org_a, org_b):
        zone = factories.ZoneFactory(property__organization=org)
        sample = factories.MeterSampleFactory(session__connector__charger__zone=zone)
        factories.IdTokenFactory(organization=org)
        factories.AccessPolicyFactory(zone=zone)
        world[org.slug] = sample
    return world


@pytest.mark.parametrize(
    "model", [Organization, Zone, Charger, ChargingSession, MeterSample, IdToken, AccessPolicy]
)
def test_visible_to_shows_only_own_organization(model, two_worlds, manager_a, org_a):
    rows = list(model.objects.visible_to(manager_a))
    assert rows, "org A's own rows must be visible"
    assert {organization_id_of(row) for row in rows} == {org_a.pk}


def test_superuser_sees_every_organization(two_worlds, superuser):
    assert Charger.objects.visible_to(superuser).count() == 2


def test_anonymous_and_non_members_see_nothing(two_worlds):
    assert not Charger.objects.visible_to(AnonymousUser()).exists()
    outsider = factories.UserFactory()
    assert not Charger.objects.visible_to(outsider).exists()


def test_inactive_superuser_is_not_unrestricted(two_worlds):
    ghost = factories.UserFactory(is_superuser=True, is_active=False)
    assert not Charger.objects.visible_to(ghost).exists()


def test_editable_by_respects_roles(two_worlds, org_a):
    viewer = factories.UserFactory()
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    fleet = factories.UserFactory()
    factories.MembershipFactory(user=fleet, organization=org_a, role=Membership.Role.FLEET_MANAGER)
    assert Charger.objects.visible_to(viewer).count() == 1
    assert not Charger.objects.editable_by(viewer).exists()
    assert not Charger.objects.editable_by(fleet).exists()
    assert IdToken.objects.editable_by(fleet, roles=FLEET_ROLES).count() == 1


def test_organization_ids_are_cached_per_user_object(manager_a, org_a, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert organization_ids(manager_a) == {org_a.pk}
        assert organization_ids(manager_a) == {org_a.pk}


def test_organization_id_of_follows_the_path(two_worlds, org_b):
    sample = two_worlds["org-b"]
    assert organization_id_of(sample) == org_b.pk
    assert organization_id_of(org_b) == org_b.pk
