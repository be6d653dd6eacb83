"""Diagnostics (1.6 GetDiagnostics) and log (2.0.1 GetLog) uploads.

The charger is told to upload to a URL on Plugboard carrying a single-use,
unguessable token bound to that charger and request (only its SHA-256 is stored).
It uploads by HTTP POST (multipart) or PUT; the file lands under
settings.DIAGNOSTICS_UPLOAD_DIR (never served directly: downloads go through a
view that checks the organization). The request's status follows the upload
itself and the charger's DiagnosticsStatusNotification / LogStatusNotification
(kept by the OCPP edge as charger events of kind diagnostics_status)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename

from apps.chargers import commands
from apps.chargers.models import Charger, ChargerEvent, CommandLog
from apps.monitoring.models import DiagnosticsRequest
from apps.sites.exceptions import DomainError, Forbidden, NotFound
from apps.sites.tenancy import MANAGE_ROLES

if TYPE_CHECKING:
    from apps.sites.tenancy import AnyUser

R = DiagnosticsRequest.Status
# DiagnosticsStatus (1.6) and UploadLogStatus (2.0.1) that end a request badly.
UPLOAD_FAILURES = frozenset(
    {"UploadFailed", "UploadFailure", "BadMessage", "PermissionDenied", "NotSupportedOperation"}
)
OPEN = (R.REQUESTED, R.UPLOADING)


class UploadRefused(DomainError):
    """The upload URL's token is unknown, already used or expired (HTTP 404)."""


class UploadTooLarge(DomainError):
    """The uploaded body exceeds settings.DIAGNOSTICS_UPLOAD_MAX_BYTES (HTTP 413)."""


def _user_id(user: AnyUser | None) -> int | None:
    """The account's id for a log row (an anonymous user has none)."""
    return int(user.pk) if user is not None and user.is_authenticated and user.pk else None


def upload_max_bytes() -> int:
    return int(settings.DIAGNOSTICS_UPLOAD_MAX_BYTES)


def upload_root() -> Path:
    return Path(settings.DIAGNOSTICS_UPLOAD_DIR)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def upload_url(*, token: str, base_url: str | None = None) -> str:
    """The absolute URL a charger uploads to (PUBLIC_BASE_URL unless given)."""
    base = (base_url or settings.PUBLIC_BASE_URL).rstrip("/")
    return base + reverse("monitoring:diagnostics-upload", kwargs={"token": token})


@transaction.atomic
def _request_create(
    *, charger: Charger, requested_by: AnyUser | None, now: datetime
) -> tuple[DiagnosticsRequest, str]:
    token = secrets.token_urlsafe(32)
    user_id = _user_id(requested_by)
    request = DiagnosticsRequest.objects.create(
        charger=charger,
        token_hash=_token_hash(token),
        expires_at=now + timedelta(hours=settings.DIAGNOSTICS_UPLOAD_TTL_HOURS),
        requested_by_id=user_id,
        requested_at=now,
        status_at=now,
    )
    return request, token


# What the command's answer may tell even about a request already uploaded (a fast
# charger can upload before its answer is stored).
_ANSWER_FIELDS = frozenset({"command_id", "announced_file_name"})


@transaction.atomic
def _request_update(request: DiagnosticsRequest, **values: Any) -> None:
    rows = DiagnosticsRequest.objects.filter(pk=request.pk)
    # Never overwrite the status of an upload that arrived while the command was answered.
    if not rows.exclude(status=R.UPLOADED).update(**values):
        rows.update(**{k: v for k, v in values.items() if k in _ANSWER_FIELDS})
    request.refresh_from_db()


def _check_user(charger: Charger, issued_by: AnyUser | None) -> None:
    if issued_by is None:
        return
    if not Charger.objects.visible_to(issued_by).filter(pk=charger.pk).exists():
        raise NotFound(f"No charger with charge point id {charger.charge_point_id!r}.")
    if not Charger.objects.editable_by(issued_by, MANAGE_ROLES).filter(pk=charger.pk).exists():
        raise Forbidden("Your role in the charger's organization does not allow this.")


def _prepare(
    *,
    charger: Charger,
    issued_by: AnyUser | None,
    start_at: datetime | None,
    stop_at: datetime | None,
    base_url: str | None,
) -> tuple[DiagnosticsRequest, dict[str, Any]]:
    """The request row (with its fresh token) and the command's parameters."""
    request, token = _request_create(charger=charger, requested_by=issued_by, now=timezone.now())
    params: dict[str, Any] = {"location": upload_url(token=token, base_url=base_url)}
    if start_at is not None:
        params["start_at"] = start_at.isoformat()
    if stop_at is not None:
        params["stop_at"] = stop_at.isoformat()
    return request, params


def _record_answer(
    request: DiagnosticsRequest, charger: Charger, outcome: commands.CommandResult | DomainError
) -> DiagnosticsRequest:
    if isinstance(outcome, DomainError):
        _request_update(
            request, status=R.FAILED, detail=str(outcome)[:255], status_at=timezone.now()
        )
        return request
    announced = str(outcome.response.get("file_name") or "")[:255]
    if outcome.status != "Accepted":
        _request_update(
            request,
            status=R.FAILED,
            ocpp_status=outcome.status[:40],
            command_id=outcome.command_id,
            detail=f"The charger answered {outcome.status}.",
            status_at=timezone.now(),
        )
    elif _nothing_to_upload(charger, announced):
        _request_update(
            request,
            status=R.FAILED,
            command_id=outcome.command_id,
            detail="The charger has no diagnostics to upload.",
            status_at=timezone.now(),
        )
    else:
        _request_update(request, command_id=outcome.command_id, announced_file_name=announced)
    return request


def diagnostics_request(
    *,
    charger: Charger,
    issued_by: AnyUser | None = None,
    source: str = CommandLog.Source.SYSTEM,
    start_at: datetime | None = None,
    stop_at: datetime | None = None,
    base_url: str | None = None,
    timeout: float | None = None,
) -> DiagnosticsRequest:
    """Ask the charger to upload its diagnostics (1.6) or its diagnostics log
    (2.0.1) to a fresh single-use URL. The request is kept whatever happens: a
    charger that is offline, silent or refuses leaves a failed request saying so.
    Raises NotFound / Forbidden when the user may not command the charger."""
    _check_user(charger, issued_by)
    request, params = _prepare(
        charger=charger, issued_by=issued_by, start_at=start_at, stop_at=stop_at, base_url=base_url
    )
    outcome: commands.CommandResult | DomainError
    try:
        outcome = commands.command_send_sync(
            charger=charger,
            command="get-diagnostics",
            params=params,
            issued_by=issued_by,
            source=source,
            timeout=timeout,
        )
    except DomainError as exc:
        outcome = exc
    return _record_answer(request, charger, outcome)


def diagnostics_request_many(
    *,
    chargers: Sequence[Charger],
    issued_by: AnyUser | None = None,
    source: str = CommandLog.Source.SYSTEM,
    timeout: float | None = None,
) -> list[DiagnosticsRequest | DomainError]:
    """`diagnostics_request` for several chargers, asked concurrently (admin bulk
    action). Each charger's request, or the error that kept it from being made
    (NotFound / Forbidden), in the order given."""
    prepared: list[tuple[Charger, DiagnosticsRequest, dict[str, Any]] | DomainError] = []
    for charger in chargers:
        try:
            _check_user(charger, issued_by)
        except DomainError as exc:
            prepared.append(exc)
            continue
        request, params = _prepare(
            charger=charger, issued_by=issued_by, start_at=None, stop_at=None, base_url=None
        )
        prepared.append((charger, request, params))
    to_send = [p for p in prepared if not isinstance(p, DomainError)]

    async def send_all() -> list[commands.CommandResult | DomainError]:
        limit = asyncio.Semaphore(commands.BULK_CONCURRENCY)

        async def one(charger: Charger, params: dict[str, Any]) -> Any:
            async with limit:
                try:
                    return await commands.command_send(
                        charger=charger.charge_point_id,
                        command="get-diagnostics",
                        params=params,
                        issued_by=issued_by,
                        source=source,
                        timeout=timeout,
                    )
                except DomainError as exc:
                    return exc

        return list(await asyncio.gather(*(one(c, p) for c, _, p in to_send)))

    answers = iter(async_to_sync(send_all)())
    results: list[DiagnosticsRequest | DomainError] = []
    for item in prepared:
        if isinstance(item, DomainError):
            results.append(item)
        else:
            charger, request, _ = item
            results.append(_record_answer(request, charger, next(answers)))
    return results


def _nothing_to_upload(charger: Charger, announced: str) -> bool:
    """A 1.6 charger leaves the file name out when it has nothing to upload; a 2.0.1
    one answers with a status and may omit the name even when it uploads."""
    return charger.ocpp_version == Charger.OcppVersion.V16 and not announced


def _safe_name(name: str, request: DiagnosticsRequest) -> str:
    base = get_valid_filename(os.path.basename(name.replace("\\", "/")) or "") if name else ""
    base = base.lstrip(".")[:150]
    return base or f"{request.charger.charge_point_id}-diagnostics-{request.pk}.log"


@transaction.atomic
def diagnostics_upload_receive(
    *,
    token: str,
    file_name: str,
    chunks: Iterable[bytes],
    content_type: str = "",
) -> DiagnosticsRequest:
    """Store a charger's upload for the request its token names, once. Raises
    UploadRefused (unknown, used or expired token: nothing is kept) or UploadTooLarge
    (the file is discarded, the token stays usable for a smaller retry)."""
    now = timezone.now()
    request = (
        DiagnosticsRequest.objects.select_for_update()
        .select_related("charger")
        .filter(token_hash=_token_hash(token))
        .first()
    )
    if request is None or request.token_used_at is not None or request.status == R.UPLOADED:
        raise UploadRefused("This upload link is unknown or was already used.")
    if request.expires_at <= now:
        raise UploadRefused("This upload link has expired.")
    name = _safe_name(file_name or request.announced_file_name, request)
    relative = Path(str(request.charger_id)) / f"{request.pk}-{secrets.token_hex(4)}-{name}"
    root = upload_root().resolve()
    target = (root / relative).resolve()
    if root not in target.parents:  # pragma: no cover (the name is sanitised above)
        raise UploadRefused("Bad file name.")
    target.parent.mkdir(parents=True, exist_ok=True)
    limit = upload_max_bytes()
    size = 0
    partial = target.with_name(target.name + ".part")
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(f"The file exceeds the upload limit of {limit} bytes.")
                out.write(chunk)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    request.status = R.UPLOADED
    request.token_used_at = now
    request.uploaded_at = now
    request.status_at = now
    request.file_name = name
    request.file_path = str(relative)
    request.file_size = size
    request.content_type = (content_type or "application/octet-stream")[:100]
    request.detail = ""
    try:
        request.save()
    except BaseException:
        # No row points at it: the file must not stay behind.
        target.unlink(missing_ok=True)
        raise
    return request


@transaction.atomic
def diagnostics_progress_sync(*, now: datetime) -> int:
    """Fold the chargers' upload status notifications into their open requests, and
    fail the requests whose link expired without an upload. A 2.0.1 notification
    names its request (the command's id); a 1.6 one counts for the charger's
    latest request made before it (an already finished one included: a late
    "Uploaded" must not land on an older request). Returns how many requests
    changed."""
    open_requests = list(
        DiagnosticsRequest.objects.select_for_update()
        .filter(status__in=OPEN)
        .order_by("charger_id", "requested_at", "pk")
    )
    before = {r.pk: (r.status, r.ocpp_status, r.detail) for r in open_requests}
    by_charger: dict[int, list[DiagnosticsRequest]] = {}
    for request in open_requests:
        by_charger.setdefault(request.charger_id, []).append(request)
    for charger_id, open_ones in by_charger.items():
        since = open_ones[0].requested_at
        locked = {r.pk: r for r in open_ones}
        requests = [
            locked.get(r.pk, r)
            for r in DiagnosticsRequest.objects.filter(
                charger_id=charger_id, requested_at__gte=since
            ).order_by("requested_at", "pk")
        ]
        events = ChargerEvent.objects.filter(
            charger_id=charger_id,
            kind=ChargerEvent.Kind.DIAGNOSTICS_STATUS,
            received_at__gte=since,
        ).order_by("received_at", "pk")
        for event in events:
            payload = event.payload or {}
            reported = str(payload.get("status", ""))
            request_id = payload.get("requestId")
            if request_id is not None:
                target = next((r for r in requests if r.command_id == request_id), None)
            else:
                earlier = [r for r in requests if r.requested_at <= event.received_at]
                target = earlier[-1] if earlier else None
            if target is None or target.pk not in locked or target.status not in OPEN:
                continue
            if reported == "Uploading":
                target.status = R.UPLOADING
            elif reported in UPLOAD_FAILURES:
                target.status = R.FAILED
                target.detail = f"The charger reported {reported}."
            elif reported == "Uploaded":
                target.detail = "The charger reports the upload done; no file has arrived."
            else:
                continue
            if target.ocpp_status != reported[:40]:
                target.ocpp_status = reported[:40]
                target.status_at = event.received_at
    changed = 0
    for request in open_requests:
        if request.status in OPEN and request.expires_at <= now:
            request.status = R.FAILED
            request.detail = "No upload arrived before the link expired."
            request.status_at = now
        if (request.status, request.ocpp_status, request.detail) != before[request.pk]:
            request.save(update_fields=["status", "ocpp_status", "detail", "status_at"])
            changed += 1
    return changed


@transaction.atomic
def diagnostics_files_prune(*, now: datetime) -> int:
    """Delete the files uploaded more than DIAGNOSTICS_UPLOAD_RETENTION_DAYS ago; their
    requests stay, marked deleted. Returns how many files went."""
    cutoff = now - timedelta(days=settings.DIAGNOSTICS_UPLOAD_RETENTION_DAYS)
    old = DiagnosticsRequest.objects.select_for_update().filter(
        status=R.UPLOADED, uploaded_at__lt=cutoff
    )
    root = upload_root().resolve()
    pruned = 0
    for request in old.order_by("pk"):
        path = (root / request.file_path).resolve()
        if root in path.parents:
            path.unlink(missing_ok=True)
        request.status = R.DELETED
        request.status_at = now
        request.save(update_fields=["status", "status_at"])
        pruned += 1
    return pruned


def diagnostics_housekeeping(*, now: datetime) -> int:
    """The periodic job: upload progress from the chargers' notifications, expired
    links, old files. Returns how many requests changed."""
    return diagnostics_progress_sync(now=now) + diagnostics_files_prune(now=now)
