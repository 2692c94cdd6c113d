"""One error shape for the whole API: {"error": {"code", "message", "request_id"}}, never a trace."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cardreveal.api.parsers import JsonTooDeep, RequestTooLarge
from cardreveal.errors import ServiceError
from cardreveal.outages import OUTAGE_ERRORS, OUTAGE_MESSAGE, OUTAGE_RETRY_AFTER, outage_store

logger = logging.getLogger(__name__)


# Clearer messages than DRF's defaults, by exception class; the code is the class's default_code
# unless noted.
_MESSAGES: dict[type[exceptions.APIException], tuple[str, str]] = {
    JsonTooDeep: ("json_too_deep", ""),  # before its base class, ParseError; its own message
    exceptions.ParseError: ("malformed_json", "The request body is not valid JSON."),
    exceptions.UnsupportedMediaType: (
        "unsupported_media_type",
        "Send a JSON body with Content-Type: application/json.",
    ),
    exceptions.NotAuthenticated: (
        "not_authenticated",
        "Sign in first: send Authorization: Bearer <token> from POST /api/v1/auth/login.",
    ),
    exceptions.AuthenticationFailed: (
        "authentication_failed",
        "The token is invalid, expired or revoked. Sign in again.",
    ),
    exceptions.NotFound: ("not_found", "Not found."),
    exceptions.MethodNotAllowed: ("method_not_allowed", ""),
    exceptions.NotAcceptable: ("not_acceptable", "This API only answers application/json."),
    exceptions.Throttled: ("throttled", "Too many requests. Wait and try again."),
}


def error_body(*, code: str, message: str, request: Any, **extra: Any) -> dict[str, Any]:
    """The error envelope; `extra` members (e.g. `fields`) go inside it next to the code."""
    return {
        "error": {
            "code": code,
            "message": message,
            "request_id": str(getattr(request, "request_id", "") or ""),
            **extra,
        }
    }


def _code_and_message(exc: exceptions.APIException) -> tuple[str, str]:
    if not type(exc).__module__.startswith("rest_framework.") and "default_code" in vars(type(exc)):
        # one of ours, naming its own code (e.g. the provisioning API's client_token_required)
        return str(exc.default_code), str(exc.detail)
    for klass in type(exc).__mro__:
        if klass in _MESSAGES:
            code, message = _MESSAGES[klass]
            break
    else:
        code, message = str(exc.default_code), ""
    detail = exc.detail
    if isinstance(exc, exceptions.PermissionDenied):
        text = str(detail)
        if text.startswith("CSRF Failed"):
            return "csrf_failed", text
        return str(getattr(detail, "code", "") or "permission_denied"), text
    if isinstance(exc, exceptions.NotFound) and str(detail) != str(exc.default_detail):
        return code, str(detail)
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        return code, f"Too many requests. Try again in {max(1, round(wait))} seconds."
    return code, message or str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every failure becomes the one error shape.

    A service's refusal (ServiceError, RevealError among them) keeps its code, message, status and
    Retry-After, and is not rolled back: what the service recorded before refusing (a reveal's
    audit record) stands. Redis or the database failing where no service decided what that means
    is a 503 `temporarily_unavailable` with Retry-After. Anything unexpected is logged with its traceback
    (for the server's eyes only) and answered with a plain 500 in the same shape.
    """
    request = context.get("request")
    if isinstance(exc, OUTAGE_ERRORS):  # a store failed where nothing decided what that means
        logger.warning(
            "API %s failed: %s unavailable (%s)",
            getattr(request, "path", "?"),
            outage_store(exc),
            type(exc).__name__,
        )
        exc = ServiceError(
            "temporarily_unavailable", OUTAGE_MESSAGE, 503, retry_after=OUTAGE_RETRY_AFTER
        )
    if isinstance(exc, ServiceError):
        response = Response(
            error_body(code=exc.code, message=exc.message, request=request),
            status=exc.status_code,
        )
        if exc.retry_after:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):  # Django read the body itself and found it too big
        exc = RequestTooLarge()
    if not isinstance(exc, exceptions.APIException):
        logger.error(
            "API error on %s",
            getattr(request, "path", "?"),
            exc_info=exc,
            extra={"status_code": 500, "request": getattr(request, "_request", None)},
        )
        return Response(
            error_body(
                code="server_error",
                message="Something went wrong on our side. Try again later.",
                request=request,
            ),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    handled = drf_exception_handler(exc, context)
    if handled is None:  # pragma: no cover - DRF handles every APIException
        return None
    code, message = _code_and_message(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        code, message = "invalid_input", "Some fields are missing or invalid; see `fields`."
        extra["fields"] = (
            exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        )
    handled.data = error_body(code=code, message=message, request=request, **extra)
    return handled
