"""id_token_authorize: the one place that decides who may charge where."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from apps.access.models import AccessPolicy, IdToken, Person
from apps.access.services import (
    Decision,
    id_token_authorize,
    id_token_authorize_stop,
    id_token_create,
    master_pass_group_id,
)
from tests import factories

pytestmark = pytest.mark.django_db

CHICAGO = ZoneInfo("America/Chicago")
# A Wednesday, 10:00 in Chicago.
WEDNESDAY_10AM = dt.datetime(2026, 11, 25, 10, 0, tzinfo=CHICAGO)


@pytest.fixture
def garage():
    zone = factories.ZoneFactory(property__time_zone="America/Chicago")
    factories.AccessPolicyFactory(zone=zone, admits=AccessPolicy.Admits.RESIDENTS)
    return zone


def resident_token(zone, **kwargs):
    person = factories.PersonFactory(
        organization=zone.property.organization, property=zone.property, **kwargs
    )
    return factories.IdTokenFactory(organization=person.organization, person=person)


def test_authorize_accepts_resident_in_residents_garage(garage):
    token = resident_token(garage)
    result = id_token_authorize(zone=garage, uid=token.uid, at=WEDNESDAY_10AM)
    assert result.decision is Decision.ACCEPTED
    assert result.accepted
    assert result.id_token == token


def test_authorize_unknown_token_is_invalid(garage):
    result = id_token_authorize(zone=garage, uid="NOPE", at=WEDNESDAY_10AM)
    assert result.decision is Decision.INVALID
    assert result.id_token is None


def test_authorize_token_of_another_organization_is_invalid(garage):
    stranger = factories.IdTokenFactory()  # a different organization
    result = id_token_authorize(zone=garage, uid=stranger.uid, at=WEDNESDAY_10AM)
    assert result.decision is Decision.INVALID


def test_authorize_blocked_token(garage):
    token = resident_token(garage)
    token.status = IdToken.Status.BLOCKED
    token.save()
    assert id_token_authorize(zone=garage, uid=token.uid, at=WEDNESDAY_10AM).decision == (
        Decision.BLOCKED
    )


def test_authorize_inactive_person_is_blocked(garage):
    token = resident_token(garage, is_active=False)
    assert id_token_authorize(zone=garage, uid=token.uid, at=WEDNESDAY_10AM).decision == (
        Decision.BLOCKED
    )


def test_authorize_expired_token(garage):
    token = resident_token(garage)
    token.expires_at = WEDNESDAY_10AM - dt.timedelta(seconds=1)
    token.save()
    result = id_token_authorize(zone=garage, uid=token.uid, at=WEDNESDAY_10AM)
    assert result.decision is Decision.EXPIRED
    assert result.expires_at == token.expires_at


def test_authorize_resident_of_another_property_not_at_this_location(garage):
    other_building = factories.PropertyFactory(organization=garage.property.organization)
    person = factories.PersonFactory(
        organization=garage.property.organization, property=other_building
    )
    token = factories.IdTokenFactory(organization=person.organization, person=person)
    result = id_token_authorize(zone=garage, uid=token.uid, at=WEDNESDAY_10AM)
    assert result.decision is Decision.NOT_AT_THIS_LOCATION


def test_authorize_zone_without_policy_admits_nobody():
    zone = factories.ZoneFactory()
    token = factories.IdTokenFactory(organization=zone.property.organization)
    result = id_token_authorize(zone=zone, uid=token.uid, at=WEDNESDAY_10AM)
    assert result.decision is Decision.NOT_AT_THIS_LOCATION


def test_authorize_inactive_policy_is_ignored(garage):
    garage.access_policies.update(is_active=False)
    token = resident_token(garage)
    result = id_token_authorize(zone=garage, uid=token.uid, at=WEDNESDAY_10AM)
    assert result.decision is Decision.NOT_AT_THIS_LOCATION


def test_authorize_public_zone_admits_token_without_person():
    zone = factories.ZoneFactory()
    factories.AccessPolicyFactory(zone=zone, admits=AccessPolicy.Admits.PUBLIC)
    token = factories.IdTokenFactory(organization=zone.property.organization)
    assert id_token_authorize(zone=zone, uid=token.uid, at=WEDNESDAY_10AM).accepted


def test_authorize_employees_policy_rejects_residents():
    zone = factories.ZoneFactory()
    factories.AccessPolicyFactory(zone=zone, admits=AccessPolicy.Admits.EMPLOYEES)
    resident = resident_token(zone, kind=Person.Kind.RESIDENT)
    employee = resident_token(zone, kind=Person.Kind.EMPLOYEE)
    assert not id_token_authorize(zone=zone, uid=resident.uid, at=WEDNESDAY_10AM).accepted
    assert id_token_authorize(zone=zone, uid=employee.uid, at=WEDNESDAY_10AM).accepted


def test_authorize_group_policy_admits_members_only():
    zone = factories.ZoneFactory()
    org = zone.property.organization
    group = factories.AccessGroupFactory(organization=org)
    policy = factories.AccessPolicyFactory(zone=zone, admits=AccessPolicy.Admits.GROUPS)
    policy.groups.add(group)
    member = resident_token(zone)
    group.members.add(member.person)
    outsider = resident_token(zone)
    assert id_token_authorize(zone=zone, uid=member.uid, at=WEDNESDAY_10AM).accepted
    assert not id_token_authorize(zone=zone, uid=outsider.uid, at=WEDNESDAY_10AM).accepted


def test_authorize_fleet_policy_admits_listed_fleets_vehicles():
    zone = factories.ZoneFactory(kind="fleet_depot")
    org = zone.property.organization
    vans = factories.FleetFactory(organization=org)
    trucks = factories.FleetFactory(organization=org)
    policy = factories.AccessPolicyFactory(zone=zone, admits=AccessPolicy.Admits.FLEET_VEHICLES)
    policy.fleets.add(vans)
    van = factories.VehicleFactory(organization=org, fleet=vans)
    truck = factories.VehicleFactory(organization=org, fleet=trucks)
    van_token = factories.IdTokenFactory(organization=org, vehicle=van, kind="vehicle_mac")
    truck_token = factories.IdTokenFactory(organization=org, vehicle=truck, kind="vehicle_mac")
    assert id_token_authorize(zone=zone, uid=van_token.uid, at=WEDNESDAY_10AM).accepted
    assert not id_token_authorize(zone=zone, uid=truck_token.uid, at=WEDNESDAY_10AM).accepted
    policy.fleets.clear()  # no fleet listed: any fleet of the organization
    assert id_token_authorize(zone=zone, uid=truck_token.uid, at=WEDNESDAY_10AM).accepted


@pytest.mark.parametrize(
    ("weekdays", "start", "end", "at", "expected"),
    [
        ("12345", dt.time(7), dt.time(19), WEDNESDAY_10AM, Decision.ACCEPTED),
        ("67", None, None, WEDNESDAY_10AM, Decision.NOT_AT_THIS_TIME),
        ("", dt.time(11), dt.time(19), WEDNESDAY_10AM, Decision.NOT_AT_THIS_TIME),
        # A night window wraps past midnight, in the property's time zone.
        (
            "",
            dt.time(22),
            dt.time(6),
            dt.datetime(2026, 11, 25, 23, 30, tzinfo=CHICAGO),
            Decision.ACCEPTED,
        ),
        (
            "",
            dt.time(22),
            dt.time(6),
            dt.datetime(2026, 11, 26, 5, 59, tzinfo=CHICAGO),
            Decision.ACCEPTED,
        ),
        (
            "",
            dt.time(22),
            dt.time(6),
            dt.datetime(2026, 11, 26, 6, 0, tzinfo=CHICAGO),
            Decision.NOT_AT_THIS_TIME,
        ),
        # 16:30 UTC is 10:30 in Chicago: inside a 10:00-11:00 local window.
        (
            "",
            dt.time(10),
            dt.time(11),
            dt.datetime(2026, 11, 25, 16, 30, tzinfo=dt.UTC),
            Decision.ACCEPTED,
        ),
    ],
)
def test_authorize_time_windows(garage, weekdays, start, end, at, expected):
    garage.access_policies.update(weekdays=weekdays, start_time=start, end_time=end)
    token = resident_token(garage)
    assert id_token_authorize(zone=garage, uid=token.uid, at=at).decision == expected


def test_authorize_any_admitting_policy_in_window_wins(garage):
    garage.access_policies.update(start_time=dt.time(0), end_time=dt.time(1))
    factories.AccessPolicyFactory(zone=garage, admits=AccessPolicy.Admits.PUBLIC)
    token = resident_token(garage)
    assert id_token_authorize(zone=garage, uid=token.uid, at=WEDNESDAY_10AM).accepted


# --- token groups (OCPP 1.6 parentIdTag, 2.0.1 groupIdToken) and master pass ---


def household(zone):
    """A head card and a member card of one household, both residents."""
    head = resident_token(zone)
    member = resident_token(zone)
    member.group = head
    member.save()
    return head, member


def test_authorize_reports_the_group_of_a_member_and_of_its_head(garage):
    head, member = household(garage)
    loner = resident_token(garage)
    assert id_token_authorize(zone=garage, uid=member.uid, at=WEDNESDAY_10AM).group_uid == (
        head.uid
    )
    # The head matches its members: its own UID is its group id.
    assert id_token_authorize(zone=garage, uid=head.uid, at=WEDNESDAY_10AM).group_uid == head.uid
    assert id_token_authorize(zone=garage, uid=loner.uid, at=WEDNESDAY_10AM).group_uid == ""


def test_authorize_reports_the_group_with_a_refusal_too(garage):
    head, member = household(garage)
    member.status = IdToken.Status.BLOCKED
    member.save()
    result = id_token_authorize(zone=garage, uid=member.uid, at=WEDNESDAY_10AM)
    assert (result.decision, result.group_uid) == (Decision.BLOCKED, head.uid)


def test_group_must_be_a_token_of_the_same_organization(garage):
    stranger = factories.IdTokenFactory()
    token = resident_token(garage)
    token.group = stranger
    with pytest.raises(ValidationError) as excinfo:
        token.full_clean()
    assert "group" in excinfo.value.message_dict
    with pytest.raises(ValueError, match="another organization"):
        id_token_create(organization=token.organization, uid="NEWCARD", group=stranger)


def test_groups_are_flat(garage):
    head, member = household(garage)
    nested = resident_token(garage)
    nested.group = member
    with pytest.raises(ValidationError):
        nested.full_clean()
    head.group = resident_token(garage)  # a head joining another group
    with pytest.raises(ValidationError):
        head.full_clean()
    with pytest.raises(ValidationError):
        id_token_create(organization=head.organization, uid="NEWCARD", group=member)
    head.refresh_from_db()
    created = id_token_create(organization=head.organization, uid="NEWCARD", group=head)
    assert created.group == head


def test_a_tag_of_the_same_group_may_stop_where_it_may_not_charge(garage):
    head, member = household(garage)
    # A relative's card of the household, not a resident here: it may not charge...
    relative = factories.IdTokenFactory(organization=head.organization, group=head)
    assert id_token_authorize(zone=garage, uid=relative.uid, at=WEDNESDAY_10AM).decision is (
        Decision.NOT_AT_THIS_LOCATION
    )
    # ...but may end the session its household's card started.
    result = id_token_authorize_stop(
        zone=garage, uid=relative.uid, at=WEDNESDAY_10AM, started_by=member
    )
    assert (result.decision, result.group_uid) == (Decision.ACCEPTED, head.uid)
    # A tag of no group, or of another group, is decided as for charging.
    outsider = factories.IdTokenFactory(organization=head.organization)
    other_head = factories.IdTokenFactory(organization=head.organization)
    other = factories.IdTokenFactory(organization=head.organization, group=other_head)
    for uid in (outsider.uid, other.uid):
        stop = id_token_authorize_stop(zone=garage, uid=uid, at=WEDNESDAY_10AM, started_by=member)
        assert stop.decision is Decision.NOT_AT_THIS_LOCATION


def test_a_blocked_tag_of_the_same_group_stays_blocked_on_stop(garage):
    head, member = household(garage)
    head.status = IdToken.Status.BLOCKED
    head.save()
    result = id_token_authorize_stop(
        zone=garage, uid=head.uid, at=WEDNESDAY_10AM, started_by=member
    )
    assert result.decision is Decision.BLOCKED


def test_the_master_pass_group_may_stop_any_session(garage):
    org = garage.property.organization
    assert master_pass_group_id(org) is None
    master = factories.IdTokenFactory(
        organization=org, uid="MASTERGROUP", is_master_pass_group=True
    )
    guard = factories.IdTokenFactory(organization=org, group=master)
    starter = resident_token(garage)
    assert master_pass_group_id(org) == "MASTERGROUP"
    # Authorize tells the station the guard's group: the MasterPassGroupId.
    assert id_token_authorize(zone=garage, uid=guard.uid, at=WEDNESDAY_10AM).group_uid == (
        "MASTERGROUP"
    )
    result = id_token_authorize_stop(
        zone=garage, uid=guard.uid, at=WEDNESDAY_10AM, started_by=starter
    )
    assert (result.decision, result.group_uid) == (Decision.ACCEPTED, "MASTERGROUP")
    # Not a resident: no charging card here, unless the station knows master passes.
    assert id_token_authorize(zone=garage, uid=guard.uid, at=WEDNESDAY_10AM).decision is (
        Decision.NOT_AT_THIS_LOCATION
    )
    assert id_token_authorize(
        zone=garage, uid=guard.uid, at=WEDNESDAY_10AM, master_pass=True
    ).accepted
    # A blocked master pass stays blocked.
    guard.status = IdToken.Status.BLOCKED
    guard.save()
    assert (
        id_token_authorize(zone=garage, uid=guard.uid, at=WEDNESDAY_10AM, master_pass=True).decision
        is Decision.BLOCKED
    )


def test_one_master_pass_group_per_organization(garage):
    org = garage.property.organization
    factories.IdTokenFactory(organization=org, is_master_pass_group=True)
    factories.IdTokenFactory(is_master_pass_group=True)  # another organization: fine
    with pytest.raises(IntegrityError):
        factories.IdTokenFactory(organization=org, is_master_pass_group=True)
