"""Fixtures of the alert tests: an organization with the default rules, chargers in
it, and an evaluation that runs its after-commit work (emails) like production."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail

from apps.chargers.models import Charger, Connector
from apps.monitoring.models import AlertRule
from apps.monitoring.services.alerts import alert_rules_ensure_defaults, alerts_evaluate
from tests import factories

# The running OCPP server of the end-to-end tests (test_e2e.py).
from tests.ocpp_consumer.conftest import _daphne, ocpp_server  # noqa: F401

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    """A fake clock at T0 that tests move by hand (`clock.shift(timedelta)`)."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def rules_a(org_a) -> dict[str, AlertRule]:
    alert_rule_defaults = alert_rules_ensure_defaults(organization=org_a)
    return {rule.kind: rule for rule in alert_rule_defaults}


def set_rule(org: Any, kind: str, **fields: Any) -> AlertRule:
    rule = AlertRule.objects.get(organization=org, kind=kind)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.save()
    return rule


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """Run one evaluation at the fake clock's now, with its after-commit work."""

    def run(**kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return alerts_evaluate(**kwargs)

    return run


def make_charger(
    org: Any, *, online: bool = True, seen_ago: timedelta = timedelta(0), **kw: Any
) -> Charger:
    from django.utils import timezone

    now = timezone.now()
    return factories.ChargerFactory(
        zone__property__organization=org,
        channel_name=f"specific.test!{uuid.uuid4().hex}" if online else "",
        last_seen_at=now - seen_ago,
        connected_at=now - seen_ago,
        disconnected_at=None if online else now - seen_ago,
        **kw,
    )


def make_connector(
    charger: Charger, status: str, *, since: timedelta = timedelta(0), number: int = 1, **kw: Any
) -> Connector:
    from django.utils import timezone

    return factories.ConnectorFactory(
        charger=charger, connector_id=number, status=status, status_at=timezone.now() - since, **kw
    )


def emails_to(address: str) -> list[Any]:
    return [m for m in mail.outbox if address in m.to]
