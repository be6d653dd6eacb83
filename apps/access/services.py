"""Access: the one place that decides who may charge where, and token writes."""

from __future__ import annotations

import enum
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from apps.access.exceptions import IdTokenAlreadyExists
from apps.access.models import AccessPolicy, IdToken, Person
from apps.sites.exceptions import AlreadyExists, Forbidden, InvalidReference, NotFound
from apps.sites.models import Organization, Zone
from apps.sites.selectors import row_for_write

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

# OCPP 2.0.1 IdTokenType.idToken is at most 36 characters (1.6 idTag: 20).
UID_MAX_LENGTH = 36


class Decision(enum.StrEnum):
    ACCEPTED = "accepted"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    INVALID = "invalid"  # unknown token
    NOT_AT_THIS_LOCATION = "not_at_this_location"  # no policy of the zone admits it
    NOT_AT_THIS_TIME = "not_at_this_time"  # admitted, but outside the time window


@dataclass(frozen=True)
class Authorization:
    decision: Decision
    id_token: IdToken | None = None
    # The token's group id (its group head's UID; see IdToken.group_uid): OCPP 1.6
    # parentIdTag, 2.0.1 groupIdToken. Empty when the token is in no group.
    group_uid: str = ""

    @property
    def accepted(self) -> bool:
        return self.decision is Decision.ACCEPTED

    @property
    def expires_at(self) -> datetime | None:
        return self.id_token.expires_at if self.id_token else None


def id_token_authorize(
    *, zone: Zone, uid: str, at: datetime, master_pass: bool = False
) -> Authorization:
    """May the token `uid` charge in `zone` at `at`? Tokens are looked up in the
    zone's organization only; a zone admits a token that any active policy admits.

    `master_pass`: the asking station knows master passes (OCPP 2.0.1 Authorize). A
    token of the master pass group is then Accepted wherever it is: the station
    recognises it by its group (MasterPassGroupId) and only lets it stop
    transactions, never start one (2.0.1 C16). A 1.6 charger knows no master pass,
    so there the token is decided like any other."""
    token = _token(zone, uid)
    if token is None:
        return Authorization(Decision.INVALID)
    refused = _refused(token, at)
    if refused is not None:
        return refused
    if master_pass and _in_master_pass_group(token):
        return Authorization(Decision.ACCEPTED, token, token.group_uid)

    # Accepted when a policy admits the token and is open at `at`; not at this time
    # when some admit it but none is open; else not at this location. Open policies
    # are looked at first, so that the lists of groups and fleets (a query each)
    # are read only while the decision still depends on them.
    policies = list(AccessPolicy.objects.filter(zone=zone, is_active=True))
    if not policies:
        return Authorization(Decision.NOT_AT_THIS_LOCATION, token, token.group_uid)
    local = at.astimezone(zoneinfo.ZoneInfo(zone.property.time_zone))
    open_now = [p for p in policies if _in_window(p, local)]
    if any(_policy_admits(p, token, zone) for p in open_now):
        return Authorization(Decision.ACCEPTED, token, token.group_uid)
    closed = [p for p in policies if p not in open_now]
    if any(_policy_admits(p, token, zone) for p in closed):
        return Authorization(Decision.NOT_AT_THIS_TIME, token, token.group_uid)
    return Authorization(Decision.NOT_AT_THIS_LOCATION, token, token.group_uid)


def id_token_authorize_stop(
    *, zone: Zone, uid: str, at: datetime, started_by: IdToken | None
) -> Authorization:
    """May `uid` end a session that `started_by` started? The starter itself and
    any token of its group may (OCPP 1.6: same parentIdTag), and so may a member of
    the organization's master pass group (2.0.1 MasterPassGroupId), wherever and
    whenever: stopping is not charging, so the zone's policies and time windows do
    not apply. Blocked, expired or unknown tokens keep their refusal; any other
    token is decided as for charging."""
    token = _token(zone, uid)
    if token is None:
        return Authorization(Decision.INVALID)
    refused = _refused(token, at)
    if refused is not None:
        return refused
    if _same_group(token, started_by) or _in_master_pass_group(token):
        return Authorization(Decision.ACCEPTED, token, token.group_uid)
    return id_token_authorize(zone=zone, uid=uid, at=at)


def master_pass_group_id(organization: Organization) -> str | None:
    """The UID stations of `organization` are to be configured with as 2.0.1
    AuthCtrlr.MasterPassGroupId, or None when it has no master pass group."""
    return (
        IdToken.objects.filter(organization=organization, is_master_pass_group=True)
        .values_list("uid", flat=True)
        .first()
    )


def _token(zone: Zone, uid: str) -> IdToken | None:
    try:
        # (organization, uid) is unique: no ORDER BY needed to pick one.
        return (
            IdToken.objects.select_related("person", "vehicle", "group")
            .annotate(has_members=Exists(IdToken.objects.filter(group=OuterRef("pk"))))
            .get(organization_id=zone.property.organization_id, uid=uid)
        )
    except IdToken.DoesNotExist:
        return None


def _refused(token: IdToken, at: datetime) -> Authorization | None:
    if token.status == IdToken.Status.BLOCKED or (
        token.person is not None and not token.person.is_active
    ):
        return Authorization(Decision.BLOCKED, token, token.group_uid)
    if token.expires_at is not None and token.expires_at <= at:
        return Authorization(Decision.EXPIRED, token, token.group_uid)
    return None


def _same_group(token: IdToken, started_by: IdToken | None) -> bool:
    if started_by is None or started_by.organization_id != token.organization_id:
        return False
    return token.pk == started_by.pk or (
        token.group_uid != "" and token.group_uid == started_by.group_uid
    )


def _in_master_pass_group(token: IdToken) -> bool:
    if token.is_master_pass_group:
        return True
    return token.group is not None and token.group.is_master_pass_group


def _policy_admits(policy: AccessPolicy, token: IdToken, zone: Zone) -> bool:
    person = token.person
    match policy.admits:
        case AccessPolicy.Admits.PUBLIC:
            return True
        case AccessPolicy.Admits.RESIDENTS:
            return (
                person is not None
                and person.kind == Person.Kind.RESIDENT
                and person.property_id == zone.property_id
            )
        case AccessPolicy.Admits.EMPLOYEES:
            return (
                person is not None
                and person.kind == Person.Kind.EMPLOYEE
                and person.property_id == zone.property_id
            )
        case AccessPolicy.Admits.GROUPS:
            if person is None:
                return False
            # A member of any of the policy's groups: one query.
            return policy.groups.filter(members=person).exists()
        case AccessPolicy.Admits.FLEET_VEHICLES:
            vehicle = token.vehicle
            if vehicle is None or vehicle.fleet_id is None:
                return False
            fleet_ids = set(policy.fleets.values_list("pk", flat=True))
            # No fleet listed: any fleet of the organization.
            return not fleet_ids or vehicle.fleet_id in fleet_ids
    return False


def _in_window(policy: AccessPolicy, local: datetime) -> bool:
    if policy.weekdays and str(local.isoweekday()) not in policy.weekdays:
        return False
    if policy.start_time is None or policy.end_time is None:
        return True
    now = local.time()
    if policy.start_time <= policy.end_time:
        return policy.start_time <= now < policy.end_time
    return now >= policy.start_time or now < policy.end_time  # wraps past midnight


@transaction.atomic
def id_token_create(
    *,
    organization: Organization,
    uid: str,
    person: Person | None = None,
    status: str = IdToken.Status.ACTIVE,
    kind: str = IdToken.Kind.RFID,
    expires_at: datetime | None = None,
    group: IdToken | None = None,
) -> IdToken:
    if person is not None and person.organization_id != organization.pk:
        raise ValueError("The person belongs to another organization.")
    if group is not None and group.organization_id != organization.pk:
        raise ValueError("The group's token belongs to another organization.")
    if group is not None and group.group_id is not None:
        raise ValidationError({"group": "Groups are flat: that token is a member of a group."})
    if not uid or len(uid) > UID_MAX_LENGTH or uid != uid.strip():
        raise ValidationError(
            {"uid": f"A UID has 1 to {UID_MAX_LENGTH} characters, without surrounding spaces."}
        )
    try:
        with transaction.atomic():
            return IdToken.objects.create(
                organization=organization,
                uid=uid,
                person=person,
                status=status,
                kind=kind,
                expires_at=expires_at,
                group=group,
            )
    except IntegrityError as exc:
        raise IdTokenAlreadyExists(f"A token with UID {uid!r} already exists.") from exc


def id_token_issue(
    *,
    actor: AnyUser,
    uid: str,
    organization_id: int | None = None,
    person_id: int | None = None,
    status: str = IdToken.Status.ACTIVE,
    kind: str = IdToken.Kind.RFID,
    expires_at: datetime | None = None,
) -> IdToken:
    """`actor` creates a token in an organization they manage (the API's entry point).

    The organization is the person's when `person_id` is given; otherwise
    `organization_id`, which may be left out when the actor manages exactly one.
    Ids the actor cannot see are reported as missing, never as someone else's."""
    person: Person | None = None
    if person_id is not None:
        person = row_for_write(
            Person.objects.select_related("organization"),
            person_id,
            user=actor,
            field="person_id",
            label="person",
        )
        if organization_id is not None and organization_id != person.organization_id:
            raise InvalidReference(
                "The person belongs to another organization than organization_id.",
                field="organization_id",
            )
        organization = person.organization
    elif organization_id is not None:
        organization = row_for_write(
            Organization.objects.all(),
            organization_id,
            user=actor,
            field="organization_id",
            label="organization",
        )
    else:
        organization = _the_managed_organization(actor)
    return id_token_create(
        organization=organization,
        uid=uid,
        person=person,
        status=status,
        kind=kind,
        expires_at=expires_at,
    )


# What `id_token_update` may change; everything else about a token (its UID, its
# organization) is fixed once issued.
ID_TOKEN_UPDATABLE = frozenset(
    {"status", "expires_at", "label", "person_id", "group_id", "is_master_pass_group"}
)


@transaction.atomic
def id_token_update(*, actor: AnyUser, token_id: int, changes: dict[str, Any]) -> IdToken:
    """`actor` changes a token of an organization they manage: block or unblock it,
    set its expiry, give it to a person, put it in a group (or take it out with
    `group_id=None`), make it the head of the master pass group.

    A token the actor cannot see is NotFound; one they only see is Forbidden;
    a person or group head of another organization is reported as missing."""
    unknown = set(changes) - ID_TOKEN_UPDATABLE
    if unknown:
        raise ValueError(f"Not updatable: {', '.join(sorted(unknown))}.")
    if not IdToken.objects.visible_to(actor).filter(pk=token_id).exists():
        raise NotFound(f"No such id token: {token_id}.")
    if not IdToken.objects.editable_by(actor).filter(pk=token_id).exists():
        raise Forbidden("Your role in the token's organization does not allow changes.")
    token = IdToken.objects.select_for_update().get(pk=token_id)
    if changes.get("person_id") is not None:
        person = Person.objects.filter(
            pk=changes["person_id"], organization_id=token.organization_id
        ).first()
        if person is None:
            raise InvalidReference(f"No such person: {changes['person_id']}.", field="person_id")
    if changes.get("group_id") is not None:
        head = IdToken.objects.filter(
            pk=changes["group_id"], organization_id=token.organization_id
        ).first()
        if head is None:
            raise InvalidReference(f"No such id token: {changes['group_id']}.", field="group_id")
    for field, value in changes.items():
        setattr(token, field, value)
    # The model's clean() holds the group rules (flat groups, no self-membership,
    # a master pass group is headed by a token with no group).
    token.full_clean(exclude=["organization", "uid"], validate_unique=False)
    try:
        with transaction.atomic():
            token.save(update_fields=[_column(field) for field in changes] or None)
    except IntegrityError as exc:
        raise AlreadyExists(
            "The organization already has a master pass group: unset it there first."
        ) from exc
    return token


def _column(field: str) -> str:
    return field.removesuffix("_id") if field in ("person_id", "group_id") else field


def _the_managed_organization(actor: AnyUser) -> Organization:
    managed = list(Organization.objects.editable_by(actor).order_by("pk")[:2])
    if len(managed) == 1:
        return managed[0]
    if managed:
        raise InvalidReference(
            "You manage several organizations: say which one with organization_id.",
            field="organization_id",
        )
    raise Forbidden(
        "You manage no organization: creating tokens takes an owner or property manager role."
    )
