"""URLs for the bench's floors only: the app's own, plus the cheapest requests there can be behind
the same guards, to show what a signed-in request costs before a view does anything, and what the
reveal's provider call costs behind Django alone. Loaded by the in-process profile and the
instruction counter, and by the floor server of `make bench` (bench/floors.py); the app's own
gunicorn never loads this module, and no settings module outside bench/ names it."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from cardreveal.accounts.decorators import signed_in_user, verified_required
from cardreveal.cards.bindings import card_ref, provider_for_binding
from cardreveal.cards.sealing import ClientKeyError, parse_client_key
from cardreveal.cards.selectors import card_for_reveal
from cardreveal.urls import urlpatterns as app_urlpatterns
from providers.errors import ProviderError


@require_GET
@verified_required
def floor(request: HttpRequest) -> HttpResponse:
    """Nothing but the middleware, the session, the user, the OTP device and the guard."""
    return HttpResponse(b"ok", content_type="text/plain")


@never_cache
@require_POST
@verified_required
def provider_floor(request: HttpRequest, card_id: uuid.UUID) -> JsonResponse:
    """The reveal's provider call behind Django's signed-in request path and nothing more: the
    middleware, the session, the user and OTP device, CSRF, the posted form, the reveal's own card
    read, the client key parsed, the provider built for the binding, `fetch_cvv`. No code check,
    quota, sealing, audit or receipt. Answers {"ok": true} and drops the CVV unread: this is a
    floor to measure against, never a way to see one. 404 for a card that is not the user's,
    400 for a bad key, the provider error's own status when the call fails."""
    target = card_for_reveal(user=signed_in_user(request), card_id=card_id)
    if target is None:
        return JsonResponse({"error": "card_not_found"}, status=404)
    card = target.card
    try:
        client_key = parse_client_key(request.POST.get("public_key"))
    except ClientKeyError:
        return JsonResponse({"error": "client_key_invalid"}, status=400)
    try:
        provider_for_binding(card.binding).fetch_cvv(card=card_ref(card), client_key=client_key)
    except ProviderError as exc:
        return JsonResponse({"error": exc.code}, status=exc.status_code)
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/floor", floor),
    path("bench/provider-floor/<uuid:card_id>", provider_floor),
    *app_urlpatterns,
]
