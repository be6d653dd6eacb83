"""Quoted table and column names of models, for the few raw statements of the
PostgreSQL fast paths: built from the models, never from anyone's data."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Model


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[Model], field: str) -> str:
    """The column of `field`: a field's name or attname ("charger" or
    "charger_id"), or "pk" for the primary key."""
    if field == "pk":
        name = model._meta.pk.column if model._meta.pk else None
    else:
        name = next(
            (f.column for f in model._meta.concrete_fields if field in (f.name, f.attname)), None
        )
    if not name:
        raise ValueError(f"{model.__name__}.{field} has no column")
    return connection.ops.quote_name(name)


# Arrays bound as one literal each: psycopg's client-side binding of a Python list
# dumps it element by element in Python, which cost more than the statements.


def bigint_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers (cast with ::bigint[])."""
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def text_array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of strings (cast with ::text[]): every element
    double-quoted, with backslashes and double quotes escaped, so that commas,
    braces, spaces and the word NULL stay text."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"
