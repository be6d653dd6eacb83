"""A real OCPP 1.6 charge point against the running server: it connects, faults,
recovers, charges and leaves. The webhook collector then finds each of those in
what the chargers domain stored, and a real HTTP receiver gets every event once,
signed with the subscription's secret."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from ocpp.v16 import call as c16  # noqa: TID251 -- a real charge point, as in tests/ocpp_consumer
from ocpp.v201 import call as c201  # noqa: TID251 -- the same, OCPP 2.0.1

from apps.chargers.models import Charger
from apps.monitoring.models import WebhookDelivery
from apps.monitoring.services import webhooks as services
from tests import factories
from tests.monitoring.webhooks.conftest import subscribe
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.stations import station


def ts(minutes_ago: float = 0) -> str:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.fixture
def charger(ocpp_server):
    charger = factories.ChargerFactory(charge_point_id="HOOK-01", name="Bay 1")
    factories.AccessPolicyFactory(zone=charger.zone)  # public: any valid token
    factories.IdTokenFactory(organization=charger.zone.property.organization, uid="TAG-OK")
    return charger


def collect_and_send() -> None:
    # run() waited for the server to store everything: no need to let rows settle.
    services.webhook_events_collect(settle_s=0)
    services.webhook_deliveries_send()


def _status(connector: int, status: str, error: str = "NoError", vendor: str | None = None):
    return c16.StatusNotification(
        connector_id=connector,
        error_code=error,
        status=status,
        timestamp=ts(),
        vendor_error_code=vendor,
    )


def test_real_charger_events_reach_the_receiver_once_each_signed(
    ocpp_server, charger, tls_receiver
):
    """Over HTTPS, with the receiver's certificate verified."""
    receiver = tls_receiver
    organization = charger.zone.property.organization
    subscription = subscribe(receiver, organization)

    async def talk():
        async with station(ocpp_server.url("HOOK-01")) as cp:
            await cp.call(
                c16.BootNotification(charge_point_vendor="ABB", charge_point_model="Terra AC"),
                suppress=False,
            )
            await cp.call(_status(1, "Available"), suppress=False)
            await cp.call(_status(1, "Faulted", "GroundFailure", "E-17"), suppress=False)
            # The charger repeats itself: not a second fault.
            await cp.call(_status(1, "Faulted", "GroundFailure", "E-17"), suppress=False)
            await cp.call(_status(1, "Available"), suppress=False)
            start = await cp.call(
                c16.StartTransaction(
                    connector_id=1, id_tag="TAG-OK", meter_start=1_000, timestamp=ts(3)
                ),
                suppress=False,
            )
            await cp.call(
                c16.StopTransaction(
                    meter_stop=8_500,
                    timestamp=ts(1),
                    transaction_id=start.transaction_id,
                    reason="EVDisconnected",
                ),
                suppress=False,
            )
            return start.transaction_id

    transaction_id = run(talk())
    collect_and_send()

    assert sorted(receiver.types()) == sorted(
        [
            "charger.online",
            "connector.faulted",
            "session.started",
            "session.stopped",
            "charger.offline",
        ]
    )
    assert all(r.signature_ok for r in receiver.requests)
    assert all(r.path == "/hooks/plugboard" for r in receiver.requests)
    assert receiver.url.startswith("https://")
    ids = [r.headers["Plugboard-Event-Id"] for r in receiver.requests]
    assert len(set(ids)) == 5
    assert [r.json["id"] for r in receiver.requests] == ids

    fault = receiver.by_type("connector.faulted")[0].json
    assert fault["organization"]["id"] == organization.pk
    assert fault["data"]["charger"]["charge_point_id"] == "HOOK-01"
    assert fault["data"]["property"]["id"] == charger.zone.property.pk
    assert (fault["data"]["connector_id"], fault["data"]["error_code"]) == (1, "GroundFailure")
    assert fault["data"]["vendor_error_code"] == "E-17"
    stopped = receiver.by_type("session.stopped")[0].json["data"]["session"]
    assert stopped["ocpp_transaction_id"] == str(transaction_id)
    assert (stopped["meter_start_wh"], stopped["meter_stop_wh"], stopped["energy_wh"]) == (
        1_000,
        8_500,
        7_500,
    )
    assert stopped["stop_reason"] == "ev_disconnected" and stopped["id_tag"] == "TAG-OK"
    started = receiver.by_type("session.started")[0].json["data"]["session"]
    assert started["id"] == stopped["id"] and started["state"] == "active"
    assert receiver.by_type("charger.offline")[0].json["data"]["reason"] == "Disconnected"
    assert (
        WebhookDelivery.objects.filter(
            subscription=subscription, status=WebhookDelivery.Status.DELIVERED, attempts=1
        ).count()
        == 5
    )

    # Running the jobs again finds nothing new and sends nothing twice.
    collect_and_send()
    assert len(receiver.requests) == 5


def test_session_spanning_runs_is_started_then_stopped(ocpp_server, charger, receiver):
    """The collector runs while the session is going on: the start goes out then,
    the stop on a later run (the cursor watches the active session)."""
    subscribe(
        receiver,
        charger.zone.property.organization,
        event_types=["session.started", "session.stopped"],
    )

    async def start():
        async with station(ocpp_server.url("HOOK-01")) as cp:
            answer = await cp.call(
                c16.StartTransaction(
                    connector_id=1, id_tag="TAG-OK", meter_start=0, timestamp=ts(2)
                ),
                suppress=False,
            )
            return answer.transaction_id

    transaction_id = run(start())
    collect_and_send()
    assert receiver.types() == ["session.started"]

    async def stop():
        async with station(ocpp_server.url("HOOK-01")) as cp:
            await cp.call(
                c16.StopTransaction(
                    meter_stop=4_000, timestamp=ts(), transaction_id=transaction_id
                ),
                suppress=False,
            )

    run(stop())
    collect_and_send()
    assert receiver.types() == ["session.started", "session.stopped"]
    assert receiver.requests[1].json["data"]["session"]["energy_wh"] == 4_000


def test_ocpp_201_station_events_arrive_the_same_way(ocpp_server, receiver):
    """The collector reads the domain's rows, whatever the OCPP version: a 2.0.1
    station's TransactionEvents and StatusNotification give the same events."""
    charger = factories.ChargerFactory(
        charge_point_id="HOOK-201", ocpp_version=Charger.OcppVersion.V201
    )
    factories.AccessPolicyFactory(zone=charger.zone)
    subscribe(receiver, charger.zone.property.organization)

    def event(event_type: str, seq_no: int, **extra):
        return c201.TransactionEvent(
            event_type=event_type,
            timestamp=ts(),
            trigger_reason="CablePluggedIn" if event_type == "Started" else "EVDeparted",
            seq_no=seq_no,
            transaction_info={"transaction_id": "TX-9"},
            **extra,
        )

    async def talk():
        async with station(ocpp_server.url("HOOK-201"), "2.0.1") as cp:
            await cp.call(
                c201.StatusNotification(
                    timestamp=ts(), connector_status="Faulted", evse_id=1, connector_id=1
                ),
                suppress=False,
            )
            await cp.call(
                event(
                    "Started",
                    0,
                    evse={"id": 1, "connector_id": 1},
                    meter_value=[
                        {
                            "timestamp": ts(),
                            "sampled_value": [{"value": 500, "context": "Transaction.Begin"}],
                        }
                    ],
                ),
                suppress=False,
            )
            await cp.call(
                event(
                    "Ended",
                    1,
                    meter_value=[
                        {
                            "timestamp": ts(),
                            "sampled_value": [{"value": 2_500, "context": "Transaction.End"}],
                        }
                    ],
                ),
                suppress=False,
            )

    run(talk())
    collect_and_send()
    assert sorted(receiver.types()) == sorted(
        [
            "charger.online",
            "connector.faulted",
            "session.started",
            "session.stopped",
            "charger.offline",
        ]
    )
    assert all(r.signature_ok for r in receiver.requests)
    stopped = receiver.by_type("session.stopped")[0].json["data"]["session"]
    assert stopped["ocpp_transaction_id"] == "TX-9" and stopped["energy_wh"] == 2_000
