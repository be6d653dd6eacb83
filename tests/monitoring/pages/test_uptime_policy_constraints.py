"""One uptime policy per organization (its default) and one per property, refused
by the database itself, on SQLite (the embedded database) as on PostgreSQL."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from apps.monitoring.models import UptimePolicy
from tests import factories

pytestmark = pytest.mark.django_db


def _constraint_names() -> set[str]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, UptimePolicy._meta.db_table)
    return set(found)


def test_uptime_policy_constraints_exist_in_the_database():
    names = _constraint_names()
    assert "monitoring_uptimepolicy_one_default_per_org" in names
    assert "monitoring_uptimepolicy_one_per_property" in names


def test_uptime_policy_second_default_of_an_organization_is_refused(org_a):
    UptimePolicy.objects.create(organization=org_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        UptimePolicy.objects.create(organization=org_a)
    assert UptimePolicy.objects.filter(organization=org_a, property=None).count() == 1


def test_uptime_policy_second_policy_of_a_property_is_refused(org_a):
    prop = factories.PropertyFactory(organization=org_a)
    UptimePolicy.objects.create(organization=org_a, property=prop)
    with pytest.raises(IntegrityError), transaction.atomic():
        UptimePolicy.objects.create(organization=org_a, property=prop)
    assert UptimePolicy.objects.filter(property=prop).count() == 1


def test_uptime_policy_default_and_property_policies_coexist(org_a, org_b):
    first = factories.PropertyFactory(organization=org_a)
    second = factories.PropertyFactory(organization=org_a)
    UptimePolicy.objects.create(organization=org_a)
    UptimePolicy.objects.create(organization=org_a, property=first)
    UptimePolicy.objects.create(organization=org_a, property=second)
    UptimePolicy.objects.create(organization=org_b)
    assert UptimePolicy.objects.count() == 4


def test_uptime_policy_duplicate_is_a_validation_error_in_forms(org_a):
    """The admin's form validation sees the same rule before the database does."""
    UptimePolicy.objects.create(organization=org_a)
    with pytest.raises(ValidationError):
        UptimePolicy(organization=org_a).validate_constraints()
