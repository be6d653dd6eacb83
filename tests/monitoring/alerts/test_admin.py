"""Alerts in the admin (tenancy of every page is proven for these models by
tests/test_admin_tenancy.py): the acknowledge action, rule editing, the remedy log."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.monitoring.models import Alert, AlertRule, RemedyAttempt
from apps.monitoring.services.alerts import alert_rules_ensure_defaults
from apps.sites.models import Membership
from tests import factories
from tests.monitoring.alerts.conftest import make_charger

pytestmark = pytest.mark.django_db


def _alert(org) -> Alert:
    charger = make_charger(org)
    return Alert.objects.create(
        organization=org,
        kind=AlertRule.Kind.CHARGER_OFFLINE,
        charger=charger,
        title=f"{charger} is offline",
        opened_at=timezone.now(),
    )


def _acknowledge(client, pks):
    return client.post(
        reverse("admin:monitoring_alert_changelist"),
        {"action": "acknowledge", "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


def test_manager_acknowledges_own_alerts_only(client, manager_a, org_a, org_b):
    mine, theirs = _alert(org_a), _alert(org_b)
    client.force_login(manager_a)
    response = _acknowledge(client, [mine.pk, theirs.pk])
    assert "1 alert(s) acknowledged." in response.text
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.acknowledged_by == manager_a
    assert theirs.acknowledged_at is None


def test_viewer_cannot_acknowledge(client, org_a):
    viewer = factories.UserFactory(username="viewer")
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    alert = _alert(org_a)
    client.force_login(viewer)
    page = client.get(reverse("admin:monitoring_alert_changelist"))
    assert page.status_code == 200
    assert alert.title in page.text
    assert 'value="acknowledge"' not in page.text
    _acknowledge(client, [alert.pk])
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_changelist_filters_open_and_resolved(client, manager_a, org_a):
    open_alert = _alert(org_a)
    resolved = _alert(org_a)
    Alert.objects.filter(pk=resolved.pk).update(
        status=Alert.Status.RESOLVED, resolved_at=timezone.now()
    )
    client.force_login(manager_a)
    response = client.get(reverse("admin:monitoring_alert_changelist"), {"status__exact": "open"})
    assert list(response.context["cl"].result_list) == [open_alert]


def test_manager_edits_a_rule_of_their_organization(client, manager_a, org_a):
    alert_rules_ensure_defaults(organization=org_a)
    rule = AlertRule.objects.get(organization=org_a, kind=AlertRule.Kind.CHARGER_OFFLINE)
    client.force_login(manager_a)
    url = reverse("admin:monitoring_alertrule_change", args=[rule.pk])
    data = {
        "organization": org_a.pk,
        "kind": rule.kind,
        "is_enabled": "on",
        "severity": "critical",
        "threshold_minutes": 30,
        "threshold_count": 3,
        "escalate_after_minutes": 120,
        "notify_managers": "on",
        "extra_recipients": "desk@example.com",
        "escalation_recipients": "",
        "remedy": "",
        "remedy_error_codes": "",
        "remedy_max_attempts": 2,
        "remedy_backoff_minutes": 10,
        "remedy_daily_cap": 3,
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule.refresh_from_db()
    assert (rule.threshold_minutes, rule.escalate_after_minutes) == (30, 120)

    # A remedy on the offline rule, a bad address: form errors, nothing saved.
    bad = client.post(url, data | {"remedy": "soft_reset", "extra_recipients": "not-an-address"})
    assert bad.status_code == 200
    errors = bad.context["adminform"].form.errors
    assert "extra_recipients" in errors
    assert "remedy" in errors or "__all__" in errors


def test_manager_cannot_add_a_rule_to_another_organization(client, manager_a, org_b):
    client.force_login(manager_a)
    response = client.post(
        reverse("admin:monitoring_alertrule_add"),
        {
            "organization": org_b.pk,
            "kind": "charger_offline",
            "severity": "warning",
            "threshold_minutes": 15,
            "threshold_count": 3,
            "remedy_max_attempts": 2,
            "remedy_backoff_minutes": 10,
            "remedy_daily_cap": 3,
        },
    )
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not AlertRule.objects.filter(organization=org_b).exists()


def test_alert_page_shows_its_remedy_attempts(client, manager_a, org_a):
    alert = _alert(org_a)
    RemedyAttempt.objects.create(
        organization=org_a,
        alert=alert,
        charger=alert.charger,
        action=AlertRule.Remedy.SOFT_RESET,
        attempt=1,
        outcome=RemedyAttempt.Outcome.ACCEPTED,
        detail="reset: Accepted",
        created_at=timezone.now(),
    )
    client.force_login(manager_a)
    page = client.get(reverse("admin:monitoring_alert_change", args=[alert.pk]))
    assert page.status_code == 200
    assert "reset: Accepted" in page.text
    log = client.get(reverse("admin:monitoring_remedyattempt_changelist"))
    assert "Soft reset" in log.text


def test_changelist_filters_what_nobody_took_in_hand(client, manager_a, org_a):
    waiting, taken = _alert(org_a), _alert(org_a)
    Alert.objects.filter(pk=taken.pk).update(acknowledged_at=timezone.now())
    client.force_login(manager_a)
    url = reverse("admin:monitoring_alert_changelist")
    response = client.get(url, {"handling": "unacknowledged"})
    assert list(response.context["cl"].result_list) == [waiting]
    response = client.get(url, {"handling": "acknowledged"})
    assert list(response.context["cl"].result_list) == [taken]
