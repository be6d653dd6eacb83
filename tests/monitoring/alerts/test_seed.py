"""The demo world comes with each organization's default alert rules, once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.monitoring.models import AlertRule
from apps.sites.models import Organization

pytestmark = pytest.mark.django_db


def test_seed_demo_gives_every_organization_the_default_rules_once(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    rules = AlertRule.objects.order_by("organization_id", "kind")
    per_org = {org.pk: len(AlertRule.Kind.values) for org in Organization.objects.all()}
    assert len(per_org) == 3
    assert {org_id: rules.filter(organization_id=org_id).count() for org_id in per_org} == per_org
    faulted = rules.filter(kind=AlertRule.Kind.CONNECTOR_FAULTED).first()
    assert faulted.remedy == AlertRule.Remedy.SOFT_RESET
    # A manager's change survives a second run, which adds nothing.
    rules.filter(kind=AlertRule.Kind.CHARGER_OFFLINE).update(threshold_minutes=45)
    call_command("seed_demo", verbosity=0)
    assert rules.count() == 3 * len(AlertRule.Kind.values)
    assert set(
        rules.filter(kind=AlertRule.Kind.CHARGER_OFFLINE).values_list(
            "threshold_minutes", flat=True
        )
    ) == {45}
