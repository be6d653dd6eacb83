"""Driver emails: a session's person, if they opted in and have an address, hears
once when it ends and once when it is suspended ("move your car" / "charging
paused"); never twice, never about someone else's or an old session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.chargers.models import ChargingSession, Connector
from apps.monitoring.models import Notification
from apps.monitoring.services import notifications
from tests import factories
from tests.monitoring.alerts.conftest import make_charger, make_connector

pytestmark = pytest.mark.django_db

MIN = timedelta(minutes=1)


@pytest.fixture
def scan(django_capture_on_commit_callbacks):
    def run() -> list[Notification]:
        with django_capture_on_commit_callbacks(execute=True):
            return notifications.driver_notifications_send()

    return run


@pytest.fixture
def driver(org_a):
    return factories.PersonFactory(
        organization=org_a, first_name="Dana", email="dana@example.com", notify_session_email=True
    )


def session_for(person, connector_status: str, *, started_ago=60 * MIN, status_ago=10 * MIN):
    charger = make_charger(person.organization, name="Garage level 1")
    connector = make_connector(charger, connector_status, since=status_ago)
    return factories.ChargingSessionFactory(
        charger=charger,
        connector=connector,
        person=person,
        started_at=timezone.now() - started_ago,
        meter_start_wh=1_000,
    )


def end(session: ChargingSession, ago: timedelta = 2 * MIN) -> None:
    ChargingSession.objects.filter(pk=session.pk).update(
        state=ChargingSession.State.COMPLETED,
        stopped_at=timezone.now() - ago,
        meter_stop_wh=13_345,
    )


def test_ended_session_emails_the_driver_once(clock, driver, scan):
    session = session_for(driver, Connector.Status.FINISHING)
    end(session)
    [sent] = scan()
    assert sent.kind == Notification.Kind.SESSION_ENDED
    assert sent.session == session and sent.person == driver
    [email] = mail.outbox
    assert email.to == ["dana@example.com"]
    assert "has ended" in email.subject and "Garage level 1" in email.subject
    assert "Hello Dana" in email.body
    assert "12.35 kWh" in email.body
    assert "1 h 0 min" in email.body or "0 h 58 min" in email.body
    html, _ = email.alternatives[0]
    assert "12.35 kWh" in html
    sent.refresh_from_db()
    assert sent.status == Notification.Status.SENT

    assert scan() == []
    clock.shift(10 * MIN)
    assert scan() == []
    assert len(mail.outbox) == 1


def test_suspended_by_the_vehicle_says_move_your_car_once(clock, driver, scan):
    session = session_for(driver, Connector.Status.SUSPENDED_EV, status_ago=6 * MIN)
    [sent] = scan()
    assert sent.kind == Notification.Kind.SESSION_SUSPENDED
    [email] = mail.outbox
    assert "please move it" in email.subject
    assert "Please move it" in email.body
    clock.shift(30 * MIN)
    assert scan() == []
    # It ends later: that is another event, one more email.
    end(session, ago=MIN)
    [ended] = scan()
    assert ended.kind == Notification.Kind.SESSION_ENDED
    assert len(mail.outbox) == 2


def test_suspended_by_the_charger_says_paused(clock, driver, scan):
    session_for(driver, Connector.Status.SUSPENDED_EVSE, status_ago=6 * MIN)
    scan()
    [email] = mail.outbox
    assert "Charging paused" in email.subject
    assert "resumes by itself" in email.body


def test_a_short_suspension_is_not_worth_an_email(clock, driver, scan):
    session_for(driver, Connector.Status.SUSPENDED_EV, status_ago=2 * MIN)
    assert scan() == []
    clock.shift(4 * MIN)
    assert len(scan()) == 1


def test_a_suspension_from_before_the_session_is_not_this_sessions(clock, driver, scan):
    session_for(driver, Connector.Status.SUSPENDED_EV, started_ago=5 * MIN, status_ago=10 * MIN)
    assert scan() == []


@pytest.mark.parametrize(
    "change",
    [
        {"notify_session_email": False},
        {"email": ""},
        {"is_active": False},
    ],
    ids=["opted-out", "no-address", "inactive"],
)
def test_no_email_without_opt_in_and_address(clock, driver, scan, change):
    for name, value in change.items():
        setattr(driver, name, value)
    driver.save()
    end(session_for(driver, Connector.Status.AVAILABLE))
    assert scan() == []
    assert mail.outbox == []


def test_sessions_without_a_person_or_long_ago_get_nothing(clock, driver, scan):
    long_ago = session_for(driver, Connector.Status.AVAILABLE, started_ago=8 * 60 * MIN)
    end(long_ago, ago=7 * 60 * MIN)
    anonymous = session_for(driver, Connector.Status.AVAILABLE)
    ChargingSession.objects.filter(pk=anonymous.pk).update(person=None)
    end(anonymous)
    assert scan() == []


def test_two_scans_racing_send_one_email(clock, driver, scan):
    session = session_for(driver, Connector.Status.AVAILABLE)
    end(session)
    session.refresh_from_db()
    first = notifications._driver_claim(
        session=session, kind=Notification.Kind.SESSION_ENDED, now=timezone.now()
    )
    second = notifications._driver_claim(
        session=session, kind=Notification.Kind.SESSION_ENDED, now=timezone.now()
    )
    assert first is not None and second is None
    assert Notification.objects.filter(session=session).count() == 1


def test_a_notification_is_sent_once_even_if_its_task_runs_twice(clock, driver):
    session = session_for(driver, Connector.Status.AVAILABLE)
    end(session)
    # Recorded without running the after-commit send (the test's transaction).
    [recorded] = notifications.driver_notifications_send()
    assert notifications.notification_send(notification_id=recorded.pk) is not None
    assert notifications.notification_send(notification_id=recorded.pk) is None
    assert len(mail.outbox) == 1


def test_a_failing_mail_server_is_recorded(clock, driver, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    session = session_for(driver, Connector.Status.AVAILABLE)
    end(session)
    [recorded] = notifications.driver_notifications_send()
    failed = notifications.notification_send(notification_id=recorded.pk)
    assert failed.status == Notification.Status.FAILED
    assert "Error" in failed.error
