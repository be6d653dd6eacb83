"""API schemas of the sites app, and the few every router shares (pages, errors)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from ninja import Field, Schema

from apps.sites.models import Zone

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class PageIn(Schema):
    """`?limit=&offset=` of every list. Lists are plain JSON arrays in a fixed order,
    so a client pages by moving the offset until a page comes back short."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="At most this many rows.")
    offset: int = Field(0, ge=0, description="Skip this many rows first.")

    def apply(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        return rows[self.offset : self.offset + self.limit]


class FieldErrorOut(Schema):
    field: str = Field(description="The input field, e.g. zone_id; empty for the whole input.")
    message: str


class ErrorOut(Schema):
    """Every error answer: `detail` is a sentence for a person; `errors` lists the
    offending fields of a 422."""

    detail: str
    errors: list[FieldErrorOut] | None = None


def error_responses(*codes: int) -> dict[int, type[ErrorOut]]:
    """Document the error answers of an operation in the OpenAPI schema."""
    return dict.fromkeys(codes, ErrorOut)


class RefOut(Schema):
    """A reference to a related row: enough to show it and to look it up."""

    id: int
    name: str


class ZoneOut(Schema):
    id: int
    name: str
    kind: Zone.Kind
    property: RefOut
