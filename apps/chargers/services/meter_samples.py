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

from django.db import IntegrityError, connection, transaction

from apps.chargers.models import Charger, ChargingSession, MeterSample
from apps.chargers.services import _sql

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


def _write_rows(rows: Sequence[_Row], *, direct: bool = False) -> None:
    """Insert rows; a reading already stored (a retransmitted message, or the same
    message twice in a group) is skipped by the database's unique constraint,
    not by a racy check first.

    On PostgreSQL through COPY: Django's bulk_create costs a model instance per
    row (with its init signals) and psycopg's client-side dumping of the UNNEST
    arrays, which together were a quarter of the OCPP server's CPU under a
    MeterValues load. COPY cannot skip a conflicting row, so the rows go through
    a staging table, unless `direct`: then straight into the table, and a reading
    already stored fails the write with IntegrityError (the caller retries
    without `direct`). Elsewhere (SQLite: embedded mode, small volumes) the ORM,
    which skips conflicts either way."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        _copy_rows(rows, staged=not direct)
    else:
        MeterSample.objects.bulk_create(
            [MeterSample(**row._asdict()) for row in rows],
            ignore_conflicts=True,
            batch_size=_INSERT_BATCH,
        )


# The staging table: a temporary table of the database session, from which the
# rows go into MeterSample with INSERT ... ON CONFLICT DO NOTHING. It costs: a
# group of one MeterValues took 1.45 ms of PostgreSQL CPU staged against 0.40 ms
# copied straight in (the temporary table's writes, and its truncation at every
# commit), hence the direct write first (meter_samples_record_many).
_STAGE = "pg_temp.chargers_metersample_stage"
# The psycopg connections whose session has the staging table (committed).
_staged_connections: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclass(frozen=True)
class _PostgresSql:
    create_stage: str
    copy_stage: str
    copy_direct: str
    move: str
    sessions: str


@functools.cache
def _postgres_sql() -> _PostgresSql:
    """The statements of the PostgreSQL path. Built from the models' own table and
    column names (quoted) and constants, never from a charger's data: hence the
    S608 noqas."""
    table = _sql.table(MeterSample)
    columns = ", ".join(_sql.column(MeterSample, name) for name in _Row._fields)
    charger_id, transaction_id, pk = (
        _sql.column(ChargingSession, n) for n in ("charger", "ocpp_transaction_id", "pk")
    )
    return _PostgresSql(
        # ON COMMIT DELETE ROWS empties it at every commit (a temporary table is
        # never vacuumed).
        create_stage=f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS"  # noqa: S608
        f" AS SELECT {columns} FROM {table} WITH NO DATA",
        copy_stage=f"COPY {_STAGE} ({columns}) FROM STDIN",
        copy_direct=f"COPY {table} ({columns}) FROM STDIN",
        # Moved, not copied: a second write in the same transaction finds it empty.
        move=f"WITH staged AS (DELETE FROM {_STAGE} RETURNING {columns})"  # noqa: S608
        f" INSERT INTO {table} ({columns}) SELECT {columns} FROM staged ON CONFLICT DO NOTHING",
        # The (charger, transaction id) pairs as two array literals: two parameters
        # that psycopg passes as they are (its client-side binding of lists or of
        # a parameter per value cost a third of storing the group).
        sessions=f"SELECT s.{charger_id}, s.{transaction_id}, s.{pk}"  # noqa: S608
        f" FROM {_sql.table(ChargingSession)} s"
        " JOIN unnest(%s::bigint[], %s::text[]) AS named(charger_id, transaction_id)"
        f" ON s.{charger_id} = named.charger_id AND s.{transaction_id} = named.transaction_id",
    )


def _copy_rows(rows: Sequence[_Row], *, staged: bool) -> None:
    sql = _postgres_sql()
    with connection.cursor() as cursor:
        if staged:
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
        # Wrapped as Django's cursor wraps its own statements: a reading stored
        # already raises django.db.IntegrityError, as the caller expects.
        with (
            connection.wrap_database_errors,
            raw.copy(sql.copy_stage if staged else sql.copy_direct) as copy,  # type: ignore[union-attr]
        ):
            for row in rows:
                # The signature (a dict, the last field) goes in as JSON text.
                signed = row.signed_data
                copy.write_row(row if signed is None else (*row[:-1], json.dumps(signed)))
        if staged:
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
    """The sessions named by (charger id, OCPP transaction id), with one query (a
    transaction id is unique per charger)."""
    if not named:
        return {}
    rows: Iterable[tuple[int, str, int]]
    if connection.vendor == "postgresql":
        chargers, transactions = zip(*named, strict=True)
        with connection.cursor() as cursor:
            cursor.execute(
                _postgres_sql().sessions,
                [_sql.bigint_array(chargers), _sql.text_array(transactions)],
            )
            rows = cursor.fetchall()
    else:
        rows = ChargingSession.objects.filter(
            charger_id__in={charger_id for charger_id, _ in named},
            ocpp_transaction_id__in={tx for _, tx in named},
        ).values_list("charger_id", "ocpp_transaction_id", "pk")
    return {(charger_id, tx): pk for charger_id, tx, pk in rows if (charger_id, tx) in named}


# One message's readings: its charger, connector number, session id (if any).
SampleBatch = tuple[Charger, int, int | None, Sequence[Sample]]


def _record_samples_many(batches: Sequence[SampleBatch], *, direct: bool = False) -> list[int]:
    """Store many messages' readings with one write (in the caller's transaction).
    Returns, per message, how many readings were offered for storage. `direct`:
    see `_write_rows`."""
    rows: list[_Row] = []
    counts: list[int] = []
    for charger, connector_id, session_id, samples in batches:
        built = _sample_rows(charger, connector_id, session_id, samples)
        rows += built
        counts.append(len(built))
    _write_rows(rows, direct=direct)
    return counts


def meter_samples_record_many(*, reports: Sequence[MeterReport]) -> list[int]:
    """Store the readings of many MeterValues messages (of any chargers) in one
    transaction: one query for their sessions, one write for their rows. This is
    how the OCPP server commits meter values as a group (apps/ocpp_consumer/
    handlers/writers.py); each message is acknowledged after this returns.
    Offline-queued readings keep their timestamps; with a transaction id of its
    charger a report belongs to that session (an id of another charger matches
    nothing). Returns, per report, how many readings were offered for storage.

    On PostgreSQL the rows are first copied straight into the table; if one of
    them is stored already (a retransmission), that transaction fails and the
    group is written again through the staging table, which skips such rows."""
    try:
        with transaction.atomic():
            return _record_reports(reports, direct=True)
    except IntegrityError:
        if connection.vendor != "postgresql":
            raise
    with transaction.atomic():
        return _record_reports(reports, direct=False)


def _record_reports(reports: Sequence[MeterReport], *, direct: bool) -> list[int]:
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
        ],
        direct=direct,
    )


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
