"""The REST API: one NinjaAPI, one router per app, mounted at /api/v1.

Authentication (bearer tokens) and the mapping of domain errors to HTTP live here,
once, so that every operation answers errors in the same JSON shape:
`{"detail": "<a sentence>", "errors": [{"field": ..., "message": ...}] | null}`."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError
from ninja.operation import Operation
from ninja.security import HttpBearer

from apps.access.api import router as access_router
from apps.chargers.api import router as chargers_router
from apps.chargers.credentials import PasswordPolicyError
from apps.chargers.exceptions import ChargerNoAnswer, ChargerOffline, CommandRejected
from apps.monitoring.api import router as monitoring_router
from apps.sites.api import router as sites_router
from apps.sites.exceptions import AlreadyExists, DomainError, Forbidden, InvalidReference, NotFound
from apps.sites.models import ApiToken
from apps.sites.services import api_token_authenticate

logger = logging.getLogger(__name__)

BEARER_HINT = "send the header 'Authorization: Bearer <token>'"


class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>` with a token from the admin or
    `manage.py create_api_token`. The request acts as the token's user."""

    def __call__(self, request: HttpRequest) -> ApiToken:
        # Raise rather than return None, so that the 401 says what is wrong.
        header = request.headers.get("Authorization", "")
        if not header:
            raise AuthenticationError(message=f"Authentication required: {BEARER_HINT}.")
        scheme, _, raw_token = header.partition(" ")
        if scheme.lower() != "bearer" or not raw_token.strip():
            raise AuthenticationError(message=f"Unsupported Authorization header: {BEARER_HINT}.")
        return self.authenticate(request, raw_token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        api_token = api_token_authenticate(raw_token=token)
        if api_token is None:
            raise AuthenticationError(message="The API token is invalid, expired or revoked.")
        # Tenancy scopes everything by request.user, as in the admin.
        request.user = api_token.user
        return api_token


class PlugboardAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # Operations are named like the services they call (charger_register):
        # clients generated from the schema get those names, not module paths.
        return operation.view_func.__name__


api = PlugboardAPI(
    title="Plugboard API",
    version="1",
    description=(
        "Charging management by token. Authenticate with `Authorization: Bearer <token>` "
        "(create one in the admin or with `manage.py create_api_token USERNAME`). "
        "Lists are JSON arrays in a fixed order, paged with `limit` (default 100, "
        "at most 1000) and `offset`."
    ),
    urls_namespace="api",
    auth=BearerToken(),
    # The docs page uses the Swagger UI files bundled with ninja (served as static
    # files: "ninja" is in INSTALLED_APPS), never a CDN. No validator badge: it
    # would send the schema to an outside service.
    docs=Swagger(settings={"validatorUrl": None}),
)
api.add_router("/", sites_router)
api.add_router("/", chargers_router)
api.add_router("/", access_router)
api.add_router("/", monitoring_router)


# --- errors ---------------------------------------------------------------------


def _error(
    request: HttpRequest,
    status: int,
    detail: str,
    errors: Iterable[dict[str, str]] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {"detail": detail, "errors": list(errors) if errors else None}
    return api.create_response(request, body, status=status)


def _invalid(request: HttpRequest, errors: list[dict[str, str]]) -> HttpResponse:
    summary = "; ".join(
        f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors
    )
    return _error(request, 422, f"Invalid input. {summary}", errors)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(request, 401, exc.message)
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, exc.message)


@api.exception_handler(RequestValidationError)
def _request_invalid(request: HttpRequest, exc: RequestValidationError) -> HttpResponse:
    """The request did not match its schema (pydantic's errors, with their location)."""
    errors = []
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ())]
        # ("body", "payload", "zone_id") -> "zone_id"; ("query", "limit") -> "limit".
        if location[:1] == ["body"]:
            location = location[2:] if len(location) > 2 else location[1:]
        elif location:
            location = location[1:]
        errors.append({"field": ".".join(location), "message": str(error.get("msg", "invalid"))})
    return _invalid(request, errors)


@api.exception_handler(ValidationError)
def _domain_invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """A domain rule refused the input (Django's ValidationError, as forms use it)."""
    if hasattr(exc, "error_dict"):
        errors = [
            {"field": "" if field == "__all__" else field, "message": message}
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    else:
        errors = [{"field": "", "message": message} for message in exc.messages]
    return _invalid(request, errors)


@api.exception_handler(PasswordPolicyError)
def _password_invalid(request: HttpRequest, exc: PasswordPolicyError) -> HttpResponse:
    return _invalid(request, [{"field": "password", "message": str(exc)}])


@api.exception_handler(InvalidReference)
def _invalid_reference(request: HttpRequest, exc: InvalidReference) -> HttpResponse:
    return _invalid(request, [{"field": exc.field, "message": str(exc)}])


@api.exception_handler(NotFound)
@api.exception_handler(ObjectDoesNotExist)
@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Domain messages are written to be shown; Django's may name internals.
    return _error(request, 404, str(exc) if isinstance(exc, NotFound) else "Not found.")


@api.exception_handler(Forbidden)
@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
    detail = str(exc) if isinstance(exc, Forbidden) else "Your role does not allow this."
    return _error(request, 403, detail)


@api.exception_handler(AlreadyExists)
def _already_exists(request: HttpRequest, exc: AlreadyExists) -> HttpResponse:
    return _error(request, 409, str(exc))


@api.exception_handler(ChargerOffline)
def _charger_offline(request: HttpRequest, exc: ChargerOffline) -> HttpResponse:
    return _error(request, 409, str(exc))


@api.exception_handler(ChargerNoAnswer)
def _charger_no_answer(request: HttpRequest, exc: ChargerNoAnswer) -> HttpResponse:
    return _error(request, 504, str(exc))


@api.exception_handler(CommandRejected)
def _command_rejected(request: HttpRequest, exc: CommandRejected) -> HttpResponse:
    # The charger answered with an OCPP error: the upstream failed, not the request.
    return _error(request, 502, str(exc))


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    # Any other refusal of the domain: the request was understood but cannot be done.
    return _error(request, 422, str(exc))


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled error in %s %s", request.method, request.path)
    return _error(request, 500, "Internal server error: the error has been logged.")


def not_found_view(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Unknown paths under /api/ answer in the API's JSON shape, not an HTML page."""
    return _error(request, 404, f"No API endpoint at {request.path}.")
