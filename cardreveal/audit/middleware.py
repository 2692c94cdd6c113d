"""Keeps the current request at hand for audit records, and audits admin actions Django does not log."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IS_POPUP_VAR
from django.http import HttpRequest, HttpResponse

from cardreveal.audit.context import client_for_request, scope_enter, scope_exit


class AuditContextMiddleware:
    """Put last in MIDDLEWARE (after the request id is set).

    Django's admin writes a LogEntry (audited by a receiver) for adds, changes and single deletions,
    but not for bulk deletions or for actions that only call `queryset.update()` (the kill
    switches). So a successful admin changelist action that left no LogEntry is audited here, with
    the action's name and the selected ids.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        scope, token = scope_enter(request)
        try:
            response = self.get_response(request)
            if not scope.admin_change_recorded and _is_admin_action(request, response):
                _record_admin_action(request)
            return response
        finally:
            scope_exit(token)


def _is_admin_action(request: HttpRequest, response: HttpResponse) -> bool:
    match = request.resolver_match
    return (
        request.method == "POST"
        and match is not None
        and "admin" in match.namespaces
        and bool(request.POST.get("action"))
        and bool(request.POST.getlist(ACTION_CHECKBOX_NAME))
        and IS_POPUP_VAR not in request.POST
        and response.status_code in (301, 302, 303)
        and request.user.is_authenticated
    )


def _record_admin_action(request: HttpRequest) -> None:
    from cardreveal.audit.models import AuthEvent
    from cardreveal.audit.services import auth_event_record

    match = request.resolver_match
    assert match is not None  # noqa: S101 (checked by _is_admin_action)
    selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
    across = request.POST.get("select_across") == "1"
    auth_event_record(
        event=AuthEvent.Event.ADMIN_CHANGE,
        outcome=AuthEvent.Outcome.SUCCESS,
        user=request.user,
        reason="admin_action",
        client=client_for_request(request),
        resource=str(match.url_name or request.path),
        detail=(
            f"action={request.POST.get('action', '')}; "
            f"{'all matching' if across else f'{len(selected)} selected'}: {','.join(selected)}"
        ),
    )
