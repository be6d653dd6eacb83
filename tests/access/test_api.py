"""GET/POST /api/v1/id-tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from apps.access.models import IdToken
from apps.sites.models import Membership
from apps.sites.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db


def bearer(user) -> dict[str, str]:
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def issue(client, user, **body):
    return client.post(
        reverse("api:id_token_issue"), body, content_type="application/json", **bearer(user)
    )


def list_tokens(client, user, **params):
    return client.get(reverse("api:id_token_list"), params, **bearer(user))


# --- reads ------------------------------------------------------------------------


def test_id_token_list_returns_visible_tokens(client, manager_a, org_a, org_b):
    person = factories.PersonFactory(organization=org_a, first_name="Ada", last_name="Byron")
    card = factories.IdTokenFactory(
        organization=org_a,
        uid="04A1",
        person=person,
        label="Card 17",
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    factories.IdTokenFactory(organization=org_b, uid="04B1")

    response = list_tokens(client, manager_a)

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": card.pk,
            "uid": "04A1",
            "kind": "rfid",
            "status": "active",
            "expires_at": "2027-01-01T00:00:00Z",
            "label": "Card 17",
            "organization": {"id": org_a.pk, "name": "Org A"},
            "person": {"id": person.pk, "name": "Ada Byron"},
            "group_id": None,
            "is_master_pass_group": False,
            "created_at": response.json()[0]["created_at"],
        }
    ]


def test_id_token_list_filters_by_person_and_status(client, manager_a, org_a):
    person = factories.PersonFactory(organization=org_a)
    factories.IdTokenFactory(organization=org_a, uid="P-ACTIVE", person=person)
    factories.IdTokenFactory(
        organization=org_a, uid="P-BLOCKED", person=person, status=IdToken.Status.BLOCKED
    )
    factories.IdTokenFactory(organization=org_a, uid="NOBODY")

    by_person = list_tokens(client, manager_a, person_id=person.pk).json()
    blocked = list_tokens(client, manager_a, status="blocked").json()
    both = list_tokens(client, manager_a, person_id=person.pk, status="active").json()

    assert [t["uid"] for t in by_person] == ["P-ACTIVE", "P-BLOCKED"]
    assert [t["uid"] for t in blocked] == ["P-BLOCKED"]
    assert [t["uid"] for t in both] == ["P-ACTIVE"]


def test_id_token_list_by_another_organizations_person_is_empty(client, manager_a, org_b):
    stranger = factories.PersonFactory(organization=org_b)
    factories.IdTokenFactory(organization=org_b, person=stranger)

    response = list_tokens(client, manager_a, person_id=stranger.pk)

    assert response.status_code == 200
    assert response.json() == []


def test_id_token_list_rejects_an_unknown_status(client, manager_a):
    response = list_tokens(client, manager_a, status="lost")

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "status"


def test_id_token_list_is_ordered_and_paged(client, manager_a, org_a):
    for uid in ("C3", "A1", "B2", "D4"):
        factories.IdTokenFactory(organization=org_a, uid=uid)

    everything = list_tokens(client, manager_a).json()
    page = list_tokens(client, manager_a, limit=2, offset=1).json()

    assert [t["uid"] for t in everything] == ["A1", "B2", "C3", "D4"]
    assert [t["uid"] for t in page] == ["B2", "C3"]


# --- writes ---------------------------------------------------------------------


def test_id_token_issue_without_a_person(client, manager_a, org_a):
    response = issue(client, manager_a, uid="04AABBCC")

    assert response.status_code == 201
    body = response.json()
    assert body["uid"] == "04AABBCC"
    assert body["person"] is None
    assert body["status"] == "active"
    assert body["kind"] == "rfid"
    assert body["organization"] == {"id": org_a.pk, "name": "Org A"}
    token = IdToken.objects.get(uid="04AABBCC")
    assert token.organization == org_a
    assert token.person is None


def test_id_token_issue_for_a_person_with_every_field(client, manager_a, org_a):
    person = factories.PersonFactory(organization=org_a)

    response = issue(
        client,
        manager_a,
        uid="APP-7",
        person_id=person.pk,
        status="blocked",
        kind="app",
        expires_at="2027-06-30T23:59:00+02:00",
    )

    assert response.status_code == 201
    assert response.json()["person"]["id"] == person.pk
    assert response.json()["expires_at"] == "2027-06-30T21:59:00Z"
    token = IdToken.objects.get(uid="APP-7")
    assert token.person == person
    assert token.status == IdToken.Status.BLOCKED
    assert token.kind == IdToken.Kind.APP
    assert token.expires_at == datetime(2027, 6, 30, 21, 59, tzinfo=UTC)


def test_id_token_issue_for_another_organizations_person_is_no_such_person(
    client, manager_a, org_b
):
    stranger = factories.PersonFactory(organization=org_b)

    response = issue(client, manager_a, uid="SNEAK", person_id=stranger.pk)
    missing = issue(client, manager_a, uid="SNEAK", person_id=999_999)

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "person_id", "message": f"No such person: {stranger.pk}."}
    ]
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "person_id"
    assert not IdToken.objects.filter(uid="SNEAK").exists()


def test_id_token_issue_into_another_organization_is_no_such_organization(client, manager_a, org_b):
    response = issue(client, manager_a, uid="SNEAK", organization_id=org_b.pk)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "organization_id"
    assert not IdToken.objects.filter(organization=org_b).exists()


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.FLEET_MANAGER])
def test_id_token_issue_is_forbidden_without_a_managing_role(client, org_a, role):
    user = factories.MembershipFactory(organization=org_a, role=role).user
    person = factories.PersonFactory(organization=org_a)

    without_person = issue(client, user, uid="V-1")
    with_person = issue(client, user, uid="V-2", person_id=person.pk)
    with_organization = issue(client, user, uid="V-3", organization_id=org_a.pk)

    assert without_person.status_code == 403
    assert with_person.status_code == 403
    assert with_organization.status_code == 403
    assert with_organization.json()["detail"].startswith("Your role in this organization")
    assert with_person.json()["detail"].startswith("Your role in the person's organization")
    assert not IdToken.objects.exists()


def test_id_token_issue_by_a_user_without_membership_is_forbidden(client, org_a):
    response = issue(client, factories.UserFactory(), uid="X-1")

    assert response.status_code == 403
    assert "manage no organization" in response.json()["detail"]


def test_id_token_issue_by_a_manager_of_several_organizations(client, manager_a, org_a, org_b):
    factories.MembershipFactory(
        user=manager_a, organization=org_b, role=Membership.Role.PROPERTY_MANAGER
    )
    person_b = factories.PersonFactory(organization=org_b)

    ambiguous = issue(client, manager_a, uid="MULTI-1")
    chosen = issue(client, manager_a, uid="MULTI-1", organization_id=org_b.pk)
    by_person = issue(client, manager_a, uid="MULTI-2", person_id=person_b.pk)
    mismatch = issue(
        client, manager_a, uid="MULTI-3", person_id=person_b.pk, organization_id=org_a.pk
    )

    assert ambiguous.status_code == 422
    assert ambiguous.json()["errors"][0]["field"] == "organization_id"
    assert "several organizations" in ambiguous.json()["detail"]
    assert chosen.status_code == 201
    assert chosen.json()["organization"]["id"] == org_b.pk
    assert by_person.status_code == 201
    assert by_person.json()["organization"]["id"] == org_b.pk
    assert mismatch.status_code == 422
    assert mismatch.json()["errors"][0]["field"] == "organization_id"
    assert sorted(IdToken.objects.values_list("uid", "organization_id")) == [
        ("MULTI-1", org_b.pk),
        ("MULTI-2", org_b.pk),
    ]


def test_id_token_issue_manager_of_one_and_viewer_of_another(client, manager_a, org_a, org_b):
    # Only organizations the user manages count: no organization_id needed.
    factories.MembershipFactory(user=manager_a, organization=org_b, role=Membership.Role.VIEWER)

    response = issue(client, manager_a, uid="ONE-1")
    into_viewed = issue(client, manager_a, uid="ONE-2", organization_id=org_b.pk)

    assert response.status_code == 201
    assert response.json()["organization"]["id"] == org_a.pk
    assert into_viewed.status_code == 403


def test_id_token_issue_a_duplicate_uid_is_a_conflict(client, manager_a, org_a, org_b):
    factories.IdTokenFactory(organization=org_a, uid="DUP")
    factories.IdTokenFactory(organization=org_b, uid="ELSEWHERE")

    duplicate = issue(client, manager_a, uid="DUP")
    # A UID is unique per organization: another organization's card does not clash.
    same_as_b = issue(client, manager_a, uid="ELSEWHERE")

    assert duplicate.status_code == 409
    assert duplicate.json()["detail"] == "A token with UID 'DUP' already exists."
    assert same_as_b.status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"uid": ""}, "uid"),
        ({"uid": "X" * 37}, "uid"),
        ({"uid": " 04AA"}, "uid"),
        ({"status": "lost"}, "status"),
        ({"kind": "barcode"}, "kind"),
        ({"expires_at": "2027-01-01T00:00:00"}, "expires_at"),
        ({"expires_at": "next year"}, "expires_at"),
        ({"person_id": "ada"}, "person_id"),
    ],
)
def test_id_token_issue_rejects_invalid_input(client, manager_a, changes, field):
    response = issue(client, manager_a, **({"uid": "04AA"} | changes))

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert not IdToken.objects.exists()


# --- updates --------------------------------------------------------------------


def update(client, user, token, **body):
    return client.patch(
        reverse("api:id_token_update", args=[token.pk]),
        body,
        content_type="application/json",
        **bearer(user),
    )


def test_id_token_update_blocks_and_sets_expiry_leaving_the_rest(client, manager_a, org_a):
    person = factories.PersonFactory(organization=org_a)
    token = factories.IdTokenFactory(organization=org_a, uid="04C1", person=person, label="L")

    response = update(
        client, manager_a, token, status="blocked", expires_at="2027-03-01T12:00:00+01:00"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "blocked"
    assert response.json()["expires_at"] == "2027-03-01T11:00:00Z"
    token.refresh_from_db()
    assert token.status == IdToken.Status.BLOCKED
    assert token.expires_at == datetime(2027, 3, 1, 11, tzinfo=UTC)
    assert token.person == person  # not sent, not changed
    assert token.label == "L"


def test_id_token_update_puts_a_token_in_a_group_and_takes_it_out(client, manager_a, org_a):
    head = factories.IdTokenFactory(organization=org_a, uid="HOUSEHOLD")
    member = factories.IdTokenFactory(organization=org_a, uid="04C2")

    joined = update(client, manager_a, member, group_id=head.pk)
    member.refresh_from_db()
    assert joined.status_code == 200
    assert joined.json()["group_id"] == head.pk
    assert member.group == head
    assert member.group_uid == "HOUSEHOLD"

    left = update(client, manager_a, member, group_id=None)
    member.refresh_from_db()
    assert left.status_code == 200
    assert member.group is None


def test_id_token_update_makes_the_master_pass_group_once_per_organization(
    client, manager_a, org_a
):
    first = factories.IdTokenFactory(organization=org_a, uid="MASTER-1")
    second = factories.IdTokenFactory(organization=org_a, uid="MASTER-2")

    made = update(client, manager_a, first, is_master_pass_group=True)
    again = update(client, manager_a, second, is_master_pass_group=True)

    assert made.status_code == 200
    assert made.json()["is_master_pass_group"] is True
    assert again.status_code == 409
    assert "master pass group" in again.json()["detail"]
    second.refresh_from_db()
    assert second.is_master_pass_group is False


def test_id_token_update_keeps_groups_flat(client, manager_a, org_a):
    head = factories.IdTokenFactory(organization=org_a, uid="HEAD")
    member = factories.IdTokenFactory(organization=org_a, uid="MEMBER", group=head)
    other = factories.IdTokenFactory(organization=org_a, uid="OTHER")

    into_member = update(client, manager_a, other, group_id=member.pk)
    head_joins = update(client, manager_a, head, group_id=other.pk)
    itself = update(client, manager_a, other, group_id=other.pk)

    assert [r.status_code for r in (into_member, head_joins, itself)] == [422, 422, 422]
    assert into_member.json()["errors"][0]["field"] == "group"
    other.refresh_from_db()
    head.refresh_from_db()
    assert other.group is None and head.group is None


def test_id_token_update_refuses_another_organizations_rows(client, manager_a, org_a, org_b):
    theirs = factories.IdTokenFactory(organization=org_b, uid="THEIRS")
    their_head = factories.IdTokenFactory(organization=org_b, uid="THEIR-HEAD")
    their_person = factories.PersonFactory(organization=org_b)
    ours = factories.IdTokenFactory(organization=org_a, uid="OURS")

    their_token = update(client, manager_a, theirs, status="blocked")
    their_group = update(client, manager_a, ours, group_id=their_head.pk)
    their_owner = update(client, manager_a, ours, person_id=their_person.pk)

    assert their_token.status_code == 404
    assert their_group.status_code == 422
    assert their_group.json()["errors"][0]["field"] == "group_id"
    assert their_owner.status_code == 422
    assert their_owner.json()["errors"][0]["field"] == "person_id"
    theirs.refresh_from_db()
    ours.refresh_from_db()
    assert theirs.status == IdToken.Status.ACTIVE
    assert ours.group is None and ours.person is None


def test_id_token_update_is_forbidden_to_a_viewer(client, org_a):
    viewer = factories.MembershipFactory(organization=org_a, role=Membership.Role.VIEWER).user
    token = factories.IdTokenFactory(organization=org_a)

    response = update(client, viewer, token, status="blocked")

    assert response.status_code == 403
    token.refresh_from_db()
    assert token.status == IdToken.Status.ACTIVE


def test_id_token_update_rejects_an_unknown_status(client, manager_a, org_a):
    token = factories.IdTokenFactory(organization=org_a)

    response = update(client, manager_a, token, status="lost")

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "status"
