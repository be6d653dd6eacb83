"""Finding events in what the chargers domain stored: each source, its cursor, and
which subscriptions get what."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.chargers import services as charger_services
from apps.chargers.models import ChargerEvent, ChargingSession
from apps.monitoring.models import Alert, WebhookCursor, WebhookDelivery, WebhookEvent
from apps.monitoring.services import webhooks as services
from tests import factories
from tests.monitoring.webhooks.conftest import subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def charger(org_a):
    return factories.ChargerFactory(zone__property__organization=org_a, charge_point_id="CP-1")


def collect() -> services.CollectResult:
    return services.webhook_events_collect(settle_s=0)


def types() -> list[str]:
    return list(WebhookEvent.objects.order_by("pk").values_list("type", flat=True))


def test_connection_rows_become_online_and_offline(receiver, org_a, charger):
    subscribe(receiver, org_a)
    now = timezone.now()
    charger_services.charger_connected(
        charger=charger, channel_name="chan-1", ocpp_version="1.6", at=now
    )
    # A newer socket takes over: still online, nothing to tell.
    charger_services.charger_connected(
        charger=charger, channel_name="chan-2", ocpp_version="1.6", at=now
    )
    charger_services.charger_disconnected(charger=charger, channel_name="chan-1", at=now)
    # The server process holding chan-2 died: the presence sweep notices.
    charger_services.charger_presence_sweep(now=now + timedelta(hours=1))
    assert collect().events == 3
    assert types() == ["charger.online", "charger.online", "charger.offline"]
    offline = WebhookEvent.objects.get(type="charger.offline")
    assert offline.data["reason"].startswith("Marked offline")
    assert offline.occurred_at == now + timedelta(hours=1)


def test_back_online_after_the_sweep_is_an_online_event(receiver, org_a, charger):
    subscribe(receiver, org_a, event_types=["charger.online", "charger.offline"])
    connected = timezone.now() - timedelta(hours=1)
    charger_services.charger_connected(
        charger=charger, channel_name="chan-1", ocpp_version="1.6", at=connected
    )
    charger_services.charger_presence_sweep(now=timezone.now())
    charger_services.charger_seen(
        charger=charger, at=timezone.now(), channel_name="chan-1", connected_at=connected
    )
    collect()
    assert types() == ["charger.online", "charger.offline", "charger.online"]


def test_faults_only_on_change(receiver, org_a, charger):
    subscribe(receiver, org_a, event_types=["connector.faulted"])
    now = timezone.now()
    for status, code in [
        ("available", ""),
        ("faulted", "GroundFailure"),
        ("faulted", "GroundFailure"),  # repeated
        ("faulted", "OverCurrentFailure"),  # another error: news
        ("available", ""),
    ]:
        charger_services.connector_status_update(
            charger=charger, connector_id=1, status=status, error_code=code, at=now
        )
    charger_services.connector_status_update(
        charger=charger, connector_id=0, status="faulted", error_code="PowerMeterFailure", at=now
    )
    collect()
    events = WebhookEvent.objects.order_by("pk")
    assert [(e.data["connector_id"], e.data["error_code"]) for e in events] == [
        (1, "GroundFailure"),
        (1, "OverCurrentFailure"),
        (0, "PowerMeterFailure"),
    ]


def test_session_started_and_stopped(receiver, org_a, charger):
    subscribe(receiver, org_a, event_types=["session.started", "session.stopped"])
    connector = factories.ConnectorFactory(charger=charger)
    session = factories.ChargingSessionFactory(connector=connector, meter_start_wh=100)
    collect()
    assert types() == ["session.started"]
    assert WebhookCursor.objects.get(source="sessions").watching == [session.pk]
    session.state = ChargingSession.State.COMPLETED
    session.stopped_at = timezone.now()
    session.meter_stop_wh = 2_100
    session.save()
    collect()
    assert types() == ["session.started", "session.stopped"]
    stopped = WebhookEvent.objects.get(type="session.stopped")
    assert stopped.data["session"]["energy_wh"] == 2_000
    assert stopped.event_id == f"evt_sess_{session.pk}_stopped"
    assert WebhookCursor.objects.get(source="sessions").watching == []
    assert collect().events == 0


def test_alerts_opened_and_resolved(receiver, org_a, charger):
    subscribe(receiver, org_a, event_types=["alert.opened", "alert.resolved"])
    alert = Alert.objects.create(
        organization=org_a,
        kind="charger_offline",
        charger=charger,
        title="CP-1 offline for 15 minutes",
        opened_at=timezone.now(),
        severity=Alert.Severity.CRITICAL,
    )
    collect()
    Alert.objects.filter(pk=alert.pk).update(status="resolved", resolved_at=timezone.now())
    collect()
    assert types() == ["alert.opened", "alert.resolved"]
    opened = WebhookEvent.objects.get(type="alert.opened")
    assert opened.data["alert"]["title"] == "CP-1 offline for 15 minutes"
    assert opened.data["alert"]["severity"] == "critical"


def test_history_before_the_first_subscription_is_not_replayed(receiver, org_a, charger):
    charger_services.connector_status_update(
        charger=charger,
        connector_id=1,
        status="faulted",
        error_code="GroundFailure",
        at=timezone.now(),
    )
    subscribe(receiver, org_a)
    assert collect().events == 0
    charger_services.connector_status_update(
        charger=charger,
        connector_id=1,
        status="faulted",
        error_code="HighTemperature",
        at=timezone.now(),
    )
    assert collect().events == 1


def test_rows_younger_than_the_settle_time_wait_for_the_next_run(receiver, org_a, charger):
    subscribe(receiver, org_a)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        ChargerEvent.objects.create(
            charger=charger, kind="connection", summary="Disconnected", reported_at=timezone.now()
        )
        assert services.webhook_events_collect().events == 0
        assert WebhookCursor.objects.get(source="connections").last_id == 0
        clock.shift(timedelta(seconds=services.COLLECT_SETTLE_S))
        assert services.webhook_events_collect().events == 1


def test_events_go_to_the_subscriptions_that_want_them(receiver, org_a, org_b, charger):
    other_property = factories.PropertyFactory(organization=org_a)
    other_charger = factories.ChargerFactory(zone__property=other_property)
    b_charger = factories.ChargerFactory(zone__property__organization=org_b)
    everything = subscribe(receiver, org_a)
    faults_only = subscribe(receiver, org_a, event_types=["connector.faulted"])
    one_property = subscribe(receiver, org_a, property_ids=[charger.zone.property.pk])
    of_b = subscribe(receiver, org_b)
    now = timezone.now()
    for each in (charger, other_charger, b_charger):
        charger_services.connector_status_update(
            charger=each, connector_id=1, status="faulted", error_code="GroundFailure", at=now
        )
        charger_services.charger_disconnected(charger=each, channel_name="", at=now)
    collect()

    def got(subscription) -> list[tuple[str, str]]:
        return sorted(
            WebhookDelivery.objects.filter(subscription=subscription).values_list(
                "event__type", "event__data__charger__charge_point_id"
            )
        )

    a1, a2, b = charger.charge_point_id, other_charger.charge_point_id, b_charger.charge_point_id
    assert got(everything) == sorted(
        [
            ("charger.offline", a1),
            ("charger.offline", a2),
            ("connector.faulted", a1),
            ("connector.faulted", a2),
        ]
    )
    assert got(faults_only) == sorted([("connector.faulted", a1), ("connector.faulted", a2)])
    assert got(one_property) == sorted([("charger.offline", a1), ("connector.faulted", a1)])
    assert got(of_b) == sorted([("charger.offline", b), ("connector.faulted", b)])
    # One event row per happening, however many subscriptions get it.
    assert WebhookEvent.objects.count() == 6


def test_collect_is_idempotent_after_a_lost_cursor_write(receiver, org_a, charger):
    """A run that stored events but died before moving its cursor: the next run
    reads the same rows again and creates nothing twice."""
    subscribe(receiver, org_a)
    charger_services.charger_disconnected(charger=charger, channel_name="", at=timezone.now())
    collect()
    WebhookCursor.objects.filter(source="connections").update(last_id=0)
    collect()
    assert WebhookEvent.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def test_no_active_subscription_no_work(org_a, charger):
    charger_services.charger_disconnected(charger=charger, channel_name="", at=timezone.now())
    assert collect().events == 0
    assert not WebhookCursor.objects.exists()


def test_a_subscription_activated_later_gets_no_stale_history(receiver, org_a, charger):
    """While no subscription is active nothing is collected; activating one starts
    from then, not from where the cursors stopped."""
    subscription = subscribe(receiver, org_a)
    collect()
    services.webhook_subscription_update(
        actor=factories.UserFactory(is_superuser=True),
        subscription_id=subscription.pk,
        is_active=False,
    )
    charger_services.charger_disconnected(charger=charger, channel_name="", at=timezone.now())
    collect()
    assert not WebhookCursor.objects.exists()
    services.webhook_subscription_update(
        actor=factories.UserFactory(is_superuser=True),
        subscription_id=subscription.pk,
        is_active=True,
    )
    assert collect().events == 0
    charger_services.charger_disconnected(charger=charger, channel_name="", at=timezone.now())
    assert collect().events == 1
