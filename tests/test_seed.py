"""seed_demo: the world `make run` shows a newcomer, and the logins it prints."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from apps.access.models import AccessPolicy, Fleet, IdToken, Person, Vehicle
from apps.access.services import Decision, id_token_authorize
from apps.chargers.models import Charger
from apps.sites.models import Membership, Organization, Zone
from tests.test_settings import manage, production_env

pytestmark = pytest.mark.django_db

SEEDED_APPS = ("sites", "access", "chargers", "auth")


def seed(**options: Any) -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every seeded table, many-to-many link tables included."""
    rows = {}
    for label in SEEDED_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            rows[model._meta.label] = list(model._default_manager.order_by("pk").values())
    return rows


def printed_login(output: str, role: str) -> tuple[str, str]:
    match = re.search(rf"{role}:\s+(\S+) / (\S+)", output)
    assert match, f"no {role} login in:\n{output}"
    return match.group(1), match.group(2)


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


def test_seed_demo_second_run_creates_and_changes_nothing(debug):
    first = seed()
    before = snapshot()
    second = seed()

    assert "Demo data created" in first
    assert "nothing to do" in second
    assert snapshot() == before
    assert sum(len(rows) for rows in before.values()) > 200


def test_seed_demo_creates_three_operators_with_their_zones(debug):
    seed()

    kinds = dict(Organization.objects.values_list("slug", "kind"))
    assert kinds == {
        "elm-court-living": Organization.Kind.PROPERTY_COMPANY,
        "riverside-motors": Organization.Kind.DEALERSHIP,
        "swift-parcel": Organization.Kind.FLEET_OPERATOR,
    }
    policies = {
        (z.property.organization.slug, z.kind, p.admits)
        for z in Zone.objects.select_related("property__organization")
        for p in z.access_policies.all()
    }
    Admits = AccessPolicy.Admits
    assert policies == {
        ("elm-court-living", Zone.Kind.RESIDENTS, Admits.RESIDENTS),
        ("elm-court-living", Zone.Kind.VISITORS, Admits.PUBLIC),
        ("elm-court-living", Zone.Kind.EMPLOYEES, Admits.EMPLOYEES),
        ("riverside-motors", Zone.Kind.CUSTOMERS, Admits.GROUPS),
        ("riverside-motors", Zone.Kind.EMPLOYEES, Admits.EMPLOYEES),
        ("riverside-motors", Zone.Kind.PUBLIC, Admits.PUBLIC),
        ("swift-parcel", Zone.Kind.FLEET_DEPOT, Admits.FLEET_VEHICLES),
        ("swift-parcel", Zone.Kind.FLEET_DEPOT, Admits.GROUPS),
    }
    for prop in apps.get_model("sites", "Property").objects.all():
        assert prop.address and prop.time_zone != "UTC" and prop.grid_limit_w
        assert prop.circuits.filter(parent__isnull=True).count() == 1
        assert prop.circuits.filter(parent__isnull=False).exists()


def test_seed_demo_puts_passwordless_chargers_in_every_zone(debug):
    seed()

    assert Charger.objects.filter(charge_point_id="ELM-GARAGE-01").exists()
    for zone in Zone.objects.all():
        assert zone.chargers.exists(), zone
    for charger in Charger.objects.prefetch_related("connectors"):
        ids = sorted(c.connector_id for c in charger.connectors.all())
        assert ids in ([1], [1, 2]), charger
        # Profile 0 so that a simulator on localhost connects without credentials.
        assert not charger.has_password
        assert charger.circuit is not None
        assert charger.circuit.property_id == charger.zone.property_id


def test_seed_demo_fleet_has_twenty_vans_that_may_charge_at_the_depot(debug):
    seed()

    fleet = Fleet.objects.get(organization__slug="swift-parcel")
    vans = Vehicle.objects.filter(fleet=fleet)
    assert vans.count() == 20
    assert fleet.depot.zones.filter(kind=Zone.Kind.FLEET_DEPOT).exists()
    depot = fleet.depot.zones.get(kind=Zone.Kind.FLEET_DEPOT)
    now = timezone.now()
    for van in vans:
        assert van.battery_capacity_wh > 50_000 and van.max_ac_power_w > 0
        token = IdToken.objects.get(vehicle=van)
        assert token.kind == IdToken.Kind.VEHICLE_MAC
        assert id_token_authorize(zone=depot, uid=token.uid, at=now).accepted


def test_seed_demo_access_rules_tell_residents_staff_and_strangers_apart(debug):
    seed()
    now = timezone.now()
    garage = Zone.objects.get(name="Residents' garage")
    staff_lot = Zone.objects.get(name="Staff parking")
    resident = Person.objects.filter(kind=Person.Kind.RESIDENT, unit="101").get()
    employee = Person.objects.filter(organization=resident.organization, kind="employee").first()
    van_token = IdToken.objects.filter(kind=IdToken.Kind.VEHICLE_MAC).first()

    resident_card = resident.id_tokens.get().uid
    assert id_token_authorize(zone=garage, uid=resident_card, at=now).accepted
    assert not id_token_authorize(zone=staff_lot, uid=resident_card, at=now).accepted
    assert id_token_authorize(zone=staff_lot, uid=employee.id_tokens.get().uid, at=now).accepted
    # Another operator's token is unknown here.
    assert id_token_authorize(zone=garage, uid=van_token.uid, at=now).decision is Decision.INVALID
    assert Vehicle.objects.filter(owner_person__isnull=False).count() >= 10


def test_seed_demo_manager_belongs_to_the_apartment_company_only(debug):
    seed()

    manager = get_user_model().objects.get(username="manager")
    memberships = list(
        Membership.objects.filter(user=manager).values_list("organization__slug", "role")
    )
    assert memberships == [("elm-court-living", Membership.Role.PROPERTY_MANAGER)]
    assert manager.is_staff and not manager.is_superuser
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff


@pytest.mark.parametrize("role,username", [("property manager", "manager"), ("superuser", "admin")])
def test_seed_demo_printed_logins_open_the_admin(debug, client, role, username):
    output = seed(base_url="http://127.0.0.1:8765")
    assert "http://127.0.0.1:8765/admin/" in output
    assert "DEMO ONLY" in output
    printed_username, password = printed_login(output, role)
    assert printed_username == username

    response = client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
    )

    assert response.status_code == 302, response.content[:500]
    assert response["Location"] == reverse("admin:index")
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert index.wsgi_request.user.username == username


def test_seed_demo_keeps_a_password_the_user_changed(debug, client):
    seed()
    manager = get_user_model().objects.get(username="manager")
    manager.set_password("my-own-better-passphrase")
    manager.save()

    seed()

    assert client.login(username="manager", password="my-own-better-passphrase")


def test_seed_demo_refuses_when_debug_is_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        seed()

    assert not Organization.objects.exists()
    assert not get_user_model().objects.exists()


def test_seed_demo_force_seeds_when_debug_is_off(settings):
    settings.DEBUG = False

    output = seed(force=True)

    assert "Demo data created" in output
    assert Organization.objects.count() == 3


def test_seed_demo_manager_sees_only_elm_court_in_the_admin(debug, client):
    output = seed()
    username, password = printed_login(output, "property manager")
    assert client.login(username=username, password=password)

    chargers = client.get(reverse("admin:chargers_charger_changelist"), {"all": ""})
    vehicles = client.get(reverse("admin:access_vehicle_changelist"))

    assert chargers.status_code == 200 and vehicles.status_code == 200
    page = chargers.content.decode()
    assert "ELM-GARAGE-01" in page and "ELM-STAFF-01" in page
    assert "RIV-" not in page and "SWF-" not in page
    assert "ORE 4821" in vehicles.content.decode()  # a resident's car
    assert "SWP-" not in vehicles.content.decode()  # the fleet's vans


def test_seed_demo_refuses_under_the_production_settings():
    # The real guard, end to end: production settings force DEBUG off. Production
    # insists on PostgreSQL; this one listens nowhere, so the guard must refuse
    # before the database is touched (else the error would be a connection error).
    env = production_env(DATABASE_URL="postgres://plugboard@127.0.0.1:9/never_created")

    result = manage("seed_demo", env=env)

    assert result.returncode == 1
    assert "DEBUG is off" in result.stderr
    assert "OperationalError" not in result.stderr
