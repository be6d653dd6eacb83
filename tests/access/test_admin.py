"""The access admin: inlines that carry their own organization, fleet managers'
reach, and the user picker on people."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from apps.access.models import IdToken, Vehicle
from apps.sites.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet_manager_a(org_a):
    user = factories.UserFactory(username="fleet_a")
    factories.MembershipFactory(user=user, organization=org_a, role=Membership.Role.FLEET_MANAGER)
    return user


def _person_data(person: Any, **extra: Any) -> dict[str, Any]:
    return {
        "organization": person.organization_id,
        "kind": person.kind,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "is_active": "on",
        "id_tokens-TOTAL_FORMS": "1",
        "id_tokens-INITIAL_FORMS": "0",
        "id_tokens-0-uid": "04AABBCC",
        "id_tokens-0-kind": "rfid",
        "id_tokens-0-status": "active",
    } | extra


def test_id_token_inline_preselects_the_persons_organization(client, manager_a, org_a) -> None:
    person = factories.PersonFactory(organization=org_a)
    client.force_login(manager_a)
    page = client.get(reverse("admin:access_person_change", args=[person.pk]))
    formset = page.context["inline_admin_formsets"][0].formset
    assert formset.empty_form.fields["organization"].initial == org_a.pk


def test_id_token_added_inline_belongs_to_the_persons_org(client, manager_a, org_a) -> None:
    person = factories.PersonFactory(organization=org_a)
    client.force_login(manager_a)
    response = client.post(
        reverse("admin:access_person_change", args=[person.pk]),
        _person_data(person, **{"id_tokens-0-organization": org_a.pk}),
    )
    assert response.status_code == 302
    token = IdToken.objects.get(uid="04AABBCC")
    assert token.person == person
    assert token.organization == org_a


def test_id_token_inline_refuses_another_org(client, manager_a, org_a, org_b) -> None:
    person = factories.PersonFactory(organization=org_a)
    client.force_login(manager_a)
    response = client.post(
        reverse("admin:access_person_change", args=[person.pk]),
        _person_data(person, **{"id_tokens-0-organization": org_b.pk}),
    )
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert "organization" in formset.forms[0].errors
    assert not IdToken.objects.exists()


def test_vehicle_inline_on_fleet_keeps_one_organization(client, org_a) -> None:
    """An owner of A and C cannot put a vehicle of C into A's fleet."""
    org_c = factories.OrganizationFactory(name="Org C", slug="org-c")
    user = factories.UserFactory(username="two_orgs")
    for org in (org_a, org_c):
        factories.MembershipFactory(user=user, organization=org, role=Membership.Role.OWNER)
    fleet = factories.FleetFactory(organization=org_a)
    client.force_login(user)
    data = {
        "organization": org_a.pk,
        "name": fleet.name,
        "vehicles-TOTAL_FORMS": "1",
        "vehicles-INITIAL_FORMS": "0",
        "vehicles-0-make": "Ford",
        "vehicles-0-model": "E-Transit",
        "vehicles-0-organization": org_c.pk,
        "vehicles-0-battery_capacity_wh": "68000",
        "vehicles-0-max_ac_power_w": "11000",
    }
    change_url = reverse("admin:access_fleet_change", args=[fleet.pk])
    response = client.post(change_url, data)
    assert response.status_code == 200
    assert not Vehicle.objects.exists()

    response = client.post(change_url, data | {"vehicles-0-organization": org_a.pk})
    assert response.status_code == 302
    assert Vehicle.objects.get().fleet == fleet


def test_fleet_manager_adds_people_and_tokens_but_not_policies(
    client, fleet_manager_a, org_a
) -> None:
    client.force_login(fleet_manager_a)
    data = {
        "organization": org_a.pk,
        "kind": "driver",
        "first_name": "Dana",
        "last_name": "Driver",
        "is_active": "on",
        "id_tokens-TOTAL_FORMS": "0",
        "id_tokens-INITIAL_FORMS": "0",
    }
    assert client.post(reverse("admin:access_person_add"), data).status_code == 302
    response = client.post(
        reverse("admin:access_idtoken_add"),
        {"organization": org_a.pk, "uid": "APP-1", "kind": "app", "status": "active"},
    )
    assert response.status_code == 302
    assert client.get(reverse("admin:access_accesspolicy_add")).status_code == 403
    assert client.get(reverse("admin:sites_zone_add")).status_code == 403
    # They still see the zones and policies of their organization.
    factories.AccessPolicyFactory(zone__property__organization=org_a)
    assert client.get(reverse("admin:access_accesspolicy_changelist")).status_code == 200


def test_person_user_choices_never_list_strangers(client, manager_a, org_a, org_b) -> None:
    stranger = factories.UserFactory(username="stranger")
    factories.MembershipFactory(user=stranger, organization=org_b)
    loner = factories.UserFactory(username="loner")
    client.force_login(manager_a)
    page = client.get(reverse("admin:access_person_add"))
    choices = set(page.context["adminform"].form.fields["user"].queryset)
    assert stranger not in choices
    assert loner not in choices
    assert manager_a in choices


def test_vehicle_list_shows_kw_and_kwh(client, manager_a, org_a) -> None:
    factories.VehicleFactory(
        organization=org_a, battery_capacity_wh=77_000, max_ac_power_w=11_000, max_dc_power_w=None
    )
    client.force_login(manager_a)
    response = client.get(reverse("admin:access_vehicle_changelist"))
    assert "77 kWh" in response.text
    assert "11 kW" in response.text


def test_id_token_group_edited_in_admin_same_organization_only(client, manager_a, org_a, org_b):
    """A token's group (1.6 parentIdTag / 2.0.1 groupIdToken) is set on its change
    page; a group head of another organization is neither offered nor accepted."""
    head = factories.IdTokenFactory(organization=org_a, uid="HEAD-A")
    foreign = factories.IdTokenFactory(organization=org_b, uid="HEAD-B")
    member = factories.IdTokenFactory(organization=org_a, uid="MEMBER-A")
    client.force_login(manager_a)
    url = reverse("admin:access_idtoken_change", args=[member.pk])
    page = client.get(url)
    choices = set(page.context["adminform"].form.fields["group"].queryset)
    assert head in choices
    assert foreign not in choices
    data = {"organization": org_a.pk, "uid": "MEMBER-A", "kind": "rfid", "status": "active"}
    assert client.post(url, {**data, "group": foreign.pk}).status_code == 200  # refused
    member.refresh_from_db()
    assert member.group is None
    assert client.post(url, {**data, "group": head.pk}).status_code == 302
    member.refresh_from_db()
    assert member.group == head
    assert "HEAD-A" in client.get(reverse("admin:access_idtoken_changelist")).text
