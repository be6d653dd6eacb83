"""Two evaluations at once (a slow round overlapping the next, or two beat
processes by mistake) open one alert and send one email per problem: the kind's
rules are locked for the round, and the database allows one open alert per
problem. Needs PostgreSQL: SQLite runs one writer at a time anyway."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.db import connections
from django.utils import timezone

from apps.monitoring.models import Alert, Notification
from apps.monitoring.services.alerts import alert_rules_ensure_defaults, alerts_evaluate
from tests.monitoring.alerts.conftest import make_charger

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def evaluate_at_once(*, now: datetime, rounds: int = 4) -> list[BaseException]:
    """Run `rounds` alert evaluations in threads released together (each with its
    own database connection); the errors they raised."""
    start = threading.Barrier(rounds)
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            start.wait()
            alerts_evaluate(now=now)
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=evaluate) for _ in range(rounds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_concurrent_evaluations_open_one_alert_and_send_one_email(org_a, manager_a):
    alert_rules_ensure_defaults(organization=org_a)
    chargers = [make_charger(org_a, online=False, seen_ago=timedelta(minutes=30)) for _ in range(5)]
    now = timezone.now()
    assert evaluate_at_once(now=now) == []
    assert Alert.objects.filter(status=Alert.Status.OPEN).count() == len(chargers)
    assert Notification.objects.count() == 1
    assert len(mail.outbox) == 1


def test_concurrent_evaluations_send_one_remedy_per_due_alert(org_a, settings):
    from apps.chargers.models import Connector
    from apps.monitoring.models import RemedyAttempt
    from tests.monitoring.alerts.conftest import make_connector

    settings.ALERTS_REMEDY_TIMEOUT_S = 0.2  # nobody holds the socket: no answer
    alert_rules_ensure_defaults(organization=org_a)
    charger = make_charger(org_a)
    make_connector(
        charger, Connector.Status.FAULTED, since=timedelta(minutes=6), error_code="OtherError"
    )
    alerts_evaluate(now=timezone.now())
    assert RemedyAttempt.objects.count() == 1
    # Past the back-off, four rounds at once decide about the second attempt.
    later = timezone.now() + timedelta(minutes=11)
    assert evaluate_at_once(now=later) == []
    assert [a.attempt for a in RemedyAttempt.objects.order_by("pk")] == [1, 2]
