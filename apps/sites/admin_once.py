"""Showing a secret once in the admin (a charger password, an API token).

Django's messages normally travel through a cookie or the session to the page
after a redirect; a secret must not be stored anywhere in clear, not even for
one request. So the secret is added as a message and rendered in the same
response, which consumes it: nothing is queued, and the page is not cached."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.template.response import TemplateResponse

if TYPE_CHECKING:
    from django.http import HttpRequest

TEMPLATE = "admin/plugboard/shown_once.html"


def shown_once_response(
    model_admin: Any,
    request: HttpRequest,
    *,
    title: str,
    secrets: list[str],
    next_url: str,
    next_label: str,
) -> TemplateResponse:
    for line in secrets:
        messages.warning(request, f"{line} — copy it now: it is shown only this once.")
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "next_url": next_url,
        "next_label": next_label,
    }
    response = TemplateResponse(request, TEMPLATE, context)
    response["Cache-Control"] = "no-store"
    return response
