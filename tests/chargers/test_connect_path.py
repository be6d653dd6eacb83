"""A charger's connect path: admission and connection record in one call, boot,
status and the first session start, and how many queries each costs, so that the
counts cannot creep back (each query costs ~0.3-0.7 ms of CPU on a small server;
bench/connect_path.py measures the whole path).

The query counts are taken outside any test transaction (`transaction=True`), as
the server runs each service: in its own transaction, with no savepoints. Django
logs the transaction's BEGIN and COMMIT as queries too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.access.services import Decision
from apps.chargers import services
from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    Connector,
    StatusChange,
)
from apps.chargers.services import Refusal
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-enough-password-16"


def statements(queries: int) -> int:
    """What django_assert_num_queries counts for one service call of `queries`."""
    return queries + 2  # BEGIN, COMMIT


@pytest.fixture
def charger():
    charger = factories.ChargerFactory(charge_point_id="CP-PATH")
    factories.AccessPolicyFactory(zone=charger.zone)
    factories.ConnectorFactory(charger=charger, connector_id=1)
    return charger


@pytest.fixture
def token(charger):
    return factories.IdTokenFactory(organization=charger.zone.property.organization, uid="TAG")


def _connect(cp_id="CP-PATH", channel="chan-1", key=None, username=None, password=None, at=None):
    return services.charger_admit_connect(
        charge_point_id=cp_id,
        onboarding_key=key,
        username=username,
        password=password,
        channel_name=channel,
        ocpp_version="1.6",
        at=at or timezone.now(),
    )


def _connections(charger):
    return ChargerEvent.objects.filter(
        charger=charger, kind=ChargerEvent.Kind.CONNECTION, summary__startswith="Connected"
    )


# --- admission and connection in one call ----------------------------------------


def test_charger_admit_connect_records_the_connection(charger, django_assert_num_queries):
    services.charger_set_password(charger=charger, password=PASSWORD)
    at = timezone.now()
    # The charger read (locked), its UPDATE, the connection event.
    with django_assert_num_queries(statements(3)):
        admission = _connect(username="CP-PATH", password=PASSWORD, at=at)
    assert admission.charger == charger and admission.refusal is None
    assert admission.replaced_channel == ""
    # The admitted charger comes with its zone and property (the handlers use them).
    assert admission.charger.zone.property.organization_id
    stored = Charger.objects.get(pk=charger.pk)
    assert (stored.channel_name, stored.connected_at, stored.last_seen_at) == ("chan-1", at, at)
    assert stored.ocpp_version == "1.6"
    assert _connections(charger).get().summary == "Connected (OCPP 1.6)"


def test_charger_admit_connect_names_the_socket_it_replaces(charger):
    _connect(channel="old")
    again = _connect(channel="new")
    assert again.replaced_channel == "old"
    assert Charger.objects.get(pk=charger.pk).channel_name == "new"
    assert _connections(charger).filter(summary__contains="replacing").count() == 1
    # The same channel again replaces nothing.
    assert _connect(channel="new").replaced_channel == ""


def test_charger_admit_connect_refused_records_only_the_refusal(charger):
    services.charger_set_password(charger=charger, password=PASSWORD)
    refused = _connect(username="CP-PATH", password="wrong-password-123456")
    assert refused.charger is None and refused.refusal == Refusal.BAD_CREDENTIALS
    stored = Charger.objects.get(pk=charger.pk)
    assert stored.channel_name == "" and stored.connected_at is None
    assert not _connections(charger).exists()
    assert ChargerEvent.objects.get(charger=charger).summary == (
        "Connection refused: bad credentials"
    )
    assert _connect("NOPE").refusal == Refusal.UNKNOWN_CHARGER
    Charger.objects.filter(pk=charger.pk).update(registration=Charger.Registration.REJECTED)
    assert _connect(username="CP-PATH", password=PASSWORD).refusal == Refusal.REJECTED
    assert Charger.objects.get(pk=charger.pk).channel_name == ""


def test_charger_admit_connect_onboards_and_connects_an_unknown_charger():
    zone = factories.ZoneFactory()
    prop = zone.property
    prop.accept_unknown_chargers, prop.onboarding_zone = True, zone
    prop.save()
    admission = _connect("NEW-1", key=prop.onboarding_key)
    assert admission.onboarded and admission.replaced_channel == ""
    stored = Charger.objects.get(charge_point_id="NEW-1")
    assert stored.registration == Charger.Registration.PENDING
    assert stored.channel_name == "chan-1"


def test_charger_admit_connect_promotes_a_pending_password(charger):
    """A login with an unconfirmed rotation's password promotes it, in the same
    transaction that records the connection."""
    from apps.chargers import credentials

    new_password = "the-rotated-password-0123"
    Charger.objects.filter(pk=charger.pk).update(
        password_hash=credentials.hash_password(PASSWORD),
        pending_password_hash=credentials.hash_password(new_password),
        pending_password_set_at=timezone.now(),
    )
    assert _connect(username="CP-PATH", password=new_password).charger == charger
    stored = Charger.objects.get(pk=charger.pk)
    assert stored.pending_password_hash == "" and stored.channel_name == "chan-1"
    assert credentials.check_password(new_password, stored.password_hash)


# --- boot -------------------------------------------------------------------------


def test_charger_boot_accepted_in_two_queries(charger, django_assert_num_queries):
    # The UPDATE (which reads the registration by matching only an accepted
    # charger) and the boot event.
    with django_assert_num_queries(statements(2)):
        result = services.charger_boot(charger=charger, vendor="V", model="M")
    assert result.registration == "accepted"
    assert result.heartbeat_interval_s == services.HEARTBEAT_INTERVAL_S
    assert Charger.objects.get(pk=charger.pk).vendor == "V"


def test_charger_boot_sees_a_registration_changed_since_connecting(charger):
    """The charger object is the one admitted at the handshake: a manager's change
    since then is read from the database, and the boot is stored all the same."""
    Charger.objects.filter(pk=charger.pk).update(registration=Charger.Registration.PENDING)
    result = services.charger_boot(charger=charger, vendor="V2", model="M2")
    assert result.registration == "pending" and charger.registration == "pending"
    assert result.heartbeat_interval_s == services.PENDING_RETRY_INTERVAL_S
    stored = Charger.objects.get(pk=charger.pk)
    assert (stored.vendor, stored.model, stored.last_boot_at) == ("V2", "M2", result.at)
    assert ChargerEvent.objects.filter(charger=charger, kind=ChargerEvent.Kind.BOOT).exists()


# --- status -----------------------------------------------------------------------


def test_connector_status_update_in_two_queries(charger, django_assert_num_queries):
    at = timezone.now()
    # The connector's UPDATE and the history row (its connector found by subquery).
    with django_assert_num_queries(statements(2)):
        services.connector_status_update(charger=charger, connector_id=1, status="available", at=at)
    with django_assert_num_queries(statements(2)):
        services.connector_status_update(
            charger=charger, connector_id=1, status="charging", at=at + timedelta(seconds=1)
        )
    connector = Connector.objects.get(charger=charger, connector_id=1)
    assert connector.status == "charging"
    changes = StatusChange.objects.filter(charger=charger).order_by("pk")
    assert [(c.connector_id, c.status) for c in changes] == [
        (connector.pk, "available"),
        (connector.pk, "charging"),
    ]


def test_connector_status_update_new_connector_and_older_report(charger):
    at = timezone.now()
    services.connector_status_update(
        charger=charger, connector_id=2, status="faulted", at=at, error_code="GroundFailure"
    )
    second = Connector.objects.get(charger=charger, connector_id=2)
    assert (second.status, second.error_code, second.status_at) == ("faulted", "GroundFailure", at)
    # Offline-queued, older than what we know: history only.
    services.connector_status_update(
        charger=charger, connector_id=2, status="available", at=at - timedelta(minutes=5)
    )
    second.refresh_from_db()
    assert second.status == "faulted"
    assert StatusChange.objects.filter(connector=second).count() == 2


# --- session start ----------------------------------------------------------------


def _start(charger, *, tag="TAG", meter=1000, at=None):
    return services.session_start(
        charger=charger,
        connector_id=1,
        id_tag=tag,
        meter_start_wh=meter,
        started_at=at or timezone.now().replace(microsecond=0),
    )


def test_session_start_with_a_valid_tag_in_six_queries(charger, token, django_assert_num_queries):
    # Connector with its charger's registration, token, the zone's policies, the
    # sessions on the connector (resend or unfinished), the transaction id, the
    # session.
    with django_assert_num_queries(statements(6)):
        result = _start(charger)
    assert result.authorization.decision == Decision.ACCEPTED
    assert result.session.id_token == token and not result.duplicate


def test_session_start_resent_after_its_stop_is_still_the_same_session(charger, token):
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=30)
    first = _start(charger, at=at).session
    services.session_stop(
        charger=charger,
        transaction_id=first.ocpp_transaction_id,
        meter_stop_wh=2000,
        stopped_at=at + timedelta(minutes=10),
    )
    again = _start(charger, at=at)
    assert again.duplicate and again.session.pk == first.pk
    assert ChargingSession.objects.count() == 1


def test_session_start_closes_the_unfinished_session_not_the_resent_one(charger, token):
    at = timezone.now().replace(microsecond=0)
    old = _start(charger, meter=100, at=at - timedelta(hours=1)).session
    new = _start(charger, meter=900, at=at).session
    old.refresh_from_db()
    assert old.state == "completed" and old.stop_reason == services.STOP_REASON_NO_STOP_RECEIVED
    assert old.stopped_at == at
    # The new start resent: the same session, still active.
    resent = _start(charger, meter=900, at=at)
    assert resent.duplicate and resent.session.pk == new.pk
    new.refresh_from_db()
    assert new.state == "active"


def test_session_start_refused_for_a_charger_pending_since_it_connected(charger, token):
    Charger.objects.filter(pk=charger.pk).update(registration=Charger.Registration.PENDING)
    with pytest.raises(services.ChargerNotAccepted):
        _start(charger)
    # On a connector not known yet as well.
    with pytest.raises(services.ChargerNotAccepted):
        services.session_start(
            charger=charger,
            connector_id=3,
            id_tag="TAG",
            meter_start_wh=0,
            started_at=timezone.now(),
        )
    assert not ChargingSession.objects.exists()
