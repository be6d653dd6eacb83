"""The alerts API through Django's client (middleware and error handlers run):
scoped to the token user's organizations, filters, acknowledgement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.monitoring.models import Alert, AlertRule
from apps.sites.models import Membership
from apps.sites.services import api_token_create
from tests import factories
from tests.monitoring.alerts.conftest import make_charger

pytestmark = pytest.mark.django_db


def bearer(user) -> dict[str, str]:
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def alert(org, kind=AlertRule.Kind.CHARGER_OFFLINE, *, ago=0, **kw) -> Alert:
    charger = kw.pop("charger", None) or make_charger(org)
    return Alert.objects.create(
        organization=org,
        kind=kind,
        charger=charger,
        title=f"{charger} {kind}",
        opened_at=timezone.now() - timedelta(minutes=ago),
        details={"error_code": "OtherError"},
        **kw,
    )


@pytest.fixture
def alerts(org_a, org_b):
    return {
        "old": alert(org_a, ago=60),
        "new": alert(org_a, AlertRule.Kind.REPEATED_REBOOTS, ago=5),
        "resolved": alert(org_a, ago=30, status=Alert.Status.RESOLVED, resolved_at=timezone.now()),
        "theirs": alert(org_b, ago=1),
    }


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()]


def test_list_is_newest_first_and_own_only(client, manager_a, alerts):
    response = client.get(reverse("api:alert_list"), **bearer(manager_a))
    assert ids(response) == [alerts["new"].pk, alerts["resolved"].pk, alerts["old"].pk]
    row = response.json()[0]
    assert row["kind"] == "repeated_reboots"
    assert row["charge_point_id"] == alerts["new"].charger.charge_point_id
    assert row["status"] == "open"
    assert row["connector_id"] is None
    assert row["details"] == {"error_code": "OtherError"}


def test_filters(client, manager_a, alerts):
    url = reverse("api:alert_list")
    auth = bearer(manager_a)
    assert ids(client.get(url, {"status": "resolved"}, **auth)) == [alerts["resolved"].pk]
    assert ids(client.get(url, {"kind": "charger_offline", "status": "open"}, **auth)) == [
        alerts["old"].pk
    ]
    cpid = alerts["old"].charger.charge_point_id
    assert ids(client.get(url, {"charger": cpid}, **auth)) == [alerts["old"].pk]
    # Another tenant's charger: an empty list, like an unknown one.
    theirs = alerts["theirs"].charger.charge_point_id
    assert ids(client.get(url, {"charger": theirs}, **auth)) == []
    assert client.get(url, {"status": "bogus"}, **auth).status_code == 422
    assert ids(client.get(url, {"limit": 1, "offset": 1}, **auth)) == [alerts["resolved"].pk]


def test_get_one_and_another_tenants_is_404(client, manager_a, alerts):
    auth = bearer(manager_a)
    mine = client.get(reverse("api:alert_get", args=[alerts["old"].pk]), **auth)
    assert mine.status_code == 200
    assert mine.json()["title"] == alerts["old"].title
    theirs = client.get(reverse("api:alert_get", args=[alerts["theirs"].pk]), **auth)
    assert theirs.status_code == 404
    assert alerts["theirs"].title not in theirs.text


def test_acknowledge(client, manager_a, alerts):
    url = reverse("api:alert_acknowledge", args=[alerts["old"].pk])
    response = client.post(url, **bearer(manager_a))
    assert response.status_code == 200
    body = response.json()
    assert body["acknowledged_by"] == manager_a.username
    first = body["acknowledged_at"]
    assert first is not None
    again = client.post(url, **bearer(manager_a)).json()
    assert again["acknowledged_at"] == first


def test_acknowledging_another_tenants_alert_is_404(client, manager_a, alerts):
    url = reverse("api:alert_acknowledge", args=[alerts["theirs"].pk])
    assert client.post(url, **bearer(manager_a)).status_code == 404
    alerts["theirs"].refresh_from_db()
    assert alerts["theirs"].acknowledged_at is None


def test_a_viewer_reads_but_cannot_acknowledge(client, org_a, alerts):
    viewer = factories.UserFactory(username="viewer")
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    auth = bearer(viewer)
    assert len(ids(client.get(reverse("api:alert_list"), **auth))) == 3
    url = reverse("api:alert_acknowledge", args=[alerts["old"].pk])
    response = client.post(url, **auth)
    assert response.status_code == 403
    alerts["old"].refresh_from_db()
    assert alerts["old"].acknowledged_at is None


def test_without_a_token_401(client, alerts):
    assert client.get(reverse("api:alert_list")).status_code == 401


def test_openapi_documents_the_alert_operations(client):
    schema = client.get("/api/v1/openapi.json").json()
    operations = {
        op["operationId"]: (path, method, op["tags"])
        for path, methods in schema["paths"].items()
        for method, op in methods.items()
    }
    assert operations["alert_list"] == ("/api/v1/alerts", "get", ["alerts"])
    assert operations["alert_get"] == ("/api/v1/alerts/{alert_id}", "get", ["alerts"])
    assert operations["alert_acknowledge"] == (
        "/api/v1/alerts/{alert_id}/acknowledge",
        "post",
        ["alerts"],
    )
    kinds = schema["components"]["schemas"]["AlertOut"]["properties"]
    assert {"kind", "status", "details", "escalated_at", "acknowledged_by"} <= set(kinds)
