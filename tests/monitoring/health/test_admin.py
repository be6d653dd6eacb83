"""The health admin beyond the shared tenancy tests: documenting an exclusion, and
sending a report now."""

from __future__ import annotations

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from apps.monitoring.models import OutageExclusion, ReportSubscription
from tests import factories
from tests.monitoring.health.conftest import at

pytestmark = pytest.mark.django_db


def test_documented_exclusion_records_who_entered_it(client, manager_a, june) -> None:
    client.force_login(manager_a)
    response = client.post(
        reverse("admin:monitoring_outageexclusion_add"),
        {
            "property": june.property.pk,
            "charger": june.charger.pk,
            "connector": june.c2.pk,
            "cause": "natural_disaster",
            "starts_at_0": "2026-06-26",
            "starts_at_1": "10:00:00",
            "ends_at_0": "2026-06-26",
            "ends_at_1": "12:00:00",
            "evidence": "Flooded garage, county notice 7",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    row = OutageExclusion.objects.get(cause="natural_disaster")
    assert row.created_by == manager_a


def test_exclusion_connector_must_belong_to_the_charger(client, manager_a, june) -> None:
    other = factories.ConnectorFactory(
        charger=factories.ChargerFactory(zone__property=june.property), connector_id=1
    )
    client.force_login(manager_a)
    response = client.post(
        reverse("admin:monitoring_outageexclusion_add"),
        {
            "property": june.property.pk,
            "charger": june.charger.pk,
            "connector": other.pk,
            "cause": "vandalism",
            "starts_at_0": "2026-06-26",
            "starts_at_1": "12:00:00",
            "ends_at_0": "2026-06-26",
            "ends_at_1": "10:00:00",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "connector" in errors
    assert "ends_at" in errors


def test_send_now_action_sends_own_reports_once(client, manager_a, org_b, june) -> None:
    mine = ReportSubscription.objects.create(
        property=june.property, frequency="daily", recipients="ops@example.com"
    )
    theirs = ReportSubscription.objects.create(
        property=factories.PropertyFactory(organization=org_b),
        frequency="daily",
        recipients="b@example.com",
    )
    client.force_login(manager_a)
    url = reverse("admin:monitoring_reportsubscription_changelist")
    data = {"action": "send_latest", "_selected_action": [mine.pk, theirs.pk]}
    with time_machine.travel(at(22, 3), tick=False):
        client.post(url, data)
        client.post(url, data)
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]
    assert "Maple Yards" in mail.outbox[0].subject
