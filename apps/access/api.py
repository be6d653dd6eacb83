"""REST operations of the access app (mounted in config/api.py)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router
from ninja.responses import Status

from apps.access import selectors, services
from apps.access.models import IdToken
from apps.access.schemas import IdTokenCreateIn, IdTokenOut, IdTokenUpdateIn
from apps.sites.schemas import PageIn, error_responses

router = Router(tags=["access"])


@router.get("/id-tokens", response={200: list[IdTokenOut], **error_responses(401, 422)})
def id_token_list(
    request: HttpRequest,
    page: Query[PageIn],
    person_id: int | None = None,
    status: IdToken.Status | None = None,
) -> object:
    """The id tokens you may see, by UID; optionally of one person or in one status."""
    return page.apply(
        selectors.id_token_list(user=request.user, person_id=person_id, status=status)
    )


@router.post("/id-tokens", response={201: IdTokenOut, **error_responses(401, 403, 409, 422)})
def id_token_issue(request: HttpRequest, payload: IdTokenCreateIn) -> Status[IdToken]:
    """Create an id token, with or without a person. It goes into the person's
    organization, or the one you manage (say which with organization_id if several)."""
    token = services.id_token_issue(
        actor=request.user,
        uid=payload.uid,
        organization_id=payload.organization_id,
        person_id=payload.person_id,
        status=payload.status,
        kind=payload.kind,
        expires_at=payload.expires_at,
    )
    return Status(201, token)


@router.patch(
    "/id-tokens/{token_id}", response={200: IdTokenOut, **error_responses(401, 403, 404, 409, 422)}
)
def id_token_update(request: HttpRequest, token_id: int, payload: IdTokenUpdateIn) -> IdToken:
    """Change a token: block it, set its expiry or label, give it to a person, put it
    in a group or make it head the master pass group. Only the fields sent change."""
    changes = payload.model_dump(exclude_unset=True)
    for field in ("status", "label", "is_master_pass_group"):
        if field in changes and changes[field] is None:
            changes.pop(field)  # these cannot be cleared: null means "unchanged"
    return services.id_token_update(actor=request.user, token_id=token_id, changes=changes)
