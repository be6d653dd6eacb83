"""The charger admin: registration through the chargers services, passwords that
are shown once and never stored or displayed in clear."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from apps.chargers import credentials
from apps.chargers.models import Charger, ChargingSession, MeterSample
from apps.sites.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD_IN_MESSAGE = re.compile(r"(CP-[\w-]+): ([A-Za-z0-9]{16,40})")


def _add_data(client, zone_id: int, **extra: Any) -> dict[str, Any]:
    add_url = reverse("admin:chargers_charger_add")
    data: dict[str, Any] = {
        "charge_point_id": "CP-ADMIN-1",
        "name": "Bay 1",
        "zone": zone_id,
        "max_power_w": 22000,
        "phases": 3,
        "registration": "accepted",
        "vendor": "Wallbox",
    }
    for inline in client.get(add_url).context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data | extra


def _messages(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def zone_a(org_a):
    return factories.ZoneFactory(property__organization=org_a)


def test_charger_add_registers_with_typed_password(client, manager_a, zone_a) -> None:
    client.force_login(manager_a)
    password = "correct-horse-battery-1"
    response = client.post(
        reverse("admin:chargers_charger_add"),
        _add_data(client, zone_a.pk, new_password=password),
    )
    assert response.status_code == 302
    # Error reports (500 mails, Sentry) would mask the field, never print it.
    assert response.wsgi_request.sensitive_post_parameters == ("new_password",)
    charger = Charger.objects.get(charge_point_id="CP-ADMIN-1")
    # The fields the registration service does not take were stored as well.
    assert charger.vendor == "Wallbox"
    assert charger.zone == zone_a
    assert credentials.check_password(password, charger.password_hash)
    assert password not in charger.password_hash
    # A typed password is not echoed back.
    notes = _messages(response)
    assert any("the new password is set" in m for m in notes)
    assert all(password not in m for m in notes)
    assert password not in client.get(response.url).text


def _assert_not_stored(client, response: Any, secret: str) -> None:
    """The secret was rendered in this response and left nothing behind: no message
    cookie, nothing in the session, not on the next page."""
    cookie = response.cookies.get("messages")
    assert cookie is None or cookie.value == ""
    assert secret not in str(dict(client.session))
    assert "no-store" in response["Cache-Control"]
    assert secret not in client.get(reverse("admin:chargers_charger_changelist")).text


def test_charger_add_with_generated_password_shows_it_once(client, manager_a, zone_a) -> None:
    client.force_login(manager_a)
    response = client.post(
        reverse("admin:chargers_charger_add"),
        _add_data(client, zone_a.pk, generate_password="on"),
    )
    assert response.status_code == 200
    shown = [m for m in response.context["messages"] if "shown only this once" in str(m)]
    assert len(shown) == 1
    cp_id, password = PASSWORD_IN_MESSAGE.search(str(shown[0])).groups()
    assert password in response.text
    charger = Charger.objects.get(charge_point_id=cp_id)
    assert credentials.check_password(password, charger.password_hash)
    _assert_not_stored(client, response, password)


def test_charger_add_rejects_a_short_password(client, manager_a, zone_a) -> None:
    client.force_login(manager_a)
    response = client.post(
        reverse("admin:chargers_charger_add"), _add_data(client, zone_a.pk, new_password="short")
    )
    assert response.status_code == 200
    assert "new_password" in response.context["adminform"].form.errors
    assert not Charger.objects.exists()


def test_charger_add_rejects_a_circuit_of_another_property(client, manager_a, org_a) -> None:
    zone = factories.ZoneFactory(property__organization=org_a)
    other_circuit = factories.CircuitFactory(property__organization=org_a)
    client.force_login(manager_a)
    response = client.post(
        reverse("admin:chargers_charger_add"),
        _add_data(client, zone.pk, circuit=other_circuit.pk),
    )
    assert response.status_code == 200
    assert "circuit" in response.context["adminform"].form.errors


def test_charger_change_sets_a_new_password(client, manager_a, zone_a) -> None:
    charger = factories.ChargerFactory(zone=zone_a)
    client.force_login(manager_a)
    change_url = reverse("admin:chargers_charger_change", args=[charger.pk])
    page = client.get(change_url)
    data = {
        "name": "renamed",
        "zone": zone_a.pk,
        "max_power_w": charger.max_power_w,
        "phases": charger.phases,
        "registration": charger.registration,
        "new_password": "a-brand-new-password-22",
    }
    for inline in page.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data |= {
            f"{prefix}-TOTAL_FORMS": str(inline.formset.total_form_count()),
            f"{prefix}-INITIAL_FORMS": str(inline.formset.initial_form_count()),
        }
    response = client.post(change_url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    charger.refresh_from_db()
    assert charger.name == "renamed"
    assert credentials.check_password("a-brand-new-password-22", charger.password_hash)
    # Leaving the field empty keeps the password.
    data.pop("new_password")
    client.post(change_url, data)
    charger.refresh_from_db()
    assert credentials.check_password("a-brand-new-password-22", charger.password_hash)


def test_charger_change_page_never_shows_the_hash(client, manager_a, zone_a) -> None:
    charger = factories.ChargerFactory(zone=zone_a)
    charger.password_hash = credentials.hash_password("secret-secret-secret")
    charger.save()
    client.force_login(manager_a)
    response = client.get(reverse("admin:chargers_charger_change", args=[charger.pk]))
    assert response.status_code == 200
    digest = charger.password_hash.split("$")[2]
    assert digest not in response.text
    assert "password_hash" not in response.text
    listing = client.get(reverse("admin:chargers_charger_changelist"))
    assert digest not in listing.text


def test_generate_password_action_sets_and_shows_new_passwords(
    client, manager_a, zone_a, org_b
) -> None:
    mine = factories.ChargerFactory(zone=zone_a)
    theirs = factories.ChargerFactory(zone__property__organization=org_b)
    client.force_login(manager_a)
    response = client.post(
        reverse("admin:chargers_charger_changelist"),
        {"action": "generate_new_password", "_selected_action": [mine.pk, theirs.pk]},
    )
    assert response.status_code == 200
    found = dict(PASSWORD_IN_MESSAGE.findall(response.text))
    assert set(found) == {mine.charge_point_id}
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert credentials.check_password(found[mine.charge_point_id], mine.password_hash)
    assert theirs.password_hash == ""
    _assert_not_stored(client, response, found[mine.charge_point_id])


def test_viewer_cannot_run_the_password_action(client, org_a, zone_a) -> None:
    viewer = factories.UserFactory(username="viewer")
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    charger = factories.ChargerFactory(zone=zone_a)
    client.force_login(viewer)
    client.post(
        reverse("admin:chargers_charger_changelist"),
        {"action": "generate_new_password", "_selected_action": [charger.pk]},
    )
    charger.refresh_from_db()
    assert charger.password_hash == ""


def test_charger_list_shows_power_in_kw(client, manager_a, zone_a) -> None:
    factories.ChargerFactory(zone=zone_a, max_power_w=7400)
    client.force_login(manager_a)
    response = client.get(reverse("admin:chargers_charger_changelist"))
    assert "7.4 kW" in response.text


def test_charger_page_lists_recent_sessions_read_only(client, manager_a, zone_a) -> None:
    connector = factories.ConnectorFactory(charger__zone=zone_a)
    now = timezone.now()
    sessions = [
        factories.ChargingSessionFactory(
            connector=connector,
            state=ChargingSession.State.COMPLETED,
            meter_start_wh=0,
            meter_stop_wh=12_345,
            started_at=now - timedelta(hours=i + 1),
            stopped_at=now - timedelta(hours=i),
        )
        for i in range(12)
    ]
    client.force_login(manager_a)
    response = client.get(reverse("admin:chargers_charger_change", args=[connector.charger.pk]))
    inline = next(
        i for i in response.context["inline_admin_formsets"] if i.formset.model is ChargingSession
    )
    shown = [form.instance for form in inline.formset.initial_forms]
    assert shown == sessions[:10], "the ten latest, newest first"
    assert inline.has_add_permission is False
    assert inline.has_change_permission is False
    assert "12.345 kWh" in response.text


def test_sessions_and_samples_are_read_only(client, manager_a, zone_a) -> None:
    sample = factories.MeterSampleFactory(session__connector__charger__zone=zone_a)
    client.force_login(manager_a)
    assert client.get(reverse("admin:chargers_chargingsession_add")).status_code == 403
    assert client.get(reverse("admin:chargers_metersample_add")).status_code == 403
    page = client.get(reverse("admin:chargers_metersample_change", args=[sample.pk]))
    assert page.context["has_change_permission"] is False
    listing = client.get(reverse("admin:chargers_metersample_changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].show_full_result_count is False
    assert MeterSample.objects.filter(pk=sample.pk).exists()


def test_session_list_copes_with_unknown_connector_and_readings(client, manager_a, zone_a) -> None:
    """A 2.0.1 station may never name the EVSE or report a start reading."""
    charger = factories.ChargerFactory(zone=zone_a)
    session = ChargingSession.objects.create(
        charger=charger,
        connector=None,
        ocpp_transaction_id="tx-201",
        meter_start_wh=None,
        started_at=timezone.now(),
    )
    client.force_login(manager_a)
    response = client.get(reverse("admin:chargers_chargingsession_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [session]
    assert "tx-201" in response.text
