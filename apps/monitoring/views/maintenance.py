"""Maintenance endpoints outside the admin: the upload URL chargers send their
diagnostics / logs to, and the download of those files for managers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from apps.chargers.exceptions import CommandInvalid
from apps.chargers.models import CommandLog
from apps.monitoring.models import DiagnosticsRequest
from apps.monitoring.selectors import maintenance as selectors
from apps.monitoring.selectors.maintenance import diagnostics_file
from apps.monitoring.services import configuration, diagnostics
from apps.monitoring.services.diagnostics import (
    UploadRefused,
    UploadTooLarge,
    diagnostics_upload_receive,
    upload_max_bytes,
)
from apps.sites.exceptions import DomainError, Forbidden, NotFound

if TYPE_CHECKING:
    from django.http import HttpRequest

CHUNK = 64 * 1024


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


def _body_chunks(request: HttpRequest) -> Iterator[bytes]:
    while chunk := request.read(CHUNK):
        yield chunk


# A charger has no session and no CSRF token: the single-use token in the URL is
# its credential.
@csrf_exempt
@require_http_methods(["POST", "PUT"])
def diagnostics_upload(request: HttpRequest, token: str, name: str = "") -> HttpResponse:
    """A charger's diagnostics / log upload: multipart POST (the first file) or a
    raw PUT / POST body. 413 over the size limit (checked on Content-Length before
    reading, and again while reading), 404 for an unknown or used link."""
    limit = upload_max_bytes()
    length = request.META.get("CONTENT_LENGTH") or ""
    if length.isdigit() and int(length) > limit:
        return _text(413, f"Upload refused: larger than the limit of {limit} bytes.")
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith("multipart/form-data") and not length.isdigit():
        # Django parses a form only with its length; say so rather than "no file".
        return _text(411, "Upload refused: a multipart upload needs a Content-Length.")
    try:
        if content_type.startswith("multipart/form-data"):
            upload = next((request.FILES.get(k) for k in request.FILES), None)
            if not isinstance(upload, UploadedFile):
                return _text(400, "Upload refused: the form holds no file.")
            stored = diagnostics_upload_receive(
                token=token,
                file_name=upload.name or name,
                chunks=upload.chunks(CHUNK),
                content_type=upload.content_type or "",
            )
        else:
            stored = diagnostics_upload_receive(
                token=token, file_name=name, chunks=_body_chunks(request), content_type=content_type
            )
    except UploadTooLarge as exc:
        return _text(413, f"Upload refused: {exc}")
    except UploadRefused as exc:
        return _text(404, f"Upload refused: {exc}")
    return _text(201, f"Stored {stored.file_name} ({stored.file_size} bytes).")


@login_required
@require_GET
def diagnostics_download(request: HttpRequest, pk: int) -> FileResponse:
    """An uploaded file, for a user of the charger's organization (404 otherwise)."""
    try:
        path, stored = diagnostics_file(user=request.user, request_id=pk)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=stored.file_name,
        content_type="application/octet-stream",
    )


class ConfigurationChangeForm(forms.Form):
    key = forms.CharField(max_length=120)
    value = forms.CharField(max_length=500, required=False, strip=False)


@login_required
@require_http_methods(["GET", "POST"])
def charger_maintenance(request: HttpRequest, pk: int) -> HttpResponse:
    """A charger's configuration next to its template, recent changes, firmware
    updates and diagnostics uploads; managers read the configuration, change a key
    or ask for diagnostics here (one service call per POST, then back here)."""
    try:
        page = selectors.charger_maintenance(user=request.user, charger_id=pk)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    form = ConfigurationChangeForm()
    if request.method == "POST":
        action = request.POST.get("action", "")
        charger = page.charger
        try:
            if action == "read":
                configuration.charger_configuration_read(
                    charger=charger, issued_by=request.user, source=CommandLog.Source.DASHBOARD
                )
                messages.success(request, "Configuration read.")
            elif action == "change":
                form = ConfigurationChangeForm(request.POST)
                if not form.is_valid():
                    raise CommandInvalid("Give a key and a value.")
                change = configuration.charger_configuration_change(
                    charger=charger,
                    key=form.cleaned_data["key"],
                    value=form.cleaned_data["value"],
                    issued_by=request.user,
                    source=CommandLog.Source.DASHBOARD,
                )
                level = messages.SUCCESS if change.status == "Accepted" else messages.WARNING
                messages.add_message(
                    request, level, f"{change.key}: {change.get_status_display()}."
                )
            elif action == "diagnostics":
                asked = diagnostics.diagnostics_request(
                    charger=charger, issued_by=request.user, source=CommandLog.Source.DASHBOARD
                )
                if asked.status == DiagnosticsRequest.Status.FAILED:
                    messages.error(request, f"Diagnostics: {asked.detail}")
                else:
                    messages.success(request, "Diagnostics requested: the file appears below.")
            else:
                return _text(400, "Unknown action.")
        except Forbidden as exc:
            raise PermissionDenied(str(exc)) from exc
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            return redirect("monitoring:charger-maintenance", pk=pk)
    return render(
        request,
        "monitoring/maintenance/charger.html",
        {"page": page, "form": form, "title": f"Maintenance of {page.charger}"},
    )
