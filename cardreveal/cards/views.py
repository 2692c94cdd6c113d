"""Cardholder pages: the card list, a card's reveal page, the reveal call itself, and history."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from cardreveal.accounts.decorators import signed_in_user, verified_required
from cardreveal.audit.selectors import activity_page_for_user
from cardreveal.cards.selectors import card_for_user, cards_for_user
from cardreveal.cards.services import RevealError, reveal_cvv
from cardreveal.client_info import client_info

MAX_EXTENSIONS = 10


@require_GET
@verified_required
def card_list(request: HttpRequest) -> HttpResponse:
    """The cardholder's cards."""
    return render(
        request, "cards/list.html", {"cards": cards_for_user(user=signed_in_user(request))}
    )


# The reveal page itself never holds a CVV, but no-store keeps it out of the back/forward cache, so
# history never restores the page with its script state (the script also wipes on pagehide).
@never_cache
@require_GET
@verified_required
def card_detail(request: HttpRequest, card_id: uuid.UUID) -> HttpResponse:
    """One card, with the form that reveals its CVV."""
    card = card_for_user(user=signed_in_user(request), card_id=card_id)
    if card is None:
        raise Http404("Card not found.")
    return render(
        request,
        "cards/detail.html",
        {
            "card": card,
            "display_seconds": settings.CARDREVEAL_REVEAL_SECONDS,
            # WCAG 2.2.1: "More time" restarts the countdown at least ten times, up to this cap.
            "max_display_seconds": settings.CARDREVEAL_REVEAL_SECONDS * (1 + MAX_EXTENSIONS),
        },
    )


@never_cache
@sensitive_post_parameters("otp_code", "public_key")
@require_POST
@verified_required
def card_reveal(request: HttpRequest, card_id: uuid.UUID) -> JsonResponse:
    """POST otp_code and public_key; answer JSON with the CVV sealed to that key, or an error."""
    try:
        result = reveal_cvv(
            user=signed_in_user(request),
            card_id=card_id,
            otp_code=request.POST.get("otp_code"),
            client_public_key=request.POST.get("public_key"),
            client=client_info(request, channel="web"),
        )
    except RevealError as exc:
        response = JsonResponse(
            {"error": {"code": exc.code, "message": exc.message}}, status=exc.status_code
        )
        if exc.retry_after:
            response["Retry-After"] = str(exc.retry_after)
        return response
    return JsonResponse(
        {
            "scheme": result.scheme,
            "sealed": result.sealed,
            "display_seconds": result.display_seconds,
        }
    )


@require_GET
@verified_required
def activity(request: HttpRequest) -> HttpResponse:
    """The cardholder's reveal attempts, sign-ins and account security events, newest first, a
    page at a time (?page=2)."""
    page = activity_page_for_user(user=signed_in_user(request), page=request.GET.get("page"))
    return render(request, "cards/activity.html", {"page": page, "items": page.object_list})
