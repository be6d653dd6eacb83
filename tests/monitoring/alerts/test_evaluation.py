"""Alert evaluation without sockets: each rule kind opens one alert per problem
after its threshold, resolves it when the condition clears, escalates once, and
emails the organization's managers (one email per organization and event)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    CommandLog,
    Connector,
    SessionEvent,
    StatusChange,
)
from apps.monitoring.models import Alert, AlertRule, Notification
from apps.monitoring.selectors.alerts import Problem
from apps.monitoring.services import alerts as alert_services
from apps.monitoring.services.alerts import alert_rules_ensure_defaults
from tests import factories
from tests.monitoring.alerts.conftest import emails_to, make_charger, make_connector, set_rule

pytestmark = pytest.mark.django_db

Kind = AlertRule.Kind
MIN = timedelta(minutes=1)


def open_alerts(kind: str | None = None) -> list[Alert]:
    alerts = Alert.objects.filter(status=Alert.Status.OPEN)
    if kind:
        alerts = alerts.filter(kind=kind)
    return list(alerts.order_by("pk"))


# --- offline ----------------------------------------------------------------------------


def test_silent_charger_raises_one_offline_alert_and_one_email_then_resolves(
    clock, rules_a, manager_a, org_a, evaluate
):
    charger = make_charger(org_a, online=True)
    evaluate()
    assert open_alerts() == []

    clock.shift(14 * MIN)
    evaluate()
    assert open_alerts() == [], "within the 15 min threshold"

    clock.shift(2 * MIN)
    evaluate()
    [alert] = open_alerts(Kind.CHARGER_OFFLINE)
    assert alert.charger == charger
    assert alert.organization == org_a
    assert "no heartbeat" in alert.title
    assert alert.severity == Alert.Severity.CRITICAL
    assert alert.since_at == charger.last_seen_at
    [email] = emails_to(manager_a.email)
    assert charger.charge_point_id in email.subject
    assert charger.charge_point_id in email.body
    html, mime = email.alternatives[0]
    assert mime == "text/html" and charger.charge_point_id in html
    assert f"/admin/monitoring/alert/{alert.pk}/change/" in email.body

    # Evaluating again and again changes nothing: one alert, one email.
    for _ in range(3):
        clock.shift(MIN)
        evaluate()
    assert len(open_alerts()) == 1
    assert len(mail.outbox) == 1

    # It speaks again: resolved, and by default nobody is emailed about that.
    Charger.objects.filter(pk=charger.pk).update(last_seen_at=timezone.now())
    evaluate()
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    assert alert.resolved_at == timezone.now()
    assert alert.resolved_reason == "condition cleared"
    assert len(mail.outbox) == 1
    [notification] = Notification.objects.all()
    assert notification.kind == Notification.Kind.ALERT_OPENED
    assert notification.status == Notification.Status.SENT
    assert list(notification.alerts.all()) == [alert]
    assert notification.recipients == [manager_a.email]


def test_dropped_socket_counts_from_the_disconnect(clock, rules_a, org_a, evaluate):
    charger = make_charger(org_a, online=False, seen_ago=10 * MIN)
    evaluate()
    assert open_alerts() == []
    clock.shift(6 * MIN)
    evaluate()
    [alert] = open_alerts()
    assert alert.charger == charger
    assert "connection dropped" in alert.title


def test_never_connected_and_pending_chargers_are_not_offline(clock, rules_a, org_a, evaluate):
    factories.ChargerFactory(zone__property__organization=org_a)  # never seen
    make_charger(org_a, online=False, seen_ago=60 * MIN, registration=Charger.Registration.PENDING)
    evaluate()
    assert open_alerts() == []


def test_resolved_problem_that_returns_opens_a_new_alert(clock, rules_a, org_a, evaluate):
    charger = make_charger(org_a, online=False, seen_ago=20 * MIN)
    evaluate()
    first = open_alerts()[0]
    Charger.objects.filter(pk=charger.pk).update(
        channel_name="specific.x!1", last_seen_at=timezone.now()
    )
    evaluate()
    clock.shift(30 * MIN)
    evaluate()
    second = open_alerts()[0]
    assert second.pk != first.pk
    assert Alert.objects.filter(charger=charger).count() == 2


# --- connectors ---------------------------------------------------------------------------


def test_faulted_connector_alert_carries_error_and_vendor_codes(clock, rules_a, org_a, evaluate):
    charger = make_charger(org_a)
    connector = make_connector(
        charger,
        Connector.Status.FAULTED,
        since=2 * MIN,
        error_code="GroundFailure",
        vendor_error_code="E-17",
    )
    evaluate()
    assert open_alerts() == [], "the faulted rule waits 5 minutes"
    clock.shift(4 * MIN)
    evaluate()
    [alert] = open_alerts(Kind.CONNECTOR_FAULTED)
    assert alert.connector == connector
    assert "GroundFailure" in alert.title and "E-17" in alert.title
    assert alert.details == {"error_code": "GroundFailure", "vendor_error_code": "E-17"}

    Connector.objects.filter(pk=connector.pk).update(status=Connector.Status.AVAILABLE)
    evaluate()
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED


def test_each_faulted_connector_is_its_own_problem(clock, rules_a, org_a, evaluate):
    charger = make_charger(org_a)
    make_connector(charger, Connector.Status.FAULTED, since=10 * MIN, number=1)
    make_connector(charger, Connector.Status.FAULTED, since=10 * MIN, number=2)
    evaluate()
    assert len(open_alerts(Kind.CONNECTOR_FAULTED)) == 2
    # Both in one email.
    [notification] = Notification.objects.all()
    assert notification.alerts.count() == 2
    assert "2 new alerts" in notification.subject


def test_preparing_too_long(clock, rules_a, org_a, evaluate):
    charger = make_charger(org_a)
    make_connector(charger, Connector.Status.PREPARING, since=29 * MIN)
    evaluate()
    assert open_alerts() == []
    clock.shift(2 * MIN)
    evaluate()
    [alert] = open_alerts(Kind.PREPARING_TOO_LONG)
    assert "Preparing" in alert.title


def _session(charger: Charger, connector: Connector, started_ago: timedelta) -> ChargingSession:
    return factories.ChargingSessionFactory(
        charger=charger, connector=connector, started_at=timezone.now() - started_ago
    )


def test_session_authorized_but_never_charging(clock, rules_a, org_a, evaluate):
    charger = make_charger(org_a)
    connector = make_connector(charger, Connector.Status.SUSPENDED_EV, since=20 * MIN)
    session = _session(charger, connector, 20 * MIN)
    evaluate()
    [alert] = open_alerts(Kind.SESSION_NOT_STARTED)
    assert alert.details["session_id"] == session.pk

    # The car starts drawing: the Charging status clears it.
    StatusChange.objects.create(
        charger=charger,
        connector=connector,
        status=Connector.Status.CHARGING,
        reported_at=timezone.now(),
    )
    evaluate()
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED


def test_session_that_charged_per_its_transaction_events_is_started(
    clock, rules_a, org_a, evaluate
):
    charger = make_charger(org_a, ocpp_version="2.0.1")
    connector = make_connector(charger, Connector.Status.OCCUPIED, since=30 * MIN)
    session = _session(charger, connector, 30 * MIN)
    SessionEvent.objects.create(
        session=session,
        seq_no=1,
        kind=SessionEvent.Kind.UPDATED,
        charging_state="charging",
        reported_at=timezone.now() - 25 * MIN,
    )
    evaluate()
    assert open_alerts(Kind.SESSION_NOT_STARTED) == []


def test_session_that_never_ends(clock, rules_a, org_a, evaluate):
    set_rule(org_a, Kind.SESSION_NEVER_ENDS, threshold_minutes=24 * 60)
    charger = make_charger(org_a)
    connector = make_connector(charger, Connector.Status.CHARGING, since=25 * 60 * MIN)
    session = _session(charger, connector, 25 * 60 * MIN)
    factories.MeterSampleFactory(session=session, sampled_at=timezone.now())
    evaluate()
    [alert] = open_alerts(Kind.SESSION_NEVER_ENDS)
    assert "25 h" in alert.title
    ChargingSession.objects.filter(pk=session.pk).update(
        state=ChargingSession.State.COMPLETED, stopped_at=timezone.now()
    )
    evaluate()
    assert open_alerts(Kind.SESSION_NEVER_ENDS) == []


def test_no_meter_values_while_charging(clock, rules_a, org_a, evaluate):
    charger = make_charger(org_a)
    connector = make_connector(charger, Connector.Status.CHARGING, since=60 * MIN)
    session = _session(charger, connector, 60 * MIN)
    factories.MeterSampleFactory(session=session, sampled_at=timezone.now() - 20 * MIN)
    evaluate()
    assert open_alerts() == [], "20 min without values, the rule waits 30"
    clock.shift(11 * MIN)
    evaluate()
    [alert] = open_alerts(Kind.METER_VALUES_MISSING)
    assert "31 min" in alert.title
    factories.MeterSampleFactory(session=session, sampled_at=timezone.now(), value=2_000)
    evaluate()
    assert open_alerts() == []


# --- counting kinds -----------------------------------------------------------------------


def test_charger_rejecting_commands(clock, rules_a, org_a, evaluate):
    charger = make_charger(org_a)
    for status in ("Rejected", "Accepted", "Rejected"):
        CommandLog.objects.create(
            charger=charger,
            command="remote-start",
            source=CommandLog.Source.API,
            outcome=CommandLog.Outcome.ANSWERED,
            status=status,
        )
    evaluate()
    assert open_alerts() == [], "two refusals, the rule counts three"
    CommandLog.objects.create(
        charger=charger,
        command="unlock-connector",
        source=CommandLog.Source.ADMIN,
        outcome=CommandLog.Outcome.ERROR,
        error="call_error: NotImplemented",
    )
    evaluate()
    [alert] = open_alerts(Kind.COMMANDS_REJECTED)
    assert alert.details == {"count": 3, "window_minutes": 60}
    # An hour later the refusals are out of the window.
    clock.shift(61 * MIN)
    evaluate()
    assert open_alerts(Kind.COMMANDS_REJECTED) == []


def test_repeated_reboots(clock, rules_a, org_a, evaluate):
    charger = make_charger(org_a)
    for _ in range(3):
        ChargerEvent.objects.create(charger=charger, kind=ChargerEvent.Kind.BOOT, summary="boot")
    ChargerEvent.objects.create(
        charger=make_charger(org_a), kind=ChargerEvent.Kind.BOOT, summary="one boot is fine"
    )
    evaluate()
    [alert] = open_alerts(Kind.REPEATED_REBOOTS)
    assert alert.charger == charger
    assert "3 times" in alert.title


# --- escalation and acknowledgement ---------------------------------------------------------


def test_escalates_once_to_escalation_recipients(clock, rules_a, org_a, manager_a, evaluate):
    set_rule(
        org_a,
        Kind.CHARGER_OFFLINE,
        escalate_after_minutes=60,
        extra_recipients="desk@example.com",
        escalation_recipients="tech@example.com, oncall@example.com",
    )
    make_charger(org_a, online=False, seen_ago=20 * MIN)
    evaluate()
    [alert] = open_alerts()
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {manager_a.email, "desk@example.com"}

    clock.shift(59 * MIN)
    evaluate()
    assert len(mail.outbox) == 1
    clock.shift(MIN)
    evaluate()
    alert.refresh_from_db()
    assert alert.escalated_at == timezone.now()
    assert "60 min" in alert.escalation_reason
    assert len(mail.outbox) == 2
    escalation = mail.outbox[1]
    assert "ESCALATED" in escalation.subject
    assert set(escalation.to) == {
        manager_a.email,
        "desk@example.com",
        "tech@example.com",
        "oncall@example.com",
    }
    for _ in range(3):
        clock.shift(30 * MIN)
        evaluate()
    assert len(mail.outbox) == 2


def test_acknowledged_alert_is_not_escalated(clock, rules_a, org_a, manager_a, evaluate):
    set_rule(org_a, Kind.CHARGER_OFFLINE, escalate_after_minutes=30)
    make_charger(org_a, online=False, seen_ago=20 * MIN)
    evaluate()
    [alert] = open_alerts()
    alert_services.alert_acknowledge(user=manager_a, alert_id=alert.pk)
    clock.shift(60 * MIN)
    evaluate()
    alert.refresh_from_db()
    assert alert.escalated_at is None
    assert alert.acknowledged_by == manager_a
    assert alert.status == Alert.Status.OPEN


def test_resolve_email_when_the_rule_asks(clock, rules_a, org_a, manager_a, evaluate):
    set_rule(org_a, Kind.CHARGER_OFFLINE, notify_on_resolve=True)
    charger = make_charger(org_a, online=False, seen_ago=20 * MIN)
    evaluate()
    Charger.objects.filter(pk=charger.pk).update(
        channel_name="specific.x!1", last_seen_at=timezone.now()
    )
    evaluate()
    assert [m.subject.split(":")[0] for m in mail.outbox] == [
        "[Plugboard] Alert",
        "[Plugboard] Resolved",
    ]


def test_disabled_rule_opens_nothing_and_resolves_its_open_alerts(clock, rules_a, org_a, evaluate):
    make_charger(org_a, online=False, seen_ago=20 * MIN)
    evaluate()
    [alert] = open_alerts()
    set_rule(org_a, Kind.CHARGER_OFFLINE, is_enabled=False)
    evaluate()
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    assert alert.resolved_reason == "rule disabled"
    clock.shift(MIN)
    evaluate()
    assert open_alerts() == []


def test_no_managers_with_email_is_recorded(clock, org_a, evaluate):
    alert_rules_ensure_defaults(organization=org_a)
    make_charger(org_a, online=False, seen_ago=20 * MIN)
    evaluate()
    [notification] = Notification.objects.all()
    assert notification.status == Notification.Status.NO_RECIPIENTS
    assert mail.outbox == []


# --- tenants -------------------------------------------------------------------------------


def test_each_organization_hears_only_about_its_own_chargers(
    clock, rules_a, org_a, org_b, manager_a, evaluate
):
    manager_b = factories.UserFactory(username="manager_b")
    factories.MembershipFactory(user=manager_b, organization=org_b)
    alert_rules_ensure_defaults(organization=org_b)
    set_rule(org_b, Kind.CHARGER_OFFLINE, threshold_minutes=60)
    charger_a = make_charger(org_a, online=False, seen_ago=20 * MIN)
    charger_b = make_charger(org_b, online=False, seen_ago=20 * MIN)
    evaluate()
    [alert] = open_alerts()
    assert alert.charger == charger_a, "B's threshold is an hour"
    clock.shift(45 * MIN)
    evaluate()
    alert_b = Alert.objects.get(charger=charger_b)
    assert alert_b.organization == org_b
    [to_a] = emails_to(manager_a.email)
    [to_b] = emails_to(manager_b.email)
    assert charger_a.charge_point_id in to_a.body and charger_b.charge_point_id not in to_a.body
    assert charger_b.charge_point_id in to_b.body and charger_a.charge_point_id not in to_b.body


def test_organization_without_rules_gets_no_alerts(clock, org_b, evaluate):
    make_charger(org_b, online=False, seen_ago=60 * MIN)
    evaluate()
    assert open_alerts() == []


# --- scale and races ---------------------------------------------------------------------


def _world(org, n: int) -> None:
    for _ in range(n):
        charger = make_charger(org, online=False, seen_ago=30 * MIN)
        make_connector(charger, Connector.Status.FAULTED, since=30 * MIN, error_code="OtherError")
        connector = make_connector(charger, Connector.Status.CHARGING, since=60 * MIN, number=2)
        _session(charger, connector, 60 * MIN)
        ChargerEvent.objects.create(charger=charger, kind=ChargerEvent.Kind.BOOT)


def test_queries_do_not_grow_with_chargers(clock, org_a, org_b, evaluate):
    """A handful of queries per kind, not per charger: two chargers with problems of
    every kind cost the same as eight."""
    for org in (org_a, org_b):
        alert_rules_ensure_defaults(organization=org)
    _world(org_a, 2)
    with CaptureQueriesContext(connection) as few:
        evaluate()
    opened_few = Alert.objects.count()
    Alert.objects.all().delete()
    _world(org_a, 6)
    with CaptureQueriesContext(connection) as many:
        evaluate()
    assert Alert.objects.count() > opened_few
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_an_alert_opened_meanwhile_is_kept_not_duplicated(clock, rules_a, org_a):
    charger = make_charger(org_a, online=False, seen_ago=30 * MIN)
    other = make_charger(org_a, online=False, seen_ago=30 * MIN)
    now = timezone.now()
    # Another evaluation opened this one between our read and our insert.
    theirs = Alert.objects.create(
        organization=org_a,
        kind=Kind.CHARGER_OFFLINE,
        charger=charger,
        title="theirs",
        opened_at=now,
    )
    rule = rules_a[Kind.CHARGER_OFFLINE]
    problems = [
        Problem(org_a.pk, c.pk, None, now - 30 * MIN, f"{c} offline") for c in (charger, other)
    ]
    created = alert_services._open(
        kind=Kind.CHARGER_OFFLINE, problems=problems, rules={org_a.pk: rule}, now=now
    )
    assert [a.charger for a in created] == [other]
    assert list(Alert.objects.filter(charger=charger)) == [theirs]


# --- rules ----------------------------------------------------------------------------------


def test_defaults_are_idempotent_and_keep_managers_changes(org_a):
    created = alert_rules_ensure_defaults(organization=org_a)
    assert {r.kind for r in created} == set(Kind.values)
    set_rule(org_a, Kind.CHARGER_OFFLINE, threshold_minutes=45)
    assert alert_rules_ensure_defaults(organization=org_a) == []
    assert AlertRule.objects.filter(organization=org_a).count() == len(Kind.values)
    assert (
        AlertRule.objects.get(organization=org_a, kind=Kind.CHARGER_OFFLINE).threshold_minutes == 45
    )


def test_remedy_only_for_connector_kinds(org_a):
    rule = AlertRule(organization=org_a, kind=Kind.CHARGER_OFFLINE, remedy="soft_reset")
    with pytest.raises(ValidationError, match="remedies apply"):
        rule.full_clean()
    with pytest.raises(ValidationError, match="Not an email address"):
        AlertRule(
            organization=org_a, kind=Kind.REPEATED_REBOOTS, extra_recipients="a@b.c, nope"
        ).full_clean()


def test_a_dead_socket_swept_late_counts_from_the_last_word(clock, rules_a, org_a, evaluate):
    """The presence sweep notices a dead socket 12 minutes after the charger's last
    word: the offline time counts from that word (plus the seen-write throttle),
    not from the sweep."""
    charger = make_charger(org_a, online=True)
    evaluate()
    clock.shift(12 * MIN)
    Charger.objects.filter(pk=charger.pk).update(channel_name="", disconnected_at=timezone.now())
    clock.shift(4 * MIN)
    evaluate()
    [alert] = open_alerts()
    assert alert.since_at == charger.last_seen_at + MIN


def test_one_failing_kind_does_not_stop_the_others(clock, rules_a, org_a, evaluate, monkeypatch):
    from apps.monitoring.selectors import alerts as selectors

    def broken(**kwargs):
        raise RuntimeError("detector bug")

    monkeypatch.setitem(selectors.DETECTORS, Kind.CONNECTOR_FAULTED, broken)
    make_charger(org_a, online=False, seen_ago=20 * MIN)
    with pytest.raises(ExceptionGroup) as raised:
        evaluate()
    assert str(raised.value.exceptions[0]) == "detector bug"
    assert len(open_alerts(Kind.CHARGER_OFFLINE)) == 1


def test_a_charger_faulted_as_a_whole(clock, rules_a, org_a, evaluate):
    set_rule(org_a, Kind.CONNECTOR_FAULTED, remedy="")
    charger = make_charger(org_a)
    make_connector(charger, Connector.Status.AVAILABLE)

    def report(status: str, ago: timedelta, error_code: str = "") -> None:
        StatusChange.objects.create(
            charger=charger,
            connector=None,
            status=status,
            error_code=error_code,
            vendor_error_code="PWR-3" if error_code else "",
            reported_at=timezone.now() - ago,
        )

    report(Connector.Status.AVAILABLE, 30 * MIN)
    report(Connector.Status.FAULTED, 10 * MIN, "PowerMeterFailure")
    evaluate()
    [alert] = open_alerts(Kind.CONNECTOR_FAULTED)
    assert alert.connector is None
    assert alert.title == f"{charger} is faulted (PowerMeterFailure, vendor code PWR-3)"
    report(Connector.Status.AVAILABLE, timedelta(0))
    evaluate()
    assert open_alerts() == []


def test_a_whole_charger_fault_older_than_a_day_stays_open_until_cleared(
    clock, rules_a, org_a, evaluate
):
    set_rule(org_a, Kind.CONNECTOR_FAULTED, remedy="")
    charger = make_charger(org_a)
    StatusChange.objects.create(
        charger=charger,
        status=Connector.Status.FAULTED,
        error_code="OtherError",
        reported_at=timezone.now(),
    )
    clock.shift(10 * MIN)
    evaluate()
    [alert] = open_alerts(Kind.CONNECTOR_FAULTED)
    clock.shift(timedelta(days=2))
    Charger.objects.filter(pk=charger.pk).update(last_seen_at=timezone.now())
    evaluate()
    assert open_alerts(Kind.CONNECTOR_FAULTED) == [alert]
    StatusChange.objects.create(
        charger=charger, status=Connector.Status.AVAILABLE, reported_at=timezone.now()
    )
    evaluate()
    assert open_alerts(Kind.CONNECTOR_FAULTED) == []
