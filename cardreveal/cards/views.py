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
from cardreveal.accounts.lockout import seconds_until, utc_clock
from cardreveal.accounts.passkeys import StepUp, has_passkey, step_up_policy
from cardreveal.audit.selectors import activity_page_for_user
from cardreveal.cards.availability import card_list_availability, reveal_availability
from cardreveal.cards.bindings import client_key_hash
from cardreveal.cards.services import RevealError, reveal_cvv, reveal_passkey_challenge
from cardreveal.client_info import client_info

MAX_EXTENSIONS = 10


@require_GET
@verified_required
def card_list(request: HttpRequest) -> HttpResponse:
    """The cardholder's cards, each saying whether its CVV can be shown now (and if not, why and
    until when), with what holds for every card said once above them."""
    listing = card_list_availability(user=signed_in_user(request))
    return render(
        request,
        "cards/list.html",
        {"cards": listing.cards, "account_blockers": listing.account_blockers},
    )


# The reveal page itself never holds a CVV, but no-store keeps it out of the back/forward cache, so
# history never restores the page with its script state (the script also wipes on pagehide).
@never_cache
@require_GET
@verified_required
def card_detail(request: HttpRequest, card_id: uuid.UUID) -> HttpResponse:
    """One card, with the form that reveals its CVV; while something stops the reveal, the form
    is disabled and says what and until when, before any code is typed."""
    availability = reveal_availability(user=signed_in_user(request), card_id=card_id)
    if availability is None:
        raise Http404("Card not found.")
    until = availability.until
    user = signed_in_user(request)
    policy = step_up_policy(user=user)
    passkey_ready = policy is not StepUp.TOTP_ONLY and has_passkey(user=user)
    return render(
        request,
        "cards/detail.html",
        {
            "card": availability.card,
            "availability": availability,
            # The page enables the form by itself once every blocker with an end is over.
            "blocked_seconds": seconds_until(until) if until is not None else None,
            "blocked_until_text": utc_clock(until) if until is not None else "",
            "display_seconds": settings.CARDREVEAL_REVEAL_SECONDS,
            # WCAG 2.2.1: "More time" restarts the countdown at least ten times, up to this cap.
            "max_display_seconds": settings.CARDREVEAL_REVEAL_SECONDS * (1 + MAX_EXTENSIONS),
            # The page's key opens only the RSA-OAEP hash it is made with (Mastercard's
            # pass-through may encrypt with SHA-1).
            "key_hash": client_key_hash(availability.card.binding),
            # The passkey is offered first when the cardholder has one; the code is the
            # fallback unless the policy takes passkeys only.
            "passkey_ready": passkey_ready,
            "passkey_required": policy is StepUp.PASSKEY_REQUIRED,
            "code_allowed": policy is not StepUp.PASSKEY_REQUIRED,
        },
    )


def _error_response(exc: RevealError) -> JsonResponse:
    response = JsonResponse(
        {"error": {"code": exc.code, "message": exc.message}}, status=exc.status_code
    )
    if exc.retry_after:
        response["Retry-After"] = str(exc.retry_after)
    return response


@never_cache
@sensitive_post_parameters("public_key")
@require_POST
@verified_required
def card_reveal_challenge(request: HttpRequest, card_id: uuid.UUID) -> JsonResponse:
    """POST public_key; answer the WebAuthn request options for a passkey to authorise one
    reveal of this card to this key, or the error that would refuse the reveal anyway."""
    try:
        options = reveal_passkey_challenge(
            user=signed_in_user(request),
            card_id=card_id,
            client_public_key=request.POST.get("public_key"),
            request=request,
        )
    except RevealError as exc:
        return _error_response(exc)
    return JsonResponse({"request_options": options})


@never_cache
@sensitive_post_parameters("otp_code", "public_key", "passkey_assertion")
@require_POST
@verified_required
def card_reveal(request: HttpRequest, card_id: uuid.UUID) -> JsonResponse:
    """POST public_key and otp_code or passkey_assertion (the passkey's answer, as JSON); answer
    JSON with the CVV sealed to that key, or an error."""
    try:
        result = reveal_cvv(
            user=signed_in_user(request),
            card_id=card_id,
            otp_code=request.POST.get("otp_code"),
            client_public_key=request.POST.get("public_key"),
            client=client_info(request, channel="web"),
            passkey_assertion=request.POST.get("passkey_assertion") or None,
            request=request,
        )
    except RevealError as exc:
        return _error_response(exc)
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
