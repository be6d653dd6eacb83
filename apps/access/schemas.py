"""API schemas of the access app."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from ninja import Field, Schema
from pydantic import AfterValidator, AwareDatetime

from apps.access.models import IdToken, Person
from apps.access.services import UID_MAX_LENGTH
from apps.sites.schemas import RefOut

# Stored and answered in UTC, whatever offset the client sent: the 201 answer then
# reads exactly like a later GET.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda value: value.astimezone(UTC))]


class PersonRefOut(Schema):
    id: int
    name: str

    @staticmethod
    def resolve_name(person: Person) -> str:
        return f"{person.first_name} {person.last_name}"


class IdTokenOut(Schema):
    id: int
    uid: str
    kind: IdToken.Kind
    status: IdToken.Status
    expires_at: datetime | None
    label: str
    organization: RefOut
    person: PersonRefOut | None
    group_id: int | None = Field(description="The head token of this token's group, if any.")
    is_master_pass_group: bool
    created_at: datetime


class IdTokenCreateIn(Schema):
    uid: str = Field(
        min_length=1,
        max_length=UID_MAX_LENGTH,
        description="What the charger reads: the RFID UID, app token or vehicle MAC.",
    )
    person_id: int | None = Field(
        None, description="The owner. Left out: a registered token with no person."
    )
    organization_id: int | None = Field(
        None,
        description="Needed only by users of several organizations, when person_id is "
        "left out; the person's organization otherwise.",
    )
    status: IdToken.Status = IdToken.Status.ACTIVE
    kind: IdToken.Kind = IdToken.Kind.RFID
    expires_at: UtcDatetime | None = Field(None, description="With a time zone offset.")


class IdTokenUpdateIn(Schema):
    """Only the fields sent are changed; send null to clear person_id, group_id or
    expires_at."""

    status: IdToken.Status | None = None
    expires_at: UtcDatetime | None = Field(None, description="With a time zone offset.")
    label: str | None = Field(None, max_length=100)
    person_id: int | None = None
    group_id: int | None = Field(
        None, description="The head token of the group to join (null: leave the group)."
    )
    is_master_pass_group: bool | None = None
