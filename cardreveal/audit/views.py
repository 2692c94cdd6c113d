"""The "This wasn't me" page: GET shows and asks, POST acts (never GET: mail scanners open links)."""

from __future__ import annotations

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from cardreveal.audit.disown import DisownRefused, disown_preview, reveal_disown
from cardreveal.bank_contact import bank_contact
from cardreveal.client_info import client_info


@never_cache
@require_http_methods(["GET", "POST"])
def disown_reveal(request: HttpRequest, token: str) -> HttpResponse:
    """Works without signing in: the signed link names the cardholder and the reveal."""
    try:
        if request.method != "POST":
            preview = disown_preview(token=token)
            return render(
                request, "audit/disown_confirm.html", {"preview": preview, "bank": bank_contact()}
            )
        # Read who is signed in before their sessions (perhaps this one) are deleted.
        viewer_pk = request.user.pk if request.user.is_authenticated else None
        result = reveal_disown(token=token, client=client_info(request, channel="web"))
    except DisownRefused as refused:
        return render(
            request,
            "audit/disown_refused.html",
            {"refusal": refused, "bank": bank_contact()},
            status=refused.status_code,
        )
    if viewer_pk == result.user_id:
        logout(request)  # this browser's session row is gone; start it afresh
    return render(request, "audit/disown_done.html", {"result": result, "bank": bank_contact()})
