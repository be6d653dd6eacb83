"""GET/POST /api/v1/chargers and GET /api/v1/chargers/{charge_point_id}."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from apps.chargers import credentials
from apps.chargers.models import Charger, Connector
from apps.sites.models import Membership
from apps.sites.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-station-pass-0042"  # 24 characters


def bearer(user) -> dict[str, str]:
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def register(client, user, **body):
    return client.post(
        reverse("api:charger_register"), body, content_type="application/json", **bearer(user)
    )


@pytest.fixture
def zone_a(org_a):
    return factories.ZoneFactory(
        property__organization=org_a, property__name="Elm Court", name="Garage"
    )


@pytest.fixture
def zone_b(org_b):
    return factories.ZoneFactory(property__organization=org_b)


# --- reads ------------------------------------------------------------------------


def test_charger_get_returns_the_documented_fields(client, manager_a, zone_a):
    charger = factories.ChargerFactory(
        zone=zone_a,
        charge_point_id="ELM-01",
        name="Bay 1",
        vendor="ABB",
        model="Terra AC",
        serial_number="SN123",
        firmware_version="1.8.3",
        ocpp_version=Charger.OcppVersion.V201,
        max_power_w=7_400,
        last_seen_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        password_hash=credentials.hash_password(PASSWORD),
    )
    factories.ConnectorFactory(
        charger=charger, connector_id=2, status=Connector.Status.FAULTED, error_code="GroundFailure"
    )
    factories.ConnectorFactory(charger=charger, connector_id=1, status=Connector.Status.CHARGING)

    response = client.get(
        reverse("api:charger_get", kwargs={"charge_point_id": "ELM-01"}), **bearer(manager_a)
    )

    assert response.status_code == 200
    assert response.json() == {
        "charge_point_id": "ELM-01",
        "name": "Bay 1",
        "zone": {"id": zone_a.pk, "name": "Garage"},
        "property": {"id": zone_a.property.pk, "name": "Elm Court"},
        "vendor": "ABB",
        "model": "Terra AC",
        "serial_number": "SN123",
        "firmware_version": "1.8.3",
        "ocpp_version": "2.0.1",
        "max_power_kw": 7.4,
        "registration": "accepted",
        "online": False,
        "last_heartbeat": "2026-11-01T12:00:00Z",
        "last_seen_at": "2026-11-01T12:00:00Z",
        "has_password": True,
        "connectors": [
            {"connector_id": 1, "status": "charging", "error_code": "", "current_session": None},
            {
                "connector_id": 2,
                "status": "faulted",
                "error_code": "GroundFailure",
                "current_session": None,
            },
        ],
    }
    assert charger.password_hash not in response.content.decode()


def test_charger_get_before_the_first_connection(client, manager_a, zone_a):
    factories.ChargerFactory(zone=zone_a, charge_point_id="NEW-1", ocpp_version="")

    body = client.get(
        reverse("api:charger_get", kwargs={"charge_point_id": "NEW-1"}), **bearer(manager_a)
    ).json()

    assert body["ocpp_version"] is None
    assert body["has_password"] is False
    assert body["connectors"] == []


@pytest.mark.parametrize("charge_point_id", ["CP 01", "CP#7", "Säule-3", "a+b", "50%", "x?y=1"])
def test_charger_get_with_characters_that_need_url_encoding(
    client, manager_a, zone_a, charge_point_id
):
    # Chargers that connected under such identities before the stricter validator
    # existed (or were onboarded by another path) must still be reachable.
    factories.ChargerFactory(zone=zone_a, charge_point_id=charge_point_id)
    url = reverse("api:charger_get", kwargs={"charge_point_id": charge_point_id})

    response = client.get(url, **bearer(manager_a))

    assert response.status_code == 200, url
    assert response.json()["charge_point_id"] == charge_point_id


def test_charger_get_with_a_literal_percent_20_in_the_url(client, manager_a, zone_a):
    factories.ChargerFactory(zone=zone_a, charge_point_id="CP 01")

    response = client.get("/api/v1/chargers/CP%2001", **bearer(manager_a))

    assert response.status_code == 200
    assert response.json()["charge_point_id"] == "CP 01"


def test_charger_get_of_another_organization_is_not_found(client, manager_a, zone_b):
    factories.ChargerFactory(zone=zone_b, charge_point_id="B-1")

    response = client.get(
        reverse("api:charger_get", kwargs={"charge_point_id": "B-1"}), **bearer(manager_a)
    )
    missing = client.get(
        reverse("api:charger_get", kwargs={"charge_point_id": "NOPE"}), **bearer(manager_a)
    )

    assert response.status_code == 404
    assert missing.status_code == 404
    # The answer for someone else's charger reads exactly like a missing one.
    assert response.json()["detail"] == "No charger with charge point id 'B-1'."
    assert missing.json()["detail"] == "No charger with charge point id 'NOPE'."


def test_charger_list_returns_visible_chargers_by_charge_point_id(
    client, manager_a, zone_a, zone_b
):
    factories.ChargerFactory(zone=zone_a, charge_point_id="A-2")
    factories.ChargerFactory(zone=zone_a, charge_point_id="A-1")
    factories.ChargerFactory(zone=zone_b, charge_point_id="B-1")

    response = client.get(reverse("api:charger_list"), **bearer(manager_a))

    assert response.status_code == 200
    assert [c["charge_point_id"] for c in response.json()] == ["A-1", "A-2"]
    assert response.json()[0]["zone"] == {"id": zone_a.pk, "name": "Garage"}


def test_charger_list_filters_by_zone_and_property(client, manager_a, org_a, zone_a):
    other_zone = factories.ZoneFactory(property=zone_a.property, name="Visitors")
    other_property_zone = factories.ZoneFactory(property__organization=org_a)
    factories.ChargerFactory(zone=zone_a, charge_point_id="GARAGE-1")
    factories.ChargerFactory(zone=other_zone, charge_point_id="VISITOR-1")
    factories.ChargerFactory(zone=other_property_zone, charge_point_id="ELSEWHERE-1")
    url = reverse("api:charger_list")
    headers = bearer(manager_a)

    by_zone = client.get(url, {"zone_id": other_zone.pk}, **headers).json()
    by_property = client.get(url, {"property_id": zone_a.property.pk}, **headers).json()

    assert [c["charge_point_id"] for c in by_zone] == ["VISITOR-1"]
    assert [c["charge_point_id"] for c in by_property] == ["GARAGE-1", "VISITOR-1"]


def test_charger_list_filter_by_another_organizations_zone_is_empty(client, manager_a, zone_b):
    factories.ChargerFactory(zone=zone_b)

    response = client.get(reverse("api:charger_list"), {"zone_id": zone_b.pk}, **bearer(manager_a))

    assert response.status_code == 200
    assert response.json() == []


def test_charger_list_pages(client, manager_a, zone_a):
    for n in range(5):
        factories.ChargerFactory(zone=zone_a, charge_point_id=f"CP-{n}")

    response = client.get(
        reverse("api:charger_list"), {"limit": 2, "offset": 3}, **bearer(manager_a)
    )

    assert [c["charge_point_id"] for c in response.json()] == ["CP-3", "CP-4"]


def test_charger_list_queries_do_not_grow_with_rows(
    client, manager_a, zone_a, django_assert_max_num_queries
):
    for n in range(10):
        factories.ConnectorFactory(charger__zone=zone_a, charger__charge_point_id=f"CP-{n}")
    headers = bearer(manager_a)

    # token lookup, memberships, chargers (with zone and property), connectors
    with django_assert_max_num_queries(5):
        response = client.get(reverse("api:charger_list"), **headers)

    assert len(response.json()) == 10


# --- writes ---------------------------------------------------------------------


def test_charger_register_creates_the_charger(client, manager_a, zone_a):
    response = register(
        client,
        manager_a,
        charge_point_id="ELM-07",
        zone_id=zone_a.pk,
        name="Bay 7",
        max_power_kw=7.4,
        password=PASSWORD,
    )

    assert response.status_code == 201
    body = response.json()
    assert body["charge_point_id"] == "ELM-07"
    assert body["name"] == "Bay 7"
    assert body["zone"] == {"id": zone_a.pk, "name": "Garage"}
    assert body["property"] == {"id": zone_a.property.pk, "name": "Elm Court"}
    assert body["max_power_kw"] == 7.4
    assert body["has_password"] is True
    assert body["registration"] == "accepted"
    assert body["connectors"] == []
    assert "password" not in body
    assert PASSWORD not in response.content.decode()
    charger = Charger.objects.get(charge_point_id="ELM-07")
    assert charger.zone == zone_a
    assert charger.max_power_w == 7_400
    assert charger.password_hash not in response.content.decode()
    assert credentials.check_password(PASSWORD, charger.password_hash)


def test_charger_register_without_password(client, manager_a, zone_a):
    response = register(
        client, manager_a, charge_point_id="OPEN-1", zone_id=zone_a.pk, max_power_kw=22
    )

    assert response.status_code == 201
    assert response.json()["has_password"] is False
    assert response.json()["max_power_kw"] == 22.0
    assert Charger.objects.get(charge_point_id="OPEN-1").password_hash == ""


def test_charger_register_by_the_organizations_owner_and_by_a_superuser(
    client, org_a, zone_a, superuser
):
    owner = factories.MembershipFactory(organization=org_a, role=Membership.Role.OWNER).user

    by_owner = register(client, owner, charge_point_id="O-1", zone_id=zone_a.pk, max_power_kw=11)
    by_root = register(client, superuser, charge_point_id="R-1", zone_id=zone_a.pk, max_power_kw=11)

    assert by_owner.status_code == 201
    assert by_root.status_code == 201


def test_charger_register_into_another_organizations_zone_is_no_such_zone(
    client, manager_a, zone_b
):
    into_b = register(
        client, manager_a, charge_point_id="SNEAK-1", zone_id=zone_b.pk, max_power_kw=11
    )
    nowhere = register(
        client, manager_a, charge_point_id="SNEAK-2", zone_id=999_999, max_power_kw=11
    )

    assert into_b.status_code == 422
    assert into_b.json()["errors"] == [
        {"field": "zone_id", "message": f"No such zone: {zone_b.pk}."}
    ]
    assert nowhere.status_code == 422
    assert nowhere.json()["errors"] == [{"field": "zone_id", "message": "No such zone: 999999."}]
    assert not Charger.objects.filter(charge_point_id__startswith="SNEAK").exists()


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.FLEET_MANAGER])
def test_charger_register_is_forbidden_without_a_managing_role(client, org_a, zone_a, role):
    user = factories.MembershipFactory(organization=org_a, role=role).user

    response = register(client, user, charge_point_id="V-1", zone_id=zone_a.pk, max_power_kw=11)

    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Your role in the zone's organization does not allow changes: "
        "it takes owner or property manager."
    )
    assert not Charger.objects.filter(charge_point_id="V-1").exists()


def test_charger_register_a_duplicate_charge_point_id_is_a_conflict(client, manager_a, zone_a):
    factories.ChargerFactory(zone=zone_a, charge_point_id="DUP-1")

    response = register(
        client, manager_a, charge_point_id="DUP-1", zone_id=zone_a.pk, max_power_kw=11
    )

    assert response.status_code == 409
    assert response.json()["detail"] == "A charger with charge point id 'DUP-1' already exists."
    assert Charger.objects.filter(charge_point_id="DUP-1").count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"charge_point_id": "CP:1"}, "charge_point_id", "without spaces, ':' or '/'"),
        ({"charge_point_id": "CP 1"}, "charge_point_id", "without spaces, ':' or '/'"),
        ({"charge_point_id": "C" * 49}, "charge_point_id", "at most 48 characters"),
        ({"charge_point_id": ""}, "charge_point_id", "at least 1 character"),
        ({"password": "too-short"}, "password", "16 to 40 characters"),
        ({"password": "p" * 41}, "password", "16 to 40 characters"),
        ({"max_power_kw": -11}, "max_power_kw", "greater than or equal to 0.001"),
        ({"max_power_kw": 0}, "max_power_kw", "greater than or equal to 0.001"),
        ({"max_power_kw": 11_000_000}, "max_power_kw", "less than or equal to 10000"),
        ({"max_power_kw": "lots"}, "max_power_kw", "valid number"),
        ({"zone_id": "garage"}, "zone_id", "valid integer"),
        ({"name": "n" * 101}, "name", "at most 100 characters"),
    ],
)
def test_charger_register_rejects_invalid_input(client, manager_a, zone_a, changes, field, message):
    body = {"charge_point_id": "GOOD-1", "zone_id": zone_a.pk, "max_power_kw": 11} | changes

    response = register(client, manager_a, **body)

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == [field]
    assert message in errors[0]["message"]
    assert message in response.json()["detail"]
    assert not Charger.objects.exists()


def test_charger_register_reports_every_missing_field(client, manager_a):
    response = register(client, manager_a)

    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"charge_point_id", "zone_id", "max_power_kw"}
