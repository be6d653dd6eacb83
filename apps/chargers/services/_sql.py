"""Quoted table and column names of models, for the few raw statements of the
PostgreSQL fast paths: built from the models, never from anyone's data."""

from __future__ import annotations

from django.db import connection
from django.db.models import Model


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[Model], field: str) -> str:
    """The column of `field` (a field name; "pk" for the primary key)."""
    found = model._meta.pk if field == "pk" else model._meta.get_field(field)
    name = getattr(found, "column", None)
    if not name:
        raise ValueError(f"{model.__name__}.{field} has no column")
    return connection.ops.quote_name(name)
