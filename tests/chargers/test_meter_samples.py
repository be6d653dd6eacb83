"""Storing meter readings (apps/chargers/services/meter_samples.py). PostgreSQL
writes the rows with COPY through a staging table, SQLite through the ORM: every
test here must pass on both (run it with DATABASE_URL set too)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection, transaction

from apps.chargers import services
from apps.chargers.models import MeterSample
from apps.chargers.services import MeterReport, Sample, meter_samples
from tests import factories

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SIGNED = {"signed_meter_data": "OCMF|{...}|{...}", "signing_method": "ECDSA-secp256r1"}
FIELDS = (
    "charger_id",
    "connector_id",
    "session_id",
    "sampled_at",
    "measurand",
    "value",
    "unit",
    "phase",
    "context",
    "location",
    "signed_data",
)


def _stored(**filters):
    return sorted(
        MeterSample.objects.filter(**filters).values_list(*FIELDS),
        key=lambda row: (row[0], row[3], row[4], row[7]),
    )


def test_every_field_is_stored_as_mapped():
    """Values are quantized to the column's 6 decimals, texts cut to their
    columns, the timestamp kept as the instant the charger said, the signature
    kept as sent."""
    session = factories.ChargingSessionFactory(ocpp_transaction_id="TX-1")
    charger = session.charger
    east = datetime(2026, 11, 24, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    samples = [
        Sample(sampled_at=AT, value=Decimal("1234.5678915"), unit="Wh", signed=SIGNED),
        Sample(
            sampled_at=east,
            value=Decimal("-3.2"),
            measurand="M" * 60,
            unit="U" * 20,
            phase="P" * 10,
            context="C" * 30,
            location="L" * 10,
        ),
    ]

    offered = services.meter_samples_record(
        charger=charger, connector_id=1, samples=samples, transaction_id="TX-1"
    )

    assert offered == 2
    assert _stored() == [
        (
            charger.pk,
            1,
            session.pk,
            AT,
            "Energy.Active.Import.Register",
            Decimal("1234.567892"),
            "Wh",
            "",
            "",
            "",
            SIGNED,
        ),
        (charger.pk, 1, session.pk, AT, "M" * 48, Decimal("-3.2"), "U" * 16, "P" * 8, "C" * 24)
        + ("L" * 8, None),
    ]


def test_a_retransmitted_message_is_stored_once():
    charger = factories.ChargerFactory()
    samples = [
        Sample(sampled_at=AT, value=Decimal(10)),
        Sample(sampled_at=AT, value=Decimal(7), measurand="Power.Active.Import"),
    ]
    report = MeterReport(charger=charger, connector_id=1, samples=samples)

    assert services.meter_samples_record_many(reports=[report]) == [2]
    first = _stored()
    # Resent alone, then twice in the same group.
    assert services.meter_samples_record_many(reports=[report]) == [2]
    assert services.meter_samples_record_many(reports=[report, report]) == [2, 2]

    assert _stored() == first and len(first) == 2


def test_the_same_reading_twice_in_one_group_is_stored_once():
    charger = factories.ChargerFactory()
    reading = Sample(sampled_at=AT, value=Decimal(10))
    report = MeterReport(charger=charger, connector_id=1, samples=[reading, reading])

    services.meter_samples_record_many(reports=[report, report])

    assert MeterSample.objects.count() == 1


@pytest.mark.parametrize("value", ["1e14", "-1e14", "1e20", "NaN", "Infinity", "-Infinity"])
def test_values_out_of_range_are_dropped_and_the_rest_stored(value):
    charger = factories.ChargerFactory()
    samples = [
        Sample(sampled_at=AT, value=Decimal(value)),
        Sample(sampled_at=AT, value=Decimal("-12345678.123456"), measurand="Voltage"),
    ]

    offered = services.meter_samples_record(charger=charger, connector_id=1, samples=samples)

    assert offered == 1
    assert list(MeterSample.objects.values_list("measurand", "value")) == [
        ("Voltage", Decimal("-12345678.123456"))
    ]


def test_a_group_of_several_chargers_finds_each_ones_session():
    """A report belongs to the session its charger knows by that transaction id;
    the same id of another charger, an unknown id or none at all: no session."""
    a = factories.ChargingSessionFactory(ocpp_transaction_id="SAME")
    b = factories.ChargingSessionFactory(ocpp_transaction_id="SAME")
    b_other = factories.ChargingSessionFactory(
        connector=factories.ConnectorFactory(charger=b.charger, connector_id=2),
        ocpp_transaction_id="B-2",
    )
    stranger = factories.ChargerFactory()
    reports = [
        MeterReport(a.charger, 1, [Sample(sampled_at=AT, value=Decimal(1))], "SAME"),
        MeterReport(b.charger, 1, [Sample(sampled_at=AT, value=Decimal(2))], "SAME"),
        MeterReport(b.charger, 2, [Sample(sampled_at=AT, value=Decimal(3))], "B-2"),
        MeterReport(stranger, 1, [Sample(sampled_at=AT, value=Decimal(4))], "SAME"),
        MeterReport(a.charger, 1, [Sample(sampled_at=AT, value=Decimal(5), phase="L1")], "NONE"),
        MeterReport(a.charger, 1, [Sample(sampled_at=AT, value=Decimal(6), phase="L2")]),
    ]

    assert services.meter_samples_record_many(reports=reports) == [1] * 6

    sessions = dict(MeterSample.objects.values_list("value", "session_id"))
    assert sessions == {
        Decimal(1): a.pk,
        Decimal(2): b.pk,
        Decimal(3): b_other.pk,
        Decimal(4): None,
        Decimal(5): None,
        Decimal(6): None,
    }


def test_a_transaction_event_stores_its_readings_once_on_its_connector():
    """The single-message services write through the same rows (the session's
    connector, the mapping, the unique reading)."""
    charger = factories.ChargerFactory()
    factories.AccessPolicyFactory(zone=charger.zone)
    readings = [Sample(sampled_at=AT, value=Decimal(1500), signed=SIGNED)]
    started = services.session_event(
        charger=charger,
        transaction_id="E-1",
        kind="started",
        seq_no=0,
        at=AT,
        connector_id=2,
        samples=readings,
    )
    services.session_event(
        charger=charger, transaction_id="E-1", kind="updated", seq_no=0, at=AT, samples=readings
    )

    assert _stored() == [
        (charger.pk, 2, started.session.pk, AT, "Energy.Active.Import.Register", Decimal(1500))
        + ("", "", "", "", SIGNED)
    ]


def test_two_writes_in_one_transaction_store_each_row_once():
    """On PostgreSQL the rows pass through a staging table: a second write in the
    same transaction must not bring back the first one's rows."""
    charger = factories.ChargerFactory()
    with transaction.atomic():
        services.meter_samples_record(
            charger=charger, connector_id=1, samples=[Sample(sampled_at=AT, value=Decimal(1))]
        )
        MeterSample.objects.all().delete()
        services.meter_samples_record(
            charger=charger,
            connector_id=1,
            samples=[Sample(sampled_at=AT + timedelta(minutes=1), value=Decimal(2))],
        )

    assert list(MeterSample.objects.values_list("value", flat=True)) == [Decimal(2)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_staging_table_outlives_commits_and_is_made_again_after_a_rollback():
    """The staging table is created in the first write's transaction: when that
    one rolls back, the table is gone too, and the next write makes it again; once
    committed it is reused and left empty."""
    charger = factories.ChargerFactory()

    def write(minute: int) -> None:
        # Through the staging table, as the writes within other services' transactions
        # and a retried group go (MeterValues groups first try COPY straight in).
        sample = Sample(sampled_at=AT + timedelta(minutes=minute), value=Decimal(minute))
        with transaction.atomic():
            meter_samples._record_samples_many([(charger, 1, None, [sample])])

    connection.close()  # a new database session, without the staging table
    with pytest.raises(RuntimeError), transaction.atomic():
        write(1)
        raise RuntimeError("the group failed after its rows were written")
    write(2)
    write(3)

    with connection.cursor() as cursor:
        # The module's own constant, not data: hence the S608 noqa.
        cursor.execute(f"SELECT count(*) FROM {meter_samples._STAGE}")  # noqa: S608
        assert cursor.fetchone() == (0,)
    assert list(MeterSample.objects.order_by("value").values_list("value", flat=True)) == [
        Decimal(2),
        Decimal(3),
    ]


def test_a_transaction_id_with_awkward_characters_finds_its_session():
    """2.0.1 transaction ids are the charger's strings: they reach the session
    lookup as they are (an array literal on PostgreSQL)."""
    awkward = 'tx,"1"\\{NULL} ⚡'
    session = factories.ChargingSessionFactory(ocpp_transaction_id=awkward)
    report = MeterReport(session.charger, 1, [Sample(sampled_at=AT, value=Decimal(7))], awkward)

    assert services.meter_samples_record_many(reports=[report]) == [1]
    assert list(MeterSample.objects.values_list("session_id", flat=True)) == [session.pk]


def test_a_group_with_a_stored_reading_is_written_again_skipping_it_alone():
    """Straight COPY fails on a reading stored already; the group is then written
    through the staging table, which stores the rest."""
    charger = factories.ChargerFactory()
    first = MeterReport(charger, 1, [Sample(sampled_at=AT, value=Decimal(1))])
    second = MeterReport(
        charger, 1, [Sample(sampled_at=AT + timedelta(minutes=1), value=Decimal(2))]
    )
    services.meter_samples_record_many(reports=[first])

    assert services.meter_samples_record_many(reports=[first, second]) == [1, 1]
    assert sorted(MeterSample.objects.values_list("value", flat=True)) == [Decimal(1), Decimal(2)]
