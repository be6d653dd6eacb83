"""The presence sweep: chargers whose server process went away without saying so
are marked offline; anything heard from in time, or reconnected meanwhile, is not."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from apps.chargers import services, tasks
from apps.chargers.models import Charger, ChargerEvent
from tests import factories

pytestmark = pytest.mark.django_db

GRACE = timedelta(seconds=services.PRESENCE_GRACE_S)


def connected(charge_point_id: str, *, silent_for: timedelta, channel: str = "") -> Charger:
    """A charger recorded as connected (by some process) and last heard from
    `silent_for` ago."""
    now = timezone.now()
    return factories.ChargerFactory(
        charge_point_id=charge_point_id,
        channel_name=channel or f"specific.{charge_point_id}!dead",
        connected_at=now - silent_for,
        last_seen_at=now - silent_for,
    )


def connection_events(charger: Charger) -> list[str]:
    return list(
        ChargerEvent.objects.filter(charger=charger, kind=ChargerEvent.Kind.CONNECTION)
        .order_by("pk")
        .values_list("summary", flat=True)
    )


@contextlib.contextmanager
def before_first_update(action: Callable[[], Any]) -> Iterator[None]:
    """Run `action` once, right before the first UPDATE of a charger row is executed:
    between the sweep's read and its write, as another process would."""
    fired = False

    def wrapper(execute, sql, params, many, context):
        nonlocal fired
        if not fired and sql.startswith('UPDATE "chargers_charger"'):
            fired = True
            action()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield
    assert fired, "the sweep never wrote"


def test_grace_period_covers_two_missed_heartbeats_and_the_write_throttle():
    assert services.PRESENCE_GRACE_S > 2 * services.HEARTBEAT_INTERVAL_S
    assert services.PRESENCE_GRACE_S > 2 * services.HEARTBEAT_INTERVAL_S + (
        services.SEEN_WRITE_INTERVAL_S
    )


def test_a_silent_charger_is_marked_offline_with_an_event():
    stale = connected("STALE-1", silent_for=GRACE + timedelta(seconds=1))
    now = timezone.now()

    marked = services.charger_presence_sweep(now=now)

    assert [c.charge_point_id for c in marked] == ["STALE-1"]
    stale.refresh_from_db()
    assert stale.channel_name == "" and not stale.online
    assert stale.disconnected_at == now
    events = ChargerEvent.objects.filter(charger=stale, kind=ChargerEvent.Kind.CONNECTION)
    assert events.count() == 1
    event = events.get()
    assert event.summary.startswith("Marked offline: not heard from since ")
    assert event.reported_at == now
    assert event.payload["grace_s"] == services.PRESENCE_GRACE_S


def test_a_charger_heard_from_within_the_grace_period_is_untouched():
    fresh = connected("FRESH-1", silent_for=GRACE - timedelta(seconds=5))
    channel = fresh.channel_name

    assert services.charger_presence_sweep(now=timezone.now()) == []

    fresh.refresh_from_db()
    assert fresh.channel_name == channel and fresh.disconnected_at is None
    assert connection_events(fresh) == []


def test_offline_chargers_are_not_looked_at():
    offline = factories.ChargerFactory(
        charge_point_id="OFF-1", last_seen_at=timezone.now() - timedelta(days=3)
    )

    assert services.charger_presence_sweep(now=timezone.now()) == []
    offline.refresh_from_db()
    assert offline.disconnected_at is None and connection_events(offline) == []


def test_a_charger_that_reconnected_between_read_and_write_is_untouched():
    stale = connected("RECONNECT-1", silent_for=GRACE * 2)
    reconnected_at = timezone.now()

    def reconnect() -> None:
        services.charger_connected(
            charger=Charger.objects.get(pk=stale.pk),
            channel_name="specific.new-process!abc",
            ocpp_version="1.6",
            at=reconnected_at,
        )

    with before_first_update(reconnect):
        marked = services.charger_presence_sweep(now=timezone.now())

    assert marked == []
    stale.refresh_from_db()
    assert stale.channel_name == "specific.new-process!abc"
    assert stale.last_seen_at == reconnected_at and stale.disconnected_at is None
    assert connection_events(stale) == ["Connected (OCPP 1.6), replacing an older connection"]


def test_a_charger_that_spoke_between_read_and_write_is_untouched():
    stale = connected("SPOKE-1", silent_for=GRACE * 2)
    channel = stale.channel_name

    with before_first_update(lambda: services.charger_seen(charger=stale, at=timezone.now())):
        marked = services.charger_presence_sweep(now=timezone.now())

    assert marked == []
    stale.refresh_from_db()
    assert stale.channel_name == channel and stale.disconnected_at is None


def test_the_sweep_is_idempotent():
    stale = connected("TWICE-1", silent_for=GRACE * 3)
    first_at = timezone.now()

    first = services.charger_presence_sweep(now=first_at)
    second = services.charger_presence_sweep(now=first_at + timedelta(minutes=1))

    assert [c.charge_point_id for c in first] == ["TWICE-1"] and second == []
    stale.refresh_from_db()
    assert stale.disconnected_at == first_at
    assert len(connection_events(stale)) == 1


def test_one_sweep_handles_many_chargers_and_leaves_the_fresh_ones():
    stale = [connected(f"MANY-{n}", silent_for=GRACE * 2) for n in range(3)]
    fresh = connected("MANY-FRESH", silent_for=timedelta(seconds=10))

    marked = services.charger_presence_sweep(now=timezone.now())

    assert sorted(c.charge_point_id for c in marked) == [c.charge_point_id for c in stale]
    assert Charger.objects.exclude(channel_name="").get() == fresh


def test_grace_zero_marks_every_connected_charger_with_the_given_summary():
    # What run_embedded does on exit: its sockets are all gone.
    charger = connected("EXIT-1", silent_for=timedelta(seconds=1))

    services.charger_presence_sweep(
        now=timezone.now(), grace_s=0, summary="Disconnected: the server stopped"
    )

    charger.refresh_from_db()
    assert not charger.online
    assert connection_events(charger) == ["Disconnected: the server stopped"]


def test_the_celery_task_sweeps_and_names_what_it_marked():
    connected("TASK-1", silent_for=GRACE * 2)
    connected("TASK-FRESH", silent_for=timedelta(seconds=1))

    result = tasks.charger_presence_sweep.apply()

    assert result.successful()
    assert result.get() == ["TASK-1"]
    assert list(
        Charger.objects.exclude(channel_name="").values_list("charge_point_id", flat=True)
    ) == ["TASK-FRESH"]


def test_charger_seen_never_moves_last_seen_backwards():
    now = timezone.now()
    charger = factories.ChargerFactory(last_seen_at=now)

    assert services.charger_seen(charger=charger, at=now - timedelta(minutes=1)) is False
    assert services.charger_seen(charger=charger, at=now + timedelta(seconds=1)) is True
    charger.refresh_from_db()
    assert charger.last_seen_at == now + timedelta(seconds=1)


def test_charger_seen_of_a_live_connection_is_one_update(django_assert_num_queries):
    """The steady-state cost of every connected charger, once a minute."""
    charger = factories.ChargerFactory(last_seen_at=None)
    with django_assert_num_queries(1):
        assert services.charger_seen(charger=charger, at=timezone.now()) is True


def test_only_a_connection_silent_past_the_grace_period_may_have_been_swept():
    grace = services.PRESENCE_GRACE_S
    assert not services.may_have_been_swept(silent_s=services.SEEN_WRITE_INTERVAL_S)
    assert not services.may_have_been_swept(silent_s=grace - 120)
    # Within a minute of the grace period (clocks of processes differ) and beyond.
    assert services.may_have_been_swept(silent_s=grace - 30)
    assert services.may_have_been_swept(silent_s=grace + 600)
    assert services.may_have_been_swept(silent_s=0, grace_s=0)


def test_charger_seen_sets_a_first_last_seen():
    charger = factories.ChargerFactory(last_seen_at=None)
    at = timezone.now()

    assert services.charger_seen(charger=charger, at=at) is True
    charger.refresh_from_db()
    assert charger.last_seen_at == at


def test_hearing_again_from_a_connection_the_sweep_cleared_puts_it_back_online():
    stale = connected("REVIVE-1", silent_for=GRACE * 2)
    channel, connected_at = stale.channel_name, stale.connected_at
    services.charger_presence_sweep(now=timezone.now())
    at = timezone.now()

    services.charger_seen(charger=stale, at=at, channel_name=channel, connected_at=connected_at)

    stale.refresh_from_db()
    assert stale.channel_name == channel and stale.last_seen_at == at
    assert connection_events(stale)[-1] == (
        "Back online: heard from again on the connection marked offline"
    )


def test_an_old_connection_does_not_come_back_after_a_newer_one():
    stale = connected("REVIVE-2", silent_for=GRACE * 2)
    old_channel, old_connected_at = stale.channel_name, stale.connected_at
    services.charger_connected(
        charger=stale, channel_name="specific.newer!1", ocpp_version="1.6", at=timezone.now()
    )
    services.charger_disconnected(charger=stale, channel_name="specific.newer!1", at=timezone.now())

    services.charger_seen(
        charger=stale, at=timezone.now(), channel_name=old_channel, connected_at=old_connected_at
    )

    stale.refresh_from_db()
    assert stale.channel_name == ""
    assert "Back online" not in " ".join(connection_events(stale))


def test_chargers_seen_moves_each_charger_forward_in_one_statement(django_assert_num_queries):
    now = timezone.now()
    never = factories.ChargerFactory(last_seen_at=None)
    older = factories.ChargerFactory(last_seen_at=now - timedelta(minutes=5))
    newer = factories.ChargerFactory(last_seen_at=now + timedelta(minutes=5))
    untouched = factories.ChargerFactory(last_seen_at=now - timedelta(hours=1))
    deleted_pk = untouched.pk + 1000

    queries = 1 if connection.vendor == "postgresql" else 4 + 2  # + SAVEPOINT/RELEASE
    with django_assert_num_queries(queries):
        changed = services.chargers_seen(
            seen={never.pk: now, older.pk: now, newer.pk: now, deleted_pk: now}
        )

    assert changed == 2
    seen = dict(Charger.objects.values_list("pk", "last_seen_at"))
    assert seen[never.pk] == now and seen[older.pk] == now
    assert seen[newer.pk] == now + timedelta(minutes=5)  # never backwards
    assert seen[untouched.pk] == now - timedelta(hours=1)


def test_chargers_seen_of_nobody_asks_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert services.chargers_seen(seen={}) == 0
