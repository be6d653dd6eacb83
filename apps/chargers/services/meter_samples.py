"""Meter readings (MeterSample rows): what every MeterValues message, and the
readings of stops and 2.0.1 transaction events, store. The busiest write of the
system (every charging connector reports every minute), so the rows are built as
plain tuples and, on PostgreSQL, written with COPY."""

from __future__ import annotations

import functools
import json
import logging
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Model

from apps.chargers.models import Charger, ChargingSession, MeterSample

log = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"

_SAMPLE_LIMIT = Decimal("1e14")  # what MeterSample.value (20 digits, 6 decimals) holds
_SAMPLE_QUANTUM = Decimal("0.000001")
# Rows per INSERT statement through the ORM (SQLite).
_INSERT_BATCH = 2000


@dataclass(frozen=True)
class Sample:
    """One reading of a charger's meter, in the charger's unit and at its time."""

    sampled_at: datetime
    value: Decimal
    measurand: str = ENERGY_REGISTER
    unit: str = ""
    phase: str = ""
    context: str = ""
    location: str = ""
    # The meter's signature of the reading, when signed (MeterSample.signed_data).
    signed: dict[str, str] | None = None


@dataclass(frozen=True)
class MeterReport:
    """One MeterValues message: a charger's readings on a connector, at the
    charger's own timestamps, with the transaction id it named (if any)."""

    charger: Charger
    connector_id: int
    samples: Sequence[Sample]
    transaction_id: str | None = None


class _Row(NamedTuple):
    """A MeterSample row, its fields named by their attnames (MeterSample's)."""

    charger_id: int
    connector_id: int
    session_id: int | None
    sampled_at: datetime
    measurand: str
    value: Decimal
    unit: str
    phase: str
    context: str
    location: str
    signed_data: dict[str, str] | None


def _sample_row(
    *, charger_id: int, connector_id: int, session_id: int | None, sample: Sample
) -> _Row:
    """The row of one reading (the one place that maps a Sample's fields)."""
    return _Row(
        charger_id=charger_id,
        connector_id=connector_id,
        session_id=session_id,
        sampled_at=sample.sampled_at,
        measurand=sample.measurand[:48],
        value=sample.value.quantize(_SAMPLE_QUANTUM, rounding=ROUND_HALF_UP),
        unit=sample.unit[:16],
        phase=sample.phase[:8],
        context=sample.context[:24],
        location=sample.location[:8],
        signed_data=sample.signed,
    )


def _sample_rows(
    charger: Charger, connector_id: int, session_id: int | None, samples: Iterable[Sample]
) -> list[_Row]:
    rows = []
    for s in samples:
        if not s.value.is_finite() or abs(s.value) >= _SAMPLE_LIMIT:
            log.warning("%s: meter value %s out of range, dropped.", charger, s.value)
            continue
        rows.append(
            _sample_row(
                charger_id=charger.pk, connector_id=connector_id, session_id=session_id, sample=s
            )
        )
    return rows


def _write_rows(rows: Sequence[_Row], transaction_ids: Sequence[str | None] = ()) -> None:
    """Insert rows; a reading already stored (a retransmitted message, or the same
    message twice in a group) is skipped by the database's unique constraint,
    not by a racy check first.

    On PostgreSQL through COPY: Django's bulk_create costs a model instance per
    row (with its init signals) and psycopg's client-side dumping of the UNNEST
    arrays, which together were a quarter of the OCPP server's CPU under a
    MeterValues load. There `transaction_ids` may name, per row without a
    session, the OCPP transaction of the row's charger that the row belongs to:
    the database looks the session up as it stores the row. Elsewhere (SQLite:
    embedded mode, small volumes) the ORM, with every session known."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        _copy_rows(rows, transaction_ids)
    else:
        MeterSample.objects.bulk_create(
            [MeterSample(**row._asdict()) for row in rows],
            ignore_conflicts=True,
            batch_size=_INSERT_BATCH,
        )


# COPY cannot skip conflicting rows, so the rows go into a temporary table of the
# database session first, then into MeterSample with INSERT ... ON CONFLICT DO NOTHING.
# Named for its columns: the transaction id was added after the first version.
_STAGE = "pg_temp.chargers_metersample_stage_tx"
# The psycopg connections whose session has the staging table (committed).
_staged_connections: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclass(frozen=True)
class _PostgresSql:
    create_stage: str
    copy: str
    move: str


@functools.cache
def _postgres_sql() -> _PostgresSql:
    """The statements of the PostgreSQL path. Built from the models' own table and
    column names (quoted) and constants, never from a charger's data: hence the
    S608 noqas."""
    quote = connection.ops.quote_name

    def columns_of(model: type[Model]) -> dict[str, str]:
        return {f.attname: quote(f.column) for f in model._meta.concrete_fields if f.column}

    table = quote(MeterSample._meta.db_table)
    sample = columns_of(MeterSample)
    columns = ", ".join(sample[name] for name in _Row._fields)
    session = columns_of(ChargingSession)
    charger_id, transaction_id, pk = (
        session[n] for n in ("charger_id", "ocpp_transaction_id", "id")
    )
    # The row's own session, else the one its charger knows by the staged
    # transaction id (unique per charger; none for NULL).
    session_of_row = (
        f"COALESCE(staged.{sample['session_id']}, (SELECT s.{pk}"  # noqa: S608
        f" FROM {quote(ChargingSession._meta.db_table)} s"
        f" WHERE s.{charger_id} = staged.{sample['charger_id']}"
        f" AND s.{transaction_id} = staged.transaction_id))"
    )
    selected = ", ".join(
        session_of_row if name == "session_id" else f"staged.{sample[name]}"
        for name in _Row._fields
    )
    return _PostgresSql(
        # ON COMMIT DELETE ROWS empties it at every commit (a temporary table is
        # never vacuumed).
        create_stage=f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS"  # noqa: S608
        f" AS SELECT {columns}, NULL::text AS transaction_id FROM {table} WITH NO DATA",
        copy=f"COPY {_STAGE} ({columns}, transaction_id) FROM STDIN",
        # Moved, not copied: a second write in the same transaction finds it empty.
        # One statement stores the rows and finds their sessions: no round trip,
        # and no list of ids bound by psycopg, for the lookup.
        move=f"WITH staged AS (DELETE FROM {_STAGE} RETURNING *)"  # noqa: S608
        f" INSERT INTO {table} ({columns}) SELECT {selected} FROM staged ON CONFLICT DO NOTHING",
    )


def _copy_rows(rows: Sequence[_Row], transaction_ids: Sequence[str | None]) -> None:
    sql = _postgres_sql()
    with connection.cursor() as cursor:
        raw_connection = connection.connection
        if raw_connection not in _staged_connections:
            # Once per database session. Created inside the caller's transaction,
            # so it is known to exist only once that commits; until then IF NOT
            # EXISTS makes another write harmless.
            cursor.execute(sql.create_stage)
            transaction.on_commit(lambda: _staged_connections.add(raw_connection))
        # psycopg's own cursor, for COPY. Django types it as any DB-API cursor, which
        # has no copy(): hence the ignore; this path runs only on PostgreSQL.
        raw = cursor.cursor
        named = iter(transaction_ids)
        with raw.copy(sql.copy) as copy:  # type: ignore[union-attr]
            for row in rows:
                # The signature (a dict, the last field) goes in as JSON text.
                signed = row.signed_data
                values = row if signed is None else (*row[:-1], json.dumps(signed))
                copy.write_row((*values, next(named, None)))
        cursor.execute(sql.move)


def _record_samples(
    charger: Charger,
    connector_id: int,
    session: ChargingSession | None,
    samples: Iterable[Sample],
) -> int:
    """Store one message's readings (in the caller's transaction). Returns how many
    were offered for storage."""
    rows = _sample_rows(charger, connector_id, session.pk if session else None, samples)
    _write_rows(rows)
    return len(rows)


def _session_ids(named: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The sessions named by (charger id, OCPP transaction id), with one query
    (the ORM path: on PostgreSQL the statement storing the rows finds them)."""
    if not named:
        return {}
    rows = ChargingSession.objects.filter(
        charger_id__in={charger_id for charger_id, _ in named},
        ocpp_transaction_id__in={tx for _, tx in named},
    ).values_list("charger_id", "ocpp_transaction_id", "pk")
    return {(charger_id, tx): pk for charger_id, tx, pk in rows if (charger_id, tx) in named}


# One message's readings: its charger, connector number, session id (if any).
SampleBatch = tuple[Charger, int, int | None, Sequence[Sample]]


def _record_samples_many(batches: Sequence[SampleBatch]) -> list[int]:
    """Store many messages' readings with one write (in the caller's transaction).
    Returns, per message, how many readings were offered for storage."""
    rows: list[_Row] = []
    counts: list[int] = []
    for charger, connector_id, session_id, samples in batches:
        built = _sample_rows(charger, connector_id, session_id, samples)
        rows += built
        counts.append(len(built))
    _write_rows(rows)
    return counts


@transaction.atomic
def meter_samples_record_many(*, reports: Sequence[MeterReport]) -> list[int]:
    """Store the readings of many MeterValues messages (of any chargers) in one
    transaction, with one write for their rows and their sessions. This is how the
    OCPP server commits meter values as a group (apps/ocpp_consumer/handlers/
    writers.py); each message is acknowledged after this returns. Offline-queued
    readings keep their timestamps; with a transaction id of its charger a report
    belongs to that session (an id of another charger matches nothing). Returns,
    per report, how many readings were offered for storage."""
    if connection.vendor != "postgresql":
        sessions = _session_ids(
            {(r.charger.pk, r.transaction_id) for r in reports if r.transaction_id is not None}
        )
        return _record_samples_many(
            [
                (
                    report.charger,
                    report.connector_id,
                    sessions.get((report.charger.pk, report.transaction_id))
                    if report.transaction_id is not None
                    else None,
                    report.samples,
                )
                for report in reports
            ]
        )
    # PostgreSQL: the statement that stores the rows finds their sessions.
    rows: list[_Row] = []
    transaction_ids: list[str | None] = []
    counts: list[int] = []
    for report in reports:
        built = _sample_rows(report.charger, report.connector_id, None, report.samples)
        rows += built
        transaction_ids += [report.transaction_id] * len(built)
        counts.append(len(built))
    _write_rows(rows, transaction_ids)
    return counts


def meter_samples_record(
    *,
    charger: Charger,
    connector_id: int,
    samples: Sequence[Sample],
    transaction_id: str | None = None,
) -> int:
    """Store one charger's meter readings (one MeterValues message), in its own
    transaction. Returns how many readings were offered for storage."""
    report = MeterReport(
        charger=charger, connector_id=connector_id, samples=samples, transaction_id=transaction_id
    )
    return meter_samples_record_many(reports=[report])[0]
