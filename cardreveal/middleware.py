"""Project middleware: a request id on every request, the headers Django does not set itself, and
request bodies refused by their declared length before anything reads them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Where the API is mounted (cardreveal/urls.py): its refusals are JSON, in its error shape.
API_PATH_PREFIX = "/api/"


class SecurityHeadersMiddleware:
    """Adds X-Request-ID, Permissions-Policy and Cross-Origin-Resource-Policy; drops Server."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        response.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if "Server" in response:
            del response["Server"]
        return response


@dataclass(frozen=True)
class BodyRefusal:
    """Why a request's body is refused before anything reads it: status, stable code, message."""

    status: int
    code: str
    message: str


def body_limit_text() -> str:
    """DATA_UPLOAD_MAX_MEMORY_SIZE in words: "2.5 MB", "64 KB"."""
    limit = int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):.3g} MB"
    return f"{limit / 1024:.3g} KB"


def too_large_refusal() -> BodyRefusal:
    """The 413 of a body over DATA_UPLOAD_MAX_MEMORY_SIZE."""
    return BodyRefusal(
        413,
        "request_too_large",
        f"The request is too large: send at most {body_limit_text()}.",
    )


def body_refusal(meta: dict[str, Any]) -> BodyRefusal | None:
    """What is wrong with the request's declared body length, or None: a length that is not a
    whole number of bytes (400), a body sent without one (chunked, 411: it would be read as empty),
    a length over DATA_UPLOAD_MAX_MEMORY_SIZE (413). Reads the headers only, never the body."""
    declared = str(meta.get("CONTENT_LENGTH") or "").strip()
    if not declared:
        if str(meta.get("HTTP_TRANSFER_ENCODING") or "").strip():
            return BodyRefusal(
                411,
                "length_required",
                "Send the body with a Content-Length header; chunked bodies are not accepted.",
            )
        return None
    if not declared.isascii() or not declared.isdigit():
        return BodyRefusal(
            400,
            "invalid_content_length",
            "The Content-Length header must be the body's length in bytes, a whole number.",
        )
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and int(declared) > int(limit):
        return too_large_refusal()
    return None


class RequestBodyLimitMiddleware:
    """Refuses a body by its declared length before anything reads it (`body_refusal`): the API
    in its JSON error shape, pages with a short page. A body Django itself finds too large later
    (RequestDataTooBig from a view) is answered the same way, never as a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = body_refusal(request.META)
        if refusal is not None:
            return refuse_body(request, refusal)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return refuse_body(request, too_large_refusal())
        return None


def refuse_body(request: HttpRequest, refusal: BodyRefusal) -> HttpResponse:
    """The answer to a refused body: JSON under /api/ (the API's error shape), else a page."""
    response: HttpResponse
    if request.path_info.startswith(API_PATH_PREFIX):
        body = {
            "error": {
                "code": refusal.code,
                "message": refusal.message,
                "request_id": str(getattr(request, "request_id", "") or ""),
            }
        }
        response = JsonResponse(body, status=refusal.status)
        add_never_cache_headers(response)
    else:
        response = TemplateResponse(
            request, "request_refused.html", {"refusal": refusal}, status=refusal.status
        )
        response.render()
    return response
