"""The one error shape of the API: {"detail", "error_code", "field_errors"}.

Every error, DRF's, Django's and our own, goes through `exception_handler`; anything unexpected becomes
a logged 500 in the same shape, never an HTML page.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback
from rest_framework_simplejwt.exceptions import InvalidToken

logger = logging.getLogger("megahub.api")


class ApplicationError(exceptions.APIException):
    """An error our code raises on purpose, with its own error code."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request could not be carried out."
    error_code = "BAD_REQUEST"

    def __init__(self, detail=None, *, error_code=None, field_errors=None):
        super().__init__(detail or self.default_detail)
        if error_code:
            self.error_code = error_code
        self.field_errors = field_errors or {}


def validation_error(message: str, field: str | None = None, *,
                     field_errors: dict | None = None) -> ApplicationError:
    """A 400 VALIDATION_ERROR: `field` gets the message, or `field_errors` is used as given."""
    errors = field_errors if field_errors is not None else ({field: [message]} if field else {})
    return ApplicationError(message, error_code="VALIDATION_ERROR", field_errors=errors)


class RelatedNotFound(ApplicationError):
    """An id named in a body or a query parameter that is not one of the brand's objects (unknown, or another
    brand's: the same answer, so nothing tells them apart)."""

    status_code = status.HTTP_404_NOT_FOUND
    error_code = "NOT_FOUND"


def related_not_found(message: str, field: str) -> RelatedNotFound:
    """A 404 NOT_FOUND naming the body field or query parameter whose id is not one of the brand's."""
    return RelatedNotFound(message, field_errors={field: [message]})


class BrandRequired(ApplicationError):
    default_detail = "The X-Brand-ID header is required."
    error_code = "BRAND_REQUIRED"


class InvalidTransition(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This action is not allowed in the object's current state."
    error_code = "INVALID_TRANSITION"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    error_code = "CONFLICT"


def name_taken(message: str, field: str = "name") -> Conflict:
    """A 409 NAME_TAKEN naming the field: the value is valid, another object of the brand holds it (a conflict
    with the server's state, which no schema can state, not an invalid request)."""
    return Conflict(message, error_code="NAME_TAKEN", field_errors={field: [message]})


class ServiceUnavailable(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this endpoint needs is unavailable."
    error_code = "SERVICE_UNAVAILABLE"


class BrokerUnavailable(ServiceUnavailable):
    default_detail = "The message broker cannot be reached."
    error_code = "BROKER_UNAVAILABLE"


class DatabaseUnavailable(ServiceUnavailable):
    default_detail = "The database cannot be reached; try again shortly."
    error_code = "DATABASE_UNAVAILABLE"


class PayloadTooLarge(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    error_code = "PAYLOAD_TOO_LARGE"


_CODES = [
    (InvalidToken, "TOKEN_INVALID"),
    (exceptions.NotAuthenticated, "NOT_AUTHENTICATED"),
    (exceptions.AuthenticationFailed, "AUTHENTICATION_FAILED"),
    (exceptions.PermissionDenied, "PERMISSION_DENIED"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.Throttled, "THROTTLED"),
    (exceptions.ParseError, "MALFORMED_REQUEST"),
    (exceptions.ValidationError, "VALIDATION_ERROR"),
]


def _printable(text) -> str:
    """Messages may echo the client's input; a lone surrogate in it would make the response unencodable."""
    return str(text).encode("utf-8", "replace").decode("utf-8")


def error_body(detail: str, error_code: str, field_errors: dict | None = None) -> dict:
    fields = {_printable(k): [_printable(m) for m in v] for k, v in (field_errors or {}).items()}
    return {"detail": _printable(detail), "error_code": error_code, "field_errors": fields}


def flatten_errors(data, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"field.sub": ["message", ...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten_errors(value, name))
    elif isinstance(data, list) and data and all(not isinstance(v, dict | list) for v in data):
        out[prefix or "non_field_errors"] = [str(v) for v in data]
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if value:
                out.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix or "non_field_errors"] = [str(data)]
    return out


def _message(detail) -> str:
    if isinstance(detail, dict):
        for key in ("detail", "message"):
            if key in detail:
                return str(detail[key])
        return "; ".join(f"{k}: {_message(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return " ".join(_message(v) for v in detail)
    return str(detail)


def _is_missing_object(exc) -> bool:
    """A bare NotFound or Django's get_object_or_404 message, as opposed to e.g. "Invalid page."."""
    detail = str(exc.detail)
    generic = detail == str(exceptions.NotFound.default_detail)
    return generic or (detail.startswith("No ") and detail.endswith("matches the given query."))


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if str(exc) else None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) if str(exc) else None)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, OperationalError | InterfaceError):
        # The database is down or the connection broke: a service outage (503), not a bug (500).
        logger.error("Database unavailable: %s", exc)
        exc = DatabaseUnavailable()

    if not isinstance(exc, exceptions.APIException):
        view = context.get("view")
        logger.exception("Unhandled error in %s", type(view).__name__ if view else "request")
        set_rollback()
        return Response(error_body("Internal server error.", "INTERNAL_ERROR"), status=500)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, ApplicationError):
        body = error_body(str(exc.detail), exc.error_code, exc.field_errors)
    elif isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        general = fields.pop("non_field_errors", [])
        detail = " ".join(general) if general else "Invalid input."
        body = error_body(detail, "VALIDATION_ERROR", fields)
    else:
        code = next((c for cls, c in _CODES if isinstance(exc, cls)), "ERROR")
        if isinstance(exc, exceptions.NotFound) and _is_missing_object(exc):
            # The view's object is missing (or another brand's): its own code, e.g. TASK_NOT_FOUND.
            # Other 404s (an out-of-range page) keep NOT_FOUND and their message.
            view = context.get("view")
            code = getattr(view, "not_found_code", code)
            exc.detail = getattr(view, "not_found_detail", "Not found or access denied.")
        body = error_body(_message(exc.detail), code)

    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)
