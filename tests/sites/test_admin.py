"""The sites admin: organizations (created by superusers, changed by owners),
memberships (users are picked among colleagues only), and API tokens (a user's
own; the raw token is shown once)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from apps.sites.models import ApiToken, Membership, Organization, Property
from apps.sites.services import api_token_authenticate, api_token_create
from tests import factories

pytestmark = pytest.mark.django_db

RAW_TOKEN = re.compile(r"\b(pb_[\w-]+)")


def _messages(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _with_inlines(client, page_url: str, data: dict[str, Any]) -> dict[str, Any]:
    for inline in client.get(page_url).context["inline_admin_formsets"]:
        formset = inline.formset
        data |= {
            f"{formset.prefix}-TOTAL_FORMS": str(formset.total_form_count() - formset.extra),
            f"{formset.prefix}-INITIAL_FORMS": str(formset.initial_form_count()),
        }
        for i, form in enumerate(formset.initial_forms):
            data[f"{formset.prefix}-{i}-id"] = str(form.instance.pk)
            for name in form.fields:
                if name not in ("id", "DELETE") and name not in formset.fk.name:
                    value = getattr(form.instance, f"{name}_id", getattr(form.instance, name))
                    data.setdefault(f"{formset.prefix}-{i}-{name}", value)
    return data


@pytest.fixture
def owner_a(org_a):
    user = factories.UserFactory(username="owner_a")
    factories.MembershipFactory(user=user, organization=org_a, role=Membership.Role.OWNER)
    return user


def test_only_superusers_add_organizations(client, owner_a, superuser) -> None:
    add_url = reverse("admin:sites_organization_add")
    client.force_login(owner_a)
    assert client.get(add_url).status_code == 403

    client.force_login(superuser)
    data = _with_inlines(
        client, add_url, {"name": "New Co", "slug": "new-co", "kind": "property_company"}
    )
    assert client.post(add_url, data).status_code == 302
    assert Organization.objects.filter(slug="new-co").exists()


def test_member_sees_only_their_organizations(client, manager_a, org_a, org_b) -> None:
    client.force_login(manager_a)
    response = client.get(reverse("admin:sites_organization_changelist"))
    assert list(response.context["cl"].result_list) == [org_a]


def test_owner_changes_their_organization_and_manager_does_not(
    client, owner_a, manager_a, org_a
) -> None:
    change_url = reverse("admin:sites_organization_change", args=[org_a.pk])

    client.force_login(manager_a)
    assert client.get(change_url).context["has_change_permission"] is False
    assert client.post(change_url, {"name": "Hijacked"}).status_code == 403

    client.force_login(owner_a)
    data = _with_inlines(
        client, change_url, {"name": "Renamed A", "slug": org_a.slug, "kind": org_a.kind}
    )
    response = client.post(change_url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    org_a.refresh_from_db()
    assert org_a.name == "Renamed A"
    # Owners do not delete the tenant itself.
    assert (
        client.get(reverse("admin:sites_organization_delete", args=[org_a.pk])).status_code == 403
    )


def test_membership_user_choices_are_colleagues_only(client, owner_a, org_a, org_b) -> None:
    colleague = factories.UserFactory(username="colleague")
    factories.MembershipFactory(user=colleague, organization=org_a, role=Membership.Role.VIEWER)
    stranger = factories.UserFactory(username="stranger")
    factories.MembershipFactory(user=stranger, organization=org_b, role=Membership.Role.OWNER)
    resident = factories.UserFactory(username="resident")
    factories.PersonFactory(organization=org_a, user=resident)
    client.force_login(owner_a)

    add_url = reverse("admin:sites_membership_add")
    page = client.get(add_url)
    choices = set(page.context["adminform"].form.fields["user"].queryset)
    assert choices == {owner_a, colleague, resident}
    assert "stranger" not in page.text

    response = client.post(
        add_url, {"user": stranger.pk, "organization": org_a.pk, "role": "property_manager"}
    )
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    assert not Membership.objects.filter(user=stranger, organization=org_a).exists()

    # The organization inline offers the same people.
    org_page = client.get(reverse("admin:sites_organization_change", args=[org_a.pk]))
    inline = org_page.context["inline_admin_formsets"][0].formset
    assert set(inline.empty_form.fields["user"].queryset) == {owner_a, colleague, resident}


def test_owner_adds_a_membership_and_manager_cannot(client, owner_a, manager_a, org_a) -> None:
    colleague = factories.UserFactory(username="colleague")
    factories.PersonFactory(organization=org_a, user=colleague)
    add_url = reverse("admin:sites_membership_add")
    data = {"user": colleague.pk, "organization": org_a.pk, "role": "viewer"}

    client.force_login(manager_a)
    assert client.post(add_url, data).status_code == 403

    client.force_login(owner_a)
    assert client.post(add_url, data).status_code == 302
    assert Membership.objects.filter(user=colleague, organization=org_a, role="viewer").exists()


def test_property_list_shows_grid_limit_in_kw(client, manager_a, org_a) -> None:
    factories.PropertyFactory(organization=org_a, grid_limit_w=150_000)
    client.force_login(manager_a)
    response = client.get(reverse("admin:sites_property_changelist"))
    assert "150 kW" in response.text


def test_property_page_has_zone_and_circuit_inlines(client, manager_a, org_a) -> None:
    prop = factories.PropertyFactory(organization=org_a)
    zone = factories.ZoneFactory(property=prop)
    circuit = factories.CircuitFactory(property=prop)
    client.force_login(manager_a)
    response = client.get(reverse("admin:sites_property_change", args=[prop.pk]))
    rows = {
        f.instance
        for i in response.context["inline_admin_formsets"]
        for f in i.formset.initial_forms
    }
    assert rows == {zone, circuit}


def test_manager_adds_a_property_with_zones_inline(client, manager_a, org_a) -> None:
    add_url = reverse("admin:sites_property_add")
    client.force_login(manager_a)
    data = _with_inlines(
        client, add_url, {"organization": org_a.pk, "name": "Depot", "time_zone": "UTC"}
    )
    data |= {"zones-TOTAL_FORMS": "1", "zones-0-name": "Bay", "zones-0-kind": "fleet_depot"}
    response = client.post(add_url, data)
    assert response.status_code == 302
    assert Property.objects.get(name="Depot").zones.get().name == "Bay"


# --- API tokens -------------------------------------------------------------


def test_token_added_in_admin_is_shown_once_and_authenticates(client, manager_a) -> None:
    client.force_login(manager_a)
    response = client.post(reverse("admin:sites_apitoken_add"), {"name": "integration"})
    assert response.status_code == 200
    (once,) = [str(m) for m in response.context["messages"] if "shown only this once" in str(m)]
    raw = RAW_TOKEN.search(once).group(1)
    assert raw in response.text
    token = api_token_authenticate(raw_token=raw)
    assert token is not None
    assert token.user == manager_a
    assert token.name == "integration"
    assert raw not in token.token_hash

    # Rendered in that response only: no message cookie, no session, no later page.
    cookie = response.cookies.get("messages")
    assert cookie is None or cookie.value == ""
    assert raw not in str(dict(client.session))
    assert raw not in client.get(reverse("admin:sites_apitoken_changelist")).text


def test_token_hash_is_never_shown(client, manager_a) -> None:
    token, _ = api_token_create(user=manager_a, name="ci")
    client.force_login(manager_a)
    for page in (
        reverse("admin:sites_apitoken_changelist"),
        reverse("admin:sites_apitoken_change", args=[token.pk]),
    ):
        response = client.get(page)
        assert response.status_code == 200
        assert token.token_hash not in response.text


def test_user_sees_only_own_tokens_and_superuser_all(client, manager_a, superuser) -> None:
    mine, _ = api_token_create(user=manager_a, name="mine")
    other_user = factories.UserFactory(username="other")
    theirs, _ = api_token_create(user=other_user, name="theirs")

    client.force_login(manager_a)
    listing = client.get(reverse("admin:sites_apitoken_changelist"))
    assert list(listing.context["cl"].result_list) == [mine]
    response = client.get(reverse("admin:sites_apitoken_change", args=[theirs.pk]))
    assert response.status_code == 302
    # The add form has no user field: a token is always the requester's own.
    assert (
        "user"
        not in client.get(reverse("admin:sites_apitoken_add")).context["adminform"].form.fields
    )

    client.force_login(superuser)
    listing = client.get(reverse("admin:sites_apitoken_changelist"))
    assert set(listing.context["cl"].result_list) == {mine, theirs}


def test_revoke_action_revokes_own_tokens_only(client, manager_a) -> None:
    mine, raw_mine = api_token_create(user=manager_a, name="mine")
    other_user = factories.UserFactory(username="other")
    theirs, raw_theirs = api_token_create(user=other_user, name="theirs")
    client.force_login(manager_a)
    response = client.post(
        reverse("admin:sites_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [mine.pk, theirs.pk]},
    )
    assert response.status_code == 302
    assert api_token_authenticate(raw_token=raw_mine) is None
    assert api_token_authenticate(raw_token=raw_theirs) is not None
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
