"""GET /api/v1/chargers/{id}/status-history, /uptime and /health-scores, scoped to the
token user's organizations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from tests import factories
from tests.monitoring.health.conftest import bearer

pytestmark = pytest.mark.django_db

JUNE = {"start": "2026-06-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"}


def test_uptime_api_gives_the_hand_computed_numbers(client, manager_a, june) -> None:
    response = client.get(
        reverse("api:uptime_report"), {"property": june.property.pk, **JUNE}, **bearer(manager_a)
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    c1, c2 = body["connectors"]
    assert (c1["connector_id"], c1["outage_minutes"], c1["excluded_minutes"]) == (1, 480, 240)
    assert c1["nevi_percent"] == round(42_960 / 43_200 * 100, 4)
    assert c1["plain_percent"] == round(42_720 / 43_200 * 100, 4)
    assert (c2["outage_minutes"], c2["excluded_minutes"]) == (210, 60)
    assert [o["minutes"] for o in c2["outages"]] == [120, 30, 60]
    assert body["total"]["nevi_percent"] == round(86_010 / 86_400 * 100, 4)
    assert body["total"]["plain_percent"] == round(85_710 / 86_400 * 100, 4)
    (prop,) = body["properties"]
    assert prop["name"] == "Maple Yards"
    assert prop["policy"]["source"] == "organization"
    assert "vandalism" not in prop["policy"]["excluded_causes"]
    assert "utility_interruption" in prop["policy"]["excluded_causes"]
    (charger,) = body["chargers"]
    assert (charger["charge_point_id"], charger["outage_minutes"]) == ("MAPLE-1", 690)

    by_charger = client.get(
        reverse("api:uptime_report"), {"charger": "MAPLE-1", **JUNE}, **bearer(manager_a)
    )
    assert by_charger.json()["total"] == body["total"]


def test_uptime_api_refuses_a_bad_period(client, manager_a, june) -> None:
    response = client.get(
        reverse("api:uptime_report"),
        {"start": JUNE["end"], "end": JUNE["start"]},
        **bearer(manager_a),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "start"


def test_other_tenant_gets_404_or_nothing(client, manager_b, june) -> None:
    auth = bearer(manager_b)
    assert (
        client.get(
            reverse("api:uptime_report"), {"property": june.property.pk, **JUNE}, **auth
        ).status_code
        == 404
    )
    assert (
        client.get(reverse("api:uptime_report"), {"charger": "MAPLE-1", **JUNE}, **auth).status_code
        == 404
    )
    everything = client.get(reverse("api:uptime_report"), JUNE, **auth).json()
    assert everything["connectors"] == []
    assert everything["properties"] == []
    history = client.get(reverse("api:status_history", args=["MAPLE-1"]), **auth)
    assert history.status_code == 404
    scores = client.get(reverse("api:health_scores"), {"property": june.property.pk}, **auth)
    assert scores.status_code == 404
    assert client.get(reverse("api:health_scores"), **auth).json() == []


def test_api_needs_a_token(client, june) -> None:
    assert client.get(reverse("api:uptime_report")).status_code == 401
    assert client.get(reverse("api:health_scores")).status_code == 401
    assert client.get(reverse("api:status_history", args=["MAPLE-1"])).status_code == 401


def test_status_history_is_paged_and_filtered(client, manager_a, june) -> None:
    url = reverse("api:status_history", args=["MAPLE-1"])
    auth = bearer(manager_a)
    everything = client.get(url, {"limit": 1000}, **auth).json()
    # 2 before June, 5 for connector 1, 4 for connector 2.
    assert len(everything) == 11
    times = [row["reported_at"] for row in everything]
    assert times == sorted(times, reverse=True)
    assert everything[0]["status"] == "available"
    assert everything[0]["connector_id"] == 2

    page = client.get(url, {"limit": 2, "offset": 1}, **auth).json()
    assert [r["id"] for r in page] == [r["id"] for r in everything[1:3]]

    window = client.get(
        url,
        {"since": "2026-06-03T00:00:00Z", "until": "2026-06-04T00:00:00Z", "connector_id": 1},
        **auth,
    ).json()
    assert [(r["status"], r["error_code"]) for r in window] == [
        ("available", ""),
        ("faulted", "GroundFailure"),
        ("faulted", "GroundFailure"),
    ]


def test_health_scores_are_ranked(client, manager_a, org_a) -> None:
    prop = factories.PropertyFactory(organization=org_a)
    ok = factories.ChargerFactory(zone__property=prop, charge_point_id="OK-1", channel_name="c")
    down = factories.ChargerFactory(zone__property=prop, charge_point_id="DOWN-1")
    factories.ConnectorFactory(charger=ok)
    factories.ConnectorFactory(charger=down, status="faulted")
    response = client.get(reverse("api:health_scores"), {"property": prop.pk}, **bearer(manager_a))
    assert response.status_code == 200
    ranked = response.json()
    assert [(r["rank"], r["charge_point_id"], r["score"]) for r in ranked] == [
        (1, "DOWN-1", 60),
        (2, "OK-1", 100),
    ]
    assert ranked[0]["reasons"] == ["offline now", "a connector is faulted now"]
    assert ranked[0]["start_success_percent"] is None


def test_monthly_uptime_gives_each_month_and_the_trailing_figure(
    client, manager_a, manager_b, june
) -> None:
    june.property.time_zone = "UTC"
    june.property.save()
    url = reverse("api:uptime_monthly")
    with time_machine.travel(datetime(2026, 7, 15, tzinfo=UTC), tick=False):
        response = client.get(url, {"property": june.property.pk, "months": 2}, **bearer(manager_a))
        other = client.get(url, {"property": june.property.pk}, **bearer(manager_b))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["time_zone"] == "UTC"
    assert [m["month"] for m in body["months"]] == ["2026-05", "2026-06"]
    may, june_out = body["months"]
    # May: registered 1 May 00:00, first connected 31 May 23:00: 30 days 23 hours offline
    # of 31 days (44,640 minutes) = 44,580 outage minutes per port.
    assert [c["outage_minutes"] for c in may["connectors"]] == [44_580, 44_580]
    assert [c["outage_minutes"] for c in june_out["connectors"]] == [480, 210]
    c1, c2 = body["trailing"]
    assert (c1["period_minutes"], c1["outage_minutes"], c1["excluded_minutes"]) == (
        87_840,
        45_060,
        240,
    )
    assert c1["nevi_percent"] == round((87_840 - (45_060 - 240)) / 87_840 * 100, 4)
    assert c1["meets_target"] is False
    assert (c2["outage_minutes"], c2["excluded_minutes"]) == (44_790, 60)
    assert other.status_code == 404


def test_monthly_uptime_months_are_bounded(client, manager_a) -> None:
    response = client.get(reverse("api:uptime_monthly"), {"months": 13}, **bearer(manager_a))
    assert response.status_code == 422
