"""The live side of the API: GET /api/v1/chargers/{charge_point_id} with presence and
each connector's session in progress, GET /api/v1/sessions and /sessions/{id}."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.chargers.models import ChargingSession
from apps.sites.models import Membership
from apps.sites.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def bearer(user) -> dict[str, str]:
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def sample(session, minutes, value, measurand=ENERGY, unit="Wh", **fields):
    return factories.MeterSampleFactory(
        session=session,
        connector_id=session.connector.connector_id,
        sampled_at=at(minutes),
        measurand=measurand,
        value=Decimal(value),
        unit=unit,
        **fields,
    )


def detail_url(charge_point_id: str) -> str:
    return reverse("api:charger_get", kwargs={"charge_point_id": charge_point_id})


def session_url(session_id: int) -> str:
    return reverse("api:session_get", kwargs={"session_id": session_id})


@pytest.fixture
def zone_a(org_a):
    return factories.ZoneFactory(property__organization=org_a)


@pytest.fixture
def charger(zone_a):
    return factories.ChargerFactory(
        zone=zone_a, charge_point_id="ELM-01", last_seen_at=at(-1), channel_name=""
    )


@pytest.fixture
def b_charger(org_b):
    return factories.ChargerFactory(
        zone__property__organization=org_b, charge_point_id="B-1", channel_name="specific.b"
    )


# --- the charger detail ---------------------------------------------------------------


def test_charger_get_shows_each_connectors_session_in_progress(client, manager_a, charger):
    charging = factories.ConnectorFactory(charger=charger, connector_id=1, status="charging")
    factories.ConnectorFactory(charger=charger, connector_id=2, status="available")
    session = factories.ChargingSessionFactory(
        connector=charging, meter_start_wh=12_345, started_at=at(0)
    )
    sample(session, 0, "12345", context="Transaction.Begin")
    sample(session, 10, "14.1", unit="kWh")
    sample(session, 15, "15.0123", unit="kWh")  # latest register: 15012.3 Wh
    # Per-phase power in mixed units, the latest instant only.
    sample(session, 14, "11000", measurand=POWER, unit="W")
    sample(session, 15, "3.6", measurand=POWER, unit="kW", phase="L1")
    sample(session, 15, "3550", measurand=POWER, unit="W", phase="L2")
    sample(session, 15, "3.7005", measurand=POWER, unit="kW", phase="L3")
    sample(session, 12, "41", measurand="SoC", unit="Percent", location="EV")
    sample(session, 15, "43.5", measurand="SoC", unit="Percent", location="EV")

    response = client.get(detail_url("ELM-01"), **bearer(manager_a))

    assert response.status_code == 200
    body = response.json()
    assert body["online"] is False
    assert body["last_heartbeat"] == "2026-11-24T07:59:00Z"
    assert body["connectors"] == [
        {
            "connector_id": 1,
            "status": "charging",
            "error_code": "",
            "current_session": {
                "id": session.pk,
                # 15012.3 Wh rounds to 15012; minus the start reading 12345.
                "energy_kwh": 2.667,
                "soc_percent": 43.5,
                # 3600 + 3550 + 3700.5 W.
                "power_kw": 10.851,
            },
        },
        {"connector_id": 2, "status": "available", "error_code": "", "current_session": None},
    ]


def test_charger_get_session_without_readings_has_null_figures(client, manager_a, charger):
    connector = factories.ConnectorFactory(charger=charger, connector_id=1)
    session = factories.ChargingSessionFactory(connector=connector, meter_start_wh=None)
    # Another measurand is no stand-in for the three figures.
    sample(session, 1, "16", measurand="Current.Import", unit="A", phase="L1")

    body = client.get(detail_url("ELM-01"), **bearer(manager_a)).json()

    assert body["connectors"][0]["current_session"] == {
        "id": session.pk,
        "energy_kwh": None,
        "soc_percent": None,
        "power_kw": None,
    }


def test_charger_get_register_without_start_reading_gives_no_energy(client, manager_a, charger):
    connector = factories.ConnectorFactory(charger=charger, connector_id=1)
    session = factories.ChargingSessionFactory(connector=connector, meter_start_wh=None)
    sample(session, 5, "20000")
    sample(session, 5, "7400", measurand=POWER, unit="W")

    current = client.get(detail_url("ELM-01"), **bearer(manager_a)).json()["connectors"][0][
        "current_session"
    ]

    assert current["energy_kwh"] is None
    assert current["power_kw"] == 7.4


def test_charger_get_online_follows_the_channel_name(client, manager_a, charger):
    headers = bearer(manager_a)
    offline = client.get(detail_url("ELM-01"), **headers).json()
    charger.channel_name = "specific.abc!def"
    charger.save(update_fields=["channel_name"])

    online = client.get(detail_url("ELM-01"), **headers).json()

    assert offline["online"] is False
    assert online["online"] is True


def test_charger_get_never_heard_from(client, manager_a, zone_a):
    factories.ChargerFactory(zone=zone_a, charge_point_id="NEW-1", last_seen_at=None)

    body = client.get(detail_url("NEW-1"), **bearer(manager_a)).json()

    assert body["online"] is False
    assert body["last_heartbeat"] is None


def test_charger_get_queries_do_not_grow_with_connectors(
    client, manager_a, charger, django_assert_max_num_queries
):
    for n in range(1, 9):
        connector = factories.ConnectorFactory(charger=charger, connector_id=n)
        session = factories.ChargingSessionFactory(connector=connector, meter_start_wh=0)
        sample(session, 1, str(n * 1000))
        sample(session, 1, "2", measurand=POWER, unit="kW", phase="L1")
        sample(session, 1, str(50 + n), measurand="SoC", unit="Percent")
    headers = bearer(manager_a)

    # token lookup and its last use, memberships, the charger, its connectors (with
    # their sessions' latest instants), the latest samples
    with django_assert_max_num_queries(6):
        response = client.get(detail_url("ELM-01"), **headers)

    currents = [c["current_session"] for c in response.json()["connectors"]]
    assert [c["energy_kwh"] for c in currents] == [float(n) for n in range(1, 9)]
    assert {c["power_kw"] for c in currents} == {2.0}
    assert [c["soc_percent"] for c in currents] == [50.0 + n for n in range(1, 9)]


def test_charger_list_shows_sessions_in_progress_in_bounded_queries(
    client, manager_a, zone_a, django_assert_max_num_queries
):
    for n in range(6):
        connector = factories.ConnectorFactory(
            charger__zone=zone_a, charger__charge_point_id=f"CP-{n}"
        )
        session = factories.ChargingSessionFactory(connector=connector, meter_start_wh=500)
        sample(session, 1, str(500 + 100 * n))
    headers = bearer(manager_a)

    with django_assert_max_num_queries(6):
        response = client.get(reverse("api:charger_list"), {"limit": 4}, **headers)

    assert [c["connectors"][0]["current_session"]["energy_kwh"] for c in response.json()] == [
        0.0,
        0.1,
        0.2,
        0.3,
    ]


def test_charger_get_of_another_organization_is_not_found(client, manager_a, b_charger):
    response = client.get(detail_url("B-1"), **bearer(manager_a))

    assert response.status_code == 404
    assert response.json()["detail"] == "No charger with charge point id 'B-1'."


def test_live_reads_need_a_token(client, charger):
    connector = factories.ConnectorFactory(charger=charger)
    session = factories.ChargingSessionFactory(connector=connector)

    for url in (detail_url("ELM-01"), reverse("api:session_list"), session_url(session.pk)):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'


# --- sessions -------------------------------------------------------------------------


@pytest.fixture
def finished(charger):
    connector = factories.ConnectorFactory(charger=charger, connector_id=2)
    person = factories.PersonFactory(organization=charger.zone.property.organization)
    vehicle = factories.VehicleFactory(organization=charger.zone.property.organization)
    return factories.ChargingSessionFactory(
        connector=connector,
        ocpp_transaction_id="77",
        id_tag="TAG-OK",
        person=person,
        vehicle=vehicle,
        meter_start_wh=1_000,
        meter_stop_wh=8_255,
        state=ChargingSession.State.COMPLETED,
        started_at=at(-120),
        stopped_at=at(-60),
        stop_reason="ev_disconnected",
    )


@pytest.fixture
def in_progress(charger):
    connector = factories.ConnectorFactory(charger=charger, connector_id=1)
    session = factories.ChargingSessionFactory(
        connector=connector, id_tag="TAG-2", meter_start_wh=8_255, started_at=at(0)
    )
    sample(session, 5, "9.5", unit="kWh")
    sample(session, 9, "9.8", unit="kWh")
    return session


def test_session_list_returns_the_documented_fields(client, manager_a, finished, in_progress):
    response = client.get(reverse("api:session_list"), **bearer(manager_a))

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": in_progress.pk,
            "charge_point_id": "ELM-01",
            "connector_id": 1,
            "id_tag": "TAG-2",
            "meter_start_wh": 8_255,
            "meter_stop_wh": None,
            # In progress: the latest register (9800 Wh) minus the start.
            "energy_kwh": 1.545,
            "started_at": "2026-11-24T08:00:00Z",
            "stopped_at": None,
            "status": "active",
        },
        {
            "id": finished.pk,
            "charge_point_id": "ELM-01",
            "connector_id": 2,
            "id_tag": "TAG-OK",
            "meter_start_wh": 1_000,
            "meter_stop_wh": 8_255,
            "energy_kwh": 7.255,
            "started_at": "2026-11-24T06:00:00Z",
            "stopped_at": "2026-11-24T07:00:00Z",
            "status": "completed",
        },
    ]


def test_session_list_in_progress_without_a_register_reading(client, manager_a, charger):
    connector = factories.ConnectorFactory(charger=charger)
    factories.ChargingSessionFactory(connector=connector, meter_start_wh=100)

    (row,) = client.get(reverse("api:session_list"), **bearer(manager_a)).json()

    assert row["energy_kwh"] is None


def test_session_list_session_without_a_connector(client, manager_a, charger):
    # A 2.0.1 station of several EVSEs that never said which one it was.
    factories.ChargingSessionFactory(connector=None, charger=charger, meter_start_wh=None)

    (row,) = client.get(reverse("api:session_list"), **bearer(manager_a)).json()

    assert row["connector_id"] is None
    assert row["charge_point_id"] == "ELM-01"


def test_session_list_filters_and_pages(client, manager_a, zone_a, finished, in_progress):
    elsewhere = factories.ConnectorFactory(charger__zone=zone_a, charger__charge_point_id="ELM-02")
    middle = factories.ChargingSessionFactory(
        connector=elsewhere,
        state=ChargingSession.State.COMPLETED,
        started_at=at(-30),
        stopped_at=at(-10),
    )
    url = reverse("api:session_list")
    headers = bearer(manager_a)

    def ids(**query):
        response = client.get(url, query, **headers)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()]

    assert ids() == [in_progress.pk, middle.pk, finished.pk]
    assert ids(charger="ELM-01") == [in_progress.pk, finished.pk]
    assert ids(charger="ELM-02", status="completed") == [middle.pk]
    assert ids(status="active") == [in_progress.pk]
    assert ids(since="2026-11-24T07:30:00Z") == [in_progress.pk, middle.pk]
    # Another offset, the same instant: 08:00 UTC is not before 09:00+01:00.
    assert ids(until="2026-11-24T09:00:00+01:00") == [middle.pk, finished.pk]
    assert ids(since="2026-11-24T06:00:00Z", until="2026-11-24T07:31:00Z") == [
        middle.pk,
        finished.pk,
    ]
    assert ids(limit=1) == [in_progress.pk]
    assert ids(limit=2, offset=1) == [middle.pk, finished.pk]
    assert ids(charger="NOPE") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "charging"}, "status"),
        ({"since": "2026-11-24T08:00:00"}, "since"),  # no offset: which time zone?
        ({"until": "yesterday"}, "until"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_session_list_rejects_bad_filters(client, manager_a, query, field):
    response = client.get(reverse("api:session_list"), query, **bearer(manager_a))

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


def test_session_list_queries_do_not_grow_with_rows(
    client, manager_a, charger, django_assert_max_num_queries
):
    for n in range(1, 7):
        connector = factories.ConnectorFactory(charger=charger, connector_id=n)
        session = factories.ChargingSessionFactory(
            connector=connector,
            meter_start_wh=0,
            state=ChargingSession.State.COMPLETED,
            started_at=at(-100 - n),
            stopped_at=at(-90),
            meter_stop_wh=1000,
        )
        live = factories.ChargingSessionFactory(connector=connector, meter_start_wh=0)
        sample(live, 1, str(n * 100))
        sample(session, -95, "500")
    headers = bearer(manager_a)

    # token lookup and its last use, memberships, the sessions, latest samples
    with django_assert_max_num_queries(5):
        response = client.get(reverse("api:session_list"), **headers)

    energies = sorted(row["energy_kwh"] for row in response.json())
    assert energies == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] + [1.0] * 6


def test_session_get_adds_stop_reason_person_and_vehicle(client, manager_a, finished):
    response = client.get(session_url(finished.pk), **bearer(manager_a))

    assert response.status_code == 200
    assert response.json() == {
        "id": finished.pk,
        "charge_point_id": "ELM-01",
        "connector_id": 2,
        "id_tag": "TAG-OK",
        "meter_start_wh": 1_000,
        "meter_stop_wh": 8_255,
        "energy_kwh": 7.255,
        "started_at": "2026-11-24T06:00:00Z",
        "stopped_at": "2026-11-24T07:00:00Z",
        "status": "completed",
        "stop_reason": "ev_disconnected",
        "person_id": finished.person_id,
        "vehicle_id": finished.vehicle_id,
    }


def test_session_get_in_progress(client, manager_a, in_progress):
    body = client.get(session_url(in_progress.pk), **bearer(manager_a)).json()

    assert body["status"] == "active"
    assert body["energy_kwh"] == 1.545
    assert (body["stop_reason"], body["person_id"], body["vehicle_id"]) == ("", None, None)


# --- tenancy --------------------------------------------------------------------------


def test_sessions_of_another_organization_are_invisible(
    client, manager_a, org_b, finished, b_charger
):
    b_connector = factories.ConnectorFactory(charger=b_charger)
    b_session = factories.ChargingSessionFactory(connector=b_connector)
    sample(b_session, 1, "5000")
    headers = bearer(manager_a)

    listed = client.get(reverse("api:session_list"), **headers)
    by_b_charger = client.get(reverse("api:session_list"), {"charger": "B-1"}, **headers)
    b_detail = client.get(session_url(b_session.pk), **headers)
    missing = client.get(session_url(999_999), **headers)

    assert [row["id"] for row in listed.json()] == [finished.pk]
    assert by_b_charger.status_code == 200
    assert by_b_charger.json() == []
    assert b_detail.status_code == 404
    # Someone else's session reads exactly like a missing one.
    assert b_detail.json()["detail"] == f"No session with id {b_session.pk}."
    assert missing.json()["detail"] == "No session with id 999999."


def test_manager_of_b_sees_b_and_not_a(client, org_b, finished, b_charger):
    manager_b = factories.MembershipFactory(organization=org_b, role=Membership.Role.VIEWER).user
    b_session = factories.ChargingSessionFactory(
        connector=factories.ConnectorFactory(charger=b_charger)
    )
    headers = bearer(manager_b)

    listed = client.get(reverse("api:session_list"), **headers).json()
    b_charger_body = client.get(detail_url("B-1"), **headers).json()

    assert [row["id"] for row in listed] == [b_session.pk]
    assert client.get(session_url(finished.pk), **headers).status_code == 404
    assert client.get(detail_url("ELM-01"), **headers).status_code == 404
    assert b_charger_body["online"] is True
    assert b_charger_body["connectors"][0]["current_session"]["id"] == b_session.pk


def test_superuser_sees_every_organizations_sessions(client, superuser, finished, b_charger):
    b_session = factories.ChargingSessionFactory(
        connector=factories.ConnectorFactory(charger=b_charger)
    )

    listed = client.get(reverse("api:session_list"), **bearer(superuser)).json()

    assert {row["id"] for row in listed} == {finished.pk, b_session.pk}
