"""The request being served, for audit records written from model signals that have no request."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest

from cardreveal.client_info import SYSTEM_CLIENT, ClientInfo


@dataclass
class RequestScope:
    """One request, and whether an admin change in it has been audited already."""

    request: HttpRequest
    admin_change_recorded: bool = False


_scope: ContextVar[RequestScope | None] = ContextVar("cardreveal_audit_scope", default=None)


def scope_enter(request: HttpRequest) -> tuple[RequestScope, object]:
    """Start a request's scope; returns it and the token `scope_exit` needs."""
    scope = RequestScope(request)
    return scope, _scope.set(scope)


def scope_exit(token: object) -> None:
    _scope.reset(token)  # type: ignore[arg-type]


def current_scope() -> RequestScope | None:
    return _scope.get()


def request_channel(request: HttpRequest) -> str:
    """ "admin" for admin pages, "api" under /api/, else "web"."""
    match = getattr(request, "resolver_match", None)
    if match is not None and "admin" in match.namespaces:
        return "admin"
    if request.path.startswith("/api/"):
        return "api"
    return "web"


def client_for_request(request: HttpRequest | None) -> ClientInfo:
    """ClientInfo for `request`, or for the request being served, or the system client."""
    if request is None:
        scope = current_scope()
        if scope is None:
            return SYSTEM_CLIENT
        request = scope.request
    from cardreveal.client_info import client_info

    return client_info(request, channel=request_channel(request))
