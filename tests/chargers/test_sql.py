"""The array literals of the PostgreSQL fast paths: what goes in comes back."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.chargers.models import Charger
from apps.chargers.services import _sql

pytestmark = pytest.mark.django_db

AWKWARD = ["plain", "a,b", 'say "hi"', "back\\slash", "{braces}", "NULL", "", " spaced ", "Zoë ⚡"]


def test_text_array_literals_keep_every_string_as_it_is():
    literal = _sql.text_array(AWKWARD)
    if connection.vendor != "postgresql":
        # The format is PostgreSQL's: checked there; here only its shape.
        assert literal.startswith('{"plain","a,b",') and literal.endswith("}")
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(%s::text[])", [literal])
        assert [value for (value,) in cursor.fetchall()] == AWKWARD


def test_bigint_array_literals_take_only_integers():
    assert _sql.bigint_array([3, 1, 2]) == "{3,1,2}"
    assert _sql.bigint_array([]) == "{}"
    with pytest.raises(ValueError):
        # A string where integers belong, on purpose: the literal must refuse it.
        _sql.bigint_array(["1}; DROP TABLE x"])  # type: ignore[list-item]


def test_columns_are_found_by_name_attname_or_pk_and_quoted():
    quote = connection.ops.quote_name
    assert _sql.column(Charger, "pk") == quote("id")
    assert _sql.column(Charger, "last_seen_at") == quote("last_seen_at")
    assert _sql.table(Charger) == quote(Charger._meta.db_table)
    with pytest.raises(ValueError):
        _sql.column(Charger, "no_such_field")
