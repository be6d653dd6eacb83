"""The REST API as a whole (authentication, errors, OpenAPI) and the zones resource."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.sites.models import ApiToken, Membership
from apps.sites.services import api_token_create, api_token_revoke
from tests import factories

pytestmark = pytest.mark.django_db


def bearer(user, **token_fields) -> dict[str, str]:
    _, raw = api_token_create(user=user, name="test", **token_fields)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


# Every operation of the API: (method, url name, url kwargs, JSON body).
OPERATIONS = [
    ("get", "api:zone_list", {}, None),
    ("get", "api:charger_list", {}, None),
    ("get", "api:charger_get", {"charge_point_id": "CP-1"}, None),
    ("post", "api:charger_register", {}, {"charge_point_id": "CP-9", "zone_id": 1}),
    ("get", "api:id_token_list", {}, None),
    ("post", "api:id_token_issue", {}, {"uid": "04AABBCC"}),
]


def call(client, method, url_name, kwargs, body, headers):
    url = reverse(url_name, kwargs=kwargs)
    if method == "post":
        return client.post(url, body, content_type="application/json", **headers)
    return client.get(url, **headers)


def _revoked_token(user) -> dict[str, str]:
    token, raw = api_token_create(user=user, name="revoked")
    api_token_revoke(token=token)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _expired_token(user) -> dict[str, str]:
    return bearer(user, expires_at=timezone.now() - timedelta(seconds=1))


def _inactive_users_token(user) -> dict[str, str]:
    headers = bearer(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    return headers


BAD_CREDENTIALS = {
    "missing": (lambda user: {}, "Authentication required"),
    "basic scheme": (
        lambda user: {"HTTP_AUTHORIZATION": "Basic bWFuYWdlcl9hOnNlY3JldA=="},
        "Unsupported Authorization header",
    ),
    "empty bearer": (lambda user: {"HTTP_AUTHORIZATION": "Bearer "}, "Unsupported"),
    "unknown token": (
        lambda user: {"HTTP_AUTHORIZATION": "Bearer pb_not-a-real-token"},
        "invalid, expired or revoked",
    ),
    "not our format": (
        lambda user: {"HTTP_AUTHORIZATION": "Bearer abc"},
        "invalid, expired or revoked",
    ),
    "revoked": (_revoked_token, "invalid, expired or revoked"),
    "expired": (_expired_token, "invalid, expired or revoked"),
    "inactive user": (_inactive_users_token, "invalid, expired or revoked"),
}


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op[1] for op in OPERATIONS])
@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_api_rejects_requests_without_a_live_token(client, manager_a, operation, credentials):
    zone = factories.ZoneFactory(property__organization=manager_a.memberships.get().organization)
    factories.ChargerFactory(zone=zone, charge_point_id="CP-1")
    make_headers, message = credentials
    method, url_name, kwargs, body = operation

    response = call(client, method, url_name, kwargs, body, make_headers(manager_a))

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert message in response.json()["detail"]
    assert response.json()["errors"] is None


def test_api_rejects_a_write_without_a_token_before_touching_data(client, org_a):
    zone = factories.ZoneFactory(property__organization=org_a)

    response = client.post(
        reverse("api:charger_register"),
        {"charge_point_id": "CP-X", "zone_id": zone.pk, "max_power_kw": 11},
        content_type="application/json",
    )

    assert response.status_code == 401
    assert not zone.chargers.exists()


def test_api_token_records_its_last_use(client, manager_a):
    token, raw = api_token_create(user=manager_a, name="integration")

    response = client.get(reverse("api:zone_list"), HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_api_session_login_alone_is_not_enough(client, manager_a):
    # The admin's session cookie must not authenticate API calls: the API has no
    # CSRF protection, it relies on the bearer token.
    client.force_login(manager_a)

    response = client.get(reverse("api:zone_list"))

    assert response.status_code == 401


def test_zone_list_returns_the_users_zones_with_their_property(client, manager_a, org_a):
    garage = factories.ZoneFactory(
        property__organization=org_a, property__name="Elm Court", name="Garage"
    )

    response = client.get(reverse("api:zone_list"), **bearer(manager_a))

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": garage.pk,
            "name": "Garage",
            "kind": "residents",
            "property": {"id": garage.property.pk, "name": "Elm Court"},
        }
    ]


def test_zone_list_hides_other_organizations(client, manager_a, org_a, org_b):
    own = factories.ZoneFactory(property__organization=org_a)
    factories.ZoneFactory(property__organization=org_b)

    response = client.get(reverse("api:zone_list"), **bearer(manager_a))

    assert [zone["id"] for zone in response.json()] == [own.pk]


def test_zone_list_for_a_viewer_and_for_a_superuser(client, org_a, org_b, superuser):
    zone_a = factories.ZoneFactory(property__organization=org_a)
    zone_b = factories.ZoneFactory(property__organization=org_b)
    viewer = factories.MembershipFactory(organization=org_a, role=Membership.Role.VIEWER).user

    as_viewer = client.get(reverse("api:zone_list"), **bearer(viewer))
    as_superuser = client.get(reverse("api:zone_list"), **bearer(superuser))

    assert [zone["id"] for zone in as_viewer.json()] == [zone_a.pk]
    assert {zone["id"] for zone in as_superuser.json()} == {zone_a.pk, zone_b.pk}


def test_zone_list_for_a_user_without_membership_is_empty(client, org_a):
    factories.ZoneFactory(property__organization=org_a)
    stranger = factories.UserFactory()

    response = client.get(reverse("api:zone_list"), **bearer(stranger))

    assert response.status_code == 200
    assert response.json() == []


def test_zone_list_is_ordered_and_paged(client, manager_a, org_a):
    north = factories.PropertyFactory(organization=org_a, name="North")
    south = factories.PropertyFactory(organization=org_a, name="South")
    for prop in (south, north):
        for name in ("B", "A"):
            factories.ZoneFactory(property=prop, name=name)
    url = reverse("api:zone_list")
    headers = bearer(manager_a)

    everything = client.get(url, **headers).json()
    second_page = client.get(url, {"limit": 2, "offset": 2}, **headers).json()

    assert [(z["property"]["name"], z["name"]) for z in everything] == [
        ("North", "A"),
        ("North", "B"),
        ("South", "A"),
        ("South", "B"),
    ]
    assert second_page == everything[2:]


def test_zone_list_defaults_to_100_rows(client, manager_a, org_a):
    prop = factories.PropertyFactory(organization=org_a)
    factories.ZoneFactory.create_batch(101, property=prop)

    response = client.get(reverse("api:zone_list"), **bearer(manager_a))

    assert len(response.json()) == 100


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"offset": -1}, "offset")],
)
def test_zone_list_rejects_bad_paging(client, manager_a, params, field):
    response = client.get(reverse("api:zone_list"), params, **bearer(manager_a))

    assert response.status_code == 422
    body = response.json()
    assert [error["field"] for error in body["errors"]] == [field]
    assert field in body["detail"]


def test_api_accepts_the_maximum_page_size(client, manager_a):
    response = client.get(reverse("api:zone_list"), {"limit": 1000}, **bearer(manager_a))

    assert response.status_code == 200


def test_api_unknown_path_is_a_json_404(client, manager_a):
    response = client.get("/api/v1/no-such-thing", **bearer(manager_a))

    assert response.status_code == 404
    assert "No API endpoint" in response.json()["detail"]


def test_api_malformed_json_is_a_json_error(client, manager_a):
    response = client.post(
        reverse("api:charger_register"),
        "{not json",
        content_type="application/json",
        **bearer(manager_a),
    )

    assert response.status_code == 400
    assert response.json()["detail"]


def test_openapi_document_lists_the_operations(client):
    response = client.get(reverse("api:openapi-json"))

    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Plugboard API"
    operations = {
        (path, method): spec["operationId"]
        for path, methods in document["paths"].items()
        for method, spec in methods.items()
    }
    foundation = {
        ("/api/v1/zones", "get"): "zone_list",
        ("/api/v1/chargers", "get"): "charger_list",
        ("/api/v1/chargers", "post"): "charger_register",
        ("/api/v1/chargers/{charge_point_id}", "get"): "charger_get",
        ("/api/v1/id-tokens", "get"): "id_token_list",
        ("/api/v1/id-tokens", "post"): "id_token_issue",
        ("/api/v1/sessions", "get"): "session_list",
        ("/api/v1/sessions/{session_id}", "get"): "session_get",
        # Reads that go with signed metering and the customer-information command.
        ("/api/v1/sessions/{session_id}/meter-samples", "get"): "session_meter_samples",
        (
            "/api/v1/chargers/{charge_point_id}/customer-information/{request_id}",
            "get",
        ): "customer_information_get",
    }
    assert operations.items() >= foundation.items()
    assert ("/api/v1/id-tokens/{token_id}", "patch") in operations
    commands = {
        key: op
        for key, op in operations.items()
        if key[0].startswith("/api/v1/chargers/{charge_point_id}/commands/")
    }
    assert commands and all(op.startswith("charger_command_") for op in commands.values())
    # Every operation says what it does and is filed under its app's tag.
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            assert spec.get("description") or spec.get("summary"), (path, method)
            assert spec.get("tags"), (path, method)
    schemas = document["components"]["schemas"]
    for name in ("ZoneOut", "ChargerOut", "ChargerCreateIn", "IdTokenOut", "IdTokenCreateIn"):
        assert name in schemas
    assert "password" not in schemas["ChargerOut"]["properties"]
    assert document["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    post_charger = document["paths"]["/api/v1/chargers"]["post"]
    assert set(post_charger["responses"]) == {"201", "401", "403", "409", "422"}
    assert post_charger["responses"]["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }


def test_docs_page_serves_swagger_from_this_server(client):
    response = client.get(reverse("api:openapi-view"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    # No asset from another host, and no call to the online validator.
    assert "cdn" not in html.lower()
    assert 'src="http' not in html
    assert 'href="http' not in html
    assert '"validatorUrl": null' in html


def test_api_token_user_is_the_request_user(client, manager_a, org_a, org_b):
    # Two users, two tokens: each sees only their own organization.
    zone_a = factories.ZoneFactory(property__organization=org_a)
    zone_b = factories.ZoneFactory(property__organization=org_b)
    manager_b = factories.MembershipFactory(organization=org_b).user

    seen_by_a = client.get(reverse("api:zone_list"), **bearer(manager_a)).json()
    seen_by_b = client.get(reverse("api:zone_list"), **bearer(manager_b)).json()

    assert [zone["id"] for zone in seen_by_a] == [zone_a.pk]
    assert [zone["id"] for zone in seen_by_b] == [zone_b.pk]
    assert ApiToken.objects.count() == 2
