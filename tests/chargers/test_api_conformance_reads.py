"""The reads that go with issue 3's last conformance rows, through the API:
GET /api/v1/chargers/{id}/customer-information/{request_id} (the parts of
NotifyCustomerInformation collected per request) and
GET /api/v1/sessions/{id}/meter-samples (signed meter values returned), with
their tenancy. The same reads after real OCPP traffic: tests/ocpp_consumer/
test_conformance_gaps_e2e.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from apps.chargers.models import ChargerEvent, CommandLog
from apps.sites.models import Membership
from apps.sites.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def bearer(user) -> dict[str, str]:
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def charger_a(org_a):
    return factories.ChargerFactory(
        charge_point_id="CI-A", zone__property__organization=org_a, ocpp_version="2.0.1"
    )


def _command(charger, *, status="Accepted", report=True, clear=False) -> CommandLog:
    return CommandLog.objects.create(
        charger=charger,
        command="customer-information",
        params={"id_tag": "04A1B2C3", "report": report, "clear": clear},
        source=CommandLog.Source.API,
        outcome=CommandLog.Outcome.ANSWERED,
        status=status,
        response={"status": status},
    )


def _part(charger, request_id: int, seq_no: int, data: str, *, tbc: bool) -> None:
    # Stored the way the OCPP edge stores a NotifyCustomerInformation.
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.OTHER,
        summary="NotifyCustomerInformation",
        payload={
            "requestId": request_id,
            "seqNo": seq_no,
            "tbc": tbc,
            "data": data,
            "generatedAt": "2026-11-24T12:00:00Z",
        },
    )


def _get_info(client, user, charge_point_id: str, request_id: int):
    url = reverse(
        "api:customer_information_get",
        kwargs={"charge_point_id": charge_point_id, "request_id": request_id},
    )
    return client.get(url, **bearer(user))


def test_customer_information_collects_the_parts_in_order(client, manager_a, charger_a):
    command = _command(charger_a)
    # Out of order, one retransmitted: each part once, in sequence order.
    _part(charger_a, command.pk, 1, "transaction 17 on EVSE 1", tbc=False)
    _part(charger_a, command.pk, 0, "idToken 04A1B2C3: known; ", tbc=True)
    _part(charger_a, command.pk, 1, "transaction 17 on EVSE 1", tbc=False)
    # Another request's part, and the same request id on another charger: not these.
    _part(charger_a, command.pk + 100, 0, "someone else", tbc=False)
    other = factories.ChargerFactory(zone=charger_a.zone)
    _part(other, command.pk, 0, "another charger", tbc=False)

    response = _get_info(client, manager_a, "CI-A", command.pk)

    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: v for k, v in body.items() if k != "parts"} == {
        "charge_point_id": "CI-A",
        "request_id": command.pk,
        "status": "Accepted",
        "report": True,
        "clear": False,
        "complete": True,
        "missing_seq_nos": [],
        "data": "idToken 04A1B2C3: known; transaction 17 on EVSE 1",
    }
    assert [(p["seq_no"], p["tbc"]) for p in body["parts"]] == [(0, True), (1, False)]


def test_customer_information_waits_for_missing_and_announced_parts(client, manager_a, charger_a):
    command = _command(charger_a)

    waiting = _get_info(client, manager_a, "CI-A", command.pk).json()
    _part(charger_a, command.pk, 1, "second", tbc=False)
    gap = _get_info(client, manager_a, "CI-A", command.pk).json()

    assert (waiting["complete"], waiting["parts"]) == (False, [])
    assert (gap["complete"], gap["missing_seq_nos"]) == (False, [0])


@pytest.mark.parametrize(
    ("status", "report", "clear"),
    [("Rejected", True, False), ("Invalid", True, True), ("Accepted", False, True)],
)
def test_customer_information_nothing_to_wait_for(
    client, manager_a, charger_a, status, report, clear
):
    """Refused, or only a clear asked for (TC_N_29, TC_N_32): complete without parts."""
    command = _command(charger_a, status=status, report=report, clear=clear)

    body = _get_info(client, manager_a, "CI-A", command.pk).json()

    assert (body["status"], body["complete"], body["data"]) == (status, True, "")
    assert (body["report"], body["clear"]) == (report, clear)


def test_customer_information_reported_under_the_chargers_own_id(client, manager_a, charger_a):
    _part(charger_a, 9999, 0, "unsolicited", tbc=False)

    body = _get_info(client, manager_a, "CI-A", 9999).json()

    assert (body["status"], body["report"], body["complete"], body["data"]) == (
        None,
        None,
        True,
        "unsolicited",
    )


def test_customer_information_unknown_request_is_404(client, manager_a, charger_a):
    # A command of another kind with that id is not a customer-information request.
    other = CommandLog.objects.create(
        charger=charger_a, command="reset", params={}, source=CommandLog.Source.API
    )

    response = _get_info(client, manager_a, "CI-A", other.pk)

    assert response.status_code == 404
    assert "no customer information request" in response.json()["detail"]


def test_customer_information_of_another_organization_is_404(client, manager_a, org_b):
    charger_b = factories.ChargerFactory(charge_point_id="CI-B", zone__property__organization=org_b)
    command = _command(charger_b)
    _part(charger_b, command.pk, 0, "personal data of org B", tbc=False)

    response = _get_info(client, manager_a, "CI-B", command.pk)

    assert response.status_code == 404
    assert "personal data" not in response.content.decode()


def test_customer_information_is_not_for_viewers(client, org_a, charger_a):
    """Personal data: readable by the roles that may ask for it, not by a viewer."""
    viewer = factories.UserFactory(username="viewer_a")
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    command = _command(charger_a)
    _part(charger_a, command.pk, 0, "personal", tbc=False)

    response = _get_info(client, viewer, "CI-A", command.pk)

    assert response.status_code == 403
    assert "personal" not in response.json().get("data", "")


def test_customer_information_needs_a_token(client, charger_a):
    url = reverse(
        "api:customer_information_get", kwargs={"charge_point_id": "CI-A", "request_id": 1}
    )
    assert client.get(url).status_code == 401


# --- meter samples with their signatures ---------------------------------------------

SIGNED = {
    "signed_meter_data": "T0NNRnx7fXx7fQ==",
    "signing_method": "ECDSA-secp256r1-SHA256",
    "encoding_method": "OCMF",
    "public_key": "MFkwEwYH",
}


def test_session_meter_samples_in_time_order_with_signatures(client, manager_a, charger_a):
    session = factories.ChargingSessionFactory(
        connector=factories.ConnectorFactory(charger=charger_a), started_at=T0
    )
    factories.MeterSampleFactory(
        session=session, sampled_at=T0 + timedelta(minutes=1), value=2_500, signed_data=SIGNED
    )
    factories.MeterSampleFactory(
        session=session,
        sampled_at=T0 + timedelta(minutes=1),
        measurand="Power.Active.Import",
        value=7_400,
        unit="W",
    )
    factories.MeterSampleFactory(session=session, sampled_at=T0, value=1_000)
    # Another session's sample is not listed.
    factories.MeterSampleFactory(sampled_at=T0)

    url = reverse("api:session_meter_samples", kwargs={"session_id": session.pk})
    response = client.get(url, **bearer(manager_a))

    assert response.status_code == 200, response.content
    rows = response.json()
    assert [(r["measurand"], r["value"], r["signed"]) for r in rows] == [
        ("Energy.Active.Import.Register", 1000.0, None),
        ("Energy.Active.Import.Register", 2500.0, SIGNED),
        ("Power.Active.Import", 7400.0, None),
    ]
    assert rows[0]["sampled_at"].startswith("2026-11-24T12:00:00")
    paged = client.get(url, {"limit": 1, "offset": 1}, **bearer(manager_a)).json()
    assert [r["value"] for r in paged] == [2500.0]


def test_session_meter_samples_of_another_organization_is_404(client, manager_a, org_b):
    session = factories.ChargingSessionFactory(
        connector__charger__zone__property__organization=org_b
    )
    factories.MeterSampleFactory(session=session, signed_data=SIGNED)

    url = reverse("api:session_meter_samples", kwargs={"session_id": session.pk})
    response = client.get(url, **bearer(manager_a))

    assert response.status_code == 404
    assert "signed_meter_data" not in response.content.decode()
