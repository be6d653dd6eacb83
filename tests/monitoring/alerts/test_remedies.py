"""Self-healing without a station: which alerts get an automatic remedy and when
(back-off, attempts per alert, cap per charger and day), and escalation to a
person when remedies do not help. The commands really go out through the command
service and the channel layer; nobody holds these chargers' sockets, so each ends
as "no answer" after a short timeout (a charger that answers is in test_e2e.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.chargers.models import Charger, CommandLog, Connector
from apps.monitoring.models import Alert, AlertRule, RemedyAttempt
from apps.monitoring.services import alerts as alert_services
from apps.monitoring.services.remedies import _steps
from tests.monitoring.alerts.conftest import make_charger, make_connector, set_rule

# Transactional: the command service reads and writes from its own thread.
pytestmark = pytest.mark.django_db(transaction=True)

Kind = AlertRule.Kind
MIN = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _short_timeout(settings):
    settings.ALERTS_REMEDY_TIMEOUT_S = 0.2


@pytest.fixture
def faulted(org_a, rules_a):
    # The test's chargers never heartbeat: the offline rule would speak up too.
    set_rule(org_a, Kind.CHARGER_OFFLINE, is_enabled=False)
    charger = make_charger(org_a)
    connector = make_connector(
        charger, Connector.Status.FAULTED, since=6 * MIN, error_code="OtherError"
    )
    return charger, connector


def attempts() -> list[RemedyAttempt]:
    return list(RemedyAttempt.objects.order_by("pk"))


def test_soft_reset_with_backoff_then_escalation(clock, faulted, org_a, manager_a, evaluate):
    charger, connector = faulted
    evaluate()
    [alert] = Alert.objects.filter(kind=Kind.CONNECTOR_FAULTED)
    [first] = attempts()
    assert (first.alert, first.charger, first.connector) == (alert, charger, connector)
    assert (first.action, first.attempt) == (AlertRule.Remedy.SOFT_RESET, 1)
    # Sent through the command service, logged as a system command, with the outcome.
    assert first.outcome == RemedyAttempt.Outcome.NO_ANSWER
    [command] = first.commands.all()
    assert (command.command, command.params, command.source) == (
        "reset",
        {"type": "soft"},
        CommandLog.Source.SYSTEM,
    )
    assert command.outcome == CommandLog.Outcome.TIMEOUT

    clock.shift(9 * MIN)
    evaluate()
    assert len(attempts()) == 1, "10 min back-off after the first attempt"
    clock.shift(MIN)
    evaluate()
    assert [a.attempt for a in attempts()] == [1, 2]

    clock.shift(19 * MIN)
    evaluate()
    alert.refresh_from_db()
    assert alert.escalated_at is None, "20 min back-off after the second attempt"
    clock.shift(MIN)
    evaluate()
    alert.refresh_from_db()
    assert alert.escalated_at == timezone.now()
    assert "soft reset did not clear it (2 attempts)" in alert.escalation_reason
    assert [m.subject.split(":")[0] for m in mail.outbox] == [
        "[Plugboard] Alert",
        "[Plugboard] ESCALATED",
    ]
    assert "soft reset did not clear it" in mail.outbox[1].body
    assert "Automatic remedies tried: 2" in mail.outbox[1].body

    # Escalated: left to people, no more commands, no more emails.
    for _ in range(5):
        clock.shift(60 * MIN)
        evaluate()
    assert len(attempts()) == 2
    assert len(mail.outbox) == 2
    assert CommandLog.objects.filter(source=CommandLog.Source.SYSTEM).count() == 2


def test_error_code_not_listed_gets_no_remedy(clock, org_a, rules_a, evaluate):
    charger = make_charger(org_a)
    make_connector(charger, Connector.Status.FAULTED, since=6 * MIN, error_code="GroundFailure")
    evaluate()
    assert Alert.objects.filter(kind=Kind.CONNECTOR_FAULTED).exists()
    assert attempts() == []


def test_any_error_code_when_the_rule_lists_none(clock, faulted, org_a, evaluate):
    set_rule(org_a, Kind.CONNECTOR_FAULTED, remedy_error_codes="", remedy="hard_reset")
    evaluate()
    [attempt] = attempts()
    assert attempt.action == AlertRule.Remedy.HARD_RESET
    assert attempt.commands.get().params == {"type": "hard"}


def test_daily_cap_per_charger_escalates(clock, faulted, org_a, evaluate):
    charger, connector = faulted
    set_rule(
        org_a,
        Kind.CONNECTOR_FAULTED,
        remedy_daily_cap=2,
        remedy_max_attempts=1,
        remedy_backoff_minutes=1,
    )
    # Faults that come back after each reset: each new alert gets its attempt...
    for _ in range(2):
        evaluate()
        Connector.objects.filter(pk=connector.pk).update(status=Connector.Status.AVAILABLE)
        clock.shift(MIN)
        evaluate()
        Connector.objects.filter(pk=connector.pk).update(
            status=Connector.Status.FAULTED, status_at=timezone.now() - 6 * MIN
        )
    assert len(attempts()) == 2
    # ...until the charger's cap for the day is used up: a person is told at once.
    evaluate()
    alert = Alert.objects.get(kind=Kind.CONNECTOR_FAULTED, status=Alert.Status.OPEN)
    assert len(attempts()) == 2
    assert "daily cap of 2" in alert.escalation_reason

    # A day after the first attempt, remedies are allowed again (for a new alert).
    Connector.objects.filter(pk=connector.pk).update(status=Connector.Status.AVAILABLE)
    clock.shift(24 * 60 * MIN)
    evaluate()
    Connector.objects.filter(pk=connector.pk).update(
        status=Connector.Status.FAULTED, status_at=timezone.now() - 6 * MIN
    )
    evaluate()
    assert len(attempts()) == 3


def test_offline_charger_gets_no_command(clock, faulted, evaluate):
    charger, _ = faulted
    Charger.objects.filter(pk=charger.pk).update(channel_name="")
    evaluate()
    assert Alert.objects.filter(kind=Kind.CONNECTOR_FAULTED).exists()
    assert attempts() == []
    assert not CommandLog.objects.exists()


def test_acknowledged_alert_gets_no_more_remedies(clock, faulted, manager_a, evaluate):
    evaluate()
    alert = Alert.objects.get(kind=Kind.CONNECTOR_FAULTED)
    alert_services.alert_acknowledge(user=manager_a, alert_id=alert.pk)
    clock.shift(60 * MIN)
    evaluate()
    assert len(attempts()) == 1
    alert.refresh_from_db()
    assert alert.escalated_at is None


def test_preparing_too_long_can_unlock(clock, org_a, rules_a, evaluate):
    set_rule(org_a, Kind.PREPARING_TOO_LONG, remedy="unlock_connector")
    charger = make_charger(org_a)
    make_connector(charger, Connector.Status.PREPARING, since=31 * MIN, number=2)
    evaluate()
    [attempt] = attempts()
    assert attempt.commands.get().params == {"connector_id": 2}
    assert attempt.commands.get().command == "unlock-connector"


def test_availability_toggle_is_two_commands():
    attempt = RemedyAttempt(action=AlertRule.Remedy.AVAILABILITY_TOGGLE)
    assert _steps(attempt, 3) == [
        ("change-availability", {"connector_id": 3, "available": False}),
        ("change-availability", {"connector_id": 3, "available": True}),
    ]


def test_a_whole_charger_toggles_connector_zero_and_is_never_unlocked():
    toggle = RemedyAttempt(action=AlertRule.Remedy.AVAILABILITY_TOGGLE)
    assert _steps(toggle, None)[0] == (
        "change-availability",
        {"connector_id": 0, "available": False},
    )
    rule = AlertRule(kind=Kind.CONNECTOR_FAULTED, remedy=AlertRule.Remedy.UNLOCK_CONNECTOR)
    whole = Alert(kind=Kind.CONNECTOR_FAULTED, connector=None, details={"error_code": "X"})
    from apps.monitoring.services.remedies import _applies

    assert not _applies(rule, whole)


def test_two_faulted_connectors_of_one_charger_share_one_reset(clock, faulted, evaluate):
    charger, _ = faulted
    make_connector(
        charger, Connector.Status.FAULTED, since=6 * MIN, number=2, error_code="OtherError"
    )
    evaluate()
    both = attempts()
    assert len(both) == 2
    assert {a.connector.connector_id for a in both} == {1, 2}
    [command] = CommandLog.objects.filter(source=CommandLog.Source.SYSTEM)
    assert all(list(a.commands.all()) == [command] for a in both)
