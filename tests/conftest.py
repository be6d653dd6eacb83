from __future__ import annotations

import os

import pytest

from apps.sites.models import Membership
from tests import factories


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL"))
        if "redis" in item.keywords and not os.environ.get("REDIS_URL"):
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL"))


@pytest.fixture
def org_a():
    return factories.OrganizationFactory(name="Org A", slug="org-a")


@pytest.fixture
def org_b():
    return factories.OrganizationFactory(name="Org B", slug="org-b")


@pytest.fixture
def manager_a(org_a):
    """A property manager of organization A (staff, so the admin lets them in)."""
    user = factories.UserFactory(username="manager_a")
    factories.MembershipFactory(
        user=user, organization=org_a, role=Membership.Role.PROPERTY_MANAGER
    )
    return user


@pytest.fixture
def superuser():
    return factories.UserFactory(username="root", is_superuser=True)
