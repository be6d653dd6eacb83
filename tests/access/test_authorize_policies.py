"""id_token_authorize over several policies: open ones are looked at first, so the
lists of groups and fleets are read only when the decision depends on them; the
decision is the same whatever the order (accepted when a policy admits the token
and is open, not at this time when only closed ones admit it, not at this
location when none does). And what a decision costs in queries: it runs for every
StartTransaction and Authorize."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from apps.access.models import AccessPolicy
from apps.access.services import Decision, id_token_authorize
from tests import factories

pytestmark = pytest.mark.django_db

CHICAGO = ZoneInfo("America/Chicago")
WEDNESDAY_10AM = dt.datetime(2026, 11, 25, 10, 0, tzinfo=CHICAGO)
WEEKEND = {"weekdays": "67"}


@pytest.fixture
def zone():
    return factories.ZoneFactory(property__time_zone="America/Chicago")


def _person_token(zone):
    person = factories.PersonFactory(
        organization=zone.property.organization, property=zone.property
    )
    return factories.IdTokenFactory(organization=person.organization, person=person)


def _decide(zone, token):
    return id_token_authorize(zone=zone, uid=token.uid, at=WEDNESDAY_10AM).decision


def test_authorize_public_zone_in_two_queries(zone, django_assert_num_queries):
    factories.AccessPolicyFactory(zone=zone)
    token = factories.IdTokenFactory(organization=zone.property.organization)
    # The token (with its person, vehicle, group and whether it heads one) and
    # the zone's policies: no prefetch of groups and fleets nobody needs.
    with django_assert_num_queries(2):
        assert _decide(zone, token) == Decision.ACCEPTED


def test_authorize_open_group_policy_decides_before_a_closed_public_one(zone):
    factories.AccessPolicyFactory(zone=zone, **WEEKEND)  # public, closed now
    group = factories.AccessGroupFactory(organization=zone.property.organization)
    groups = factories.AccessPolicyFactory(zone=zone, admits=AccessPolicy.Admits.GROUPS)
    groups.groups.add(group)
    member, outsider = _person_token(zone), _person_token(zone)
    group.members.add(member.person)
    assert _decide(zone, member) == Decision.ACCEPTED
    # Admitted only by the closed public policy.
    assert _decide(zone, outsider) == Decision.NOT_AT_THIS_TIME


def test_authorize_closed_group_policy_is_read_only_when_nothing_open_admits(
    zone, django_assert_num_queries
):
    factories.AccessPolicyFactory(zone=zone)  # public, open
    group = factories.AccessGroupFactory(organization=zone.property.organization)
    groups = factories.AccessPolicyFactory(zone=zone, admits=AccessPolicy.Admits.GROUPS, **WEEKEND)
    groups.groups.add(group)
    token = _person_token(zone)
    with django_assert_num_queries(2):
        assert _decide(zone, token) == Decision.ACCEPTED
    zone.access_policies.filter(admits=AccessPolicy.Admits.PUBLIC).delete()
    # Now only the closed group policy is left: its groups are read.
    assert _decide(zone, token) == Decision.NOT_AT_THIS_LOCATION
    group.members.add(token.person)
    assert _decide(zone, token) == Decision.NOT_AT_THIS_TIME


def test_authorize_fleet_policies_open_and_closed(zone):
    org = zone.property.organization
    vans, trucks = (
        factories.FleetFactory(organization=org),
        factories.FleetFactory(organization=org),
    )
    open_vans = factories.AccessPolicyFactory(zone=zone, admits=AccessPolicy.Admits.FLEET_VEHICLES)
    open_vans.fleets.add(vans)
    closed_any = factories.AccessPolicyFactory(
        zone=zone, admits=AccessPolicy.Admits.FLEET_VEHICLES, **WEEKEND
    )
    van = factories.VehicleFactory(organization=org, fleet=vans)
    truck = factories.VehicleFactory(organization=org, fleet=trucks)
    loose = factories.VehicleFactory(organization=org)
    van_token = factories.IdTokenFactory(organization=org, vehicle=van)
    truck_token = factories.IdTokenFactory(organization=org, vehicle=truck)
    loose_token = factories.IdTokenFactory(organization=org, vehicle=loose)
    assert _decide(zone, van_token) == Decision.ACCEPTED
    # Any fleet at the weekend (no fleet listed), only vans now.
    assert _decide(zone, truck_token) == Decision.NOT_AT_THIS_TIME
    assert _decide(zone, loose_token) == Decision.NOT_AT_THIS_LOCATION
    closed_any.fleets.add(vans)
    assert _decide(zone, truck_token) == Decision.NOT_AT_THIS_LOCATION


def test_authorize_inactive_policies_and_no_policies(zone):
    token = factories.IdTokenFactory(organization=zone.property.organization)
    assert _decide(zone, token) == Decision.NOT_AT_THIS_LOCATION
    factories.AccessPolicyFactory(zone=zone, is_active=False)
    assert _decide(zone, token) == Decision.NOT_AT_THIS_LOCATION
