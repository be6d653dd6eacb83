"""Helpers shared by the webhook service modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _lockable(queryset: Any) -> Any:
    """`queryset` locked for update, skipping rows another worker holds (PostgreSQL).
    SQLite has one writer at a time and no row locks: the query runs as is."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset
