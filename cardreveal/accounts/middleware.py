"""Absolute session lifetime: a signed-in session ends a fixed time after sign-in, however active."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from cardreveal.accounts.receivers import SESSION_SIGNED_IN_AT


class AbsoluteSessionLimitMiddleware:
    """Signs out a session `CARDREVEAL_SESSION_MAX_SECONDS` after it signed in (default 12 hours).

    The idle timeout is Django's (SESSION_COOKIE_AGE with SESSION_SAVE_EVERY_REQUEST); this is the
    cap that activity cannot push back. A signed-in session without a sign-in time (made before
    this middleware, or by hand) is treated as expired. Place after MessageMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if SESSION_KEY in session:
            signed_in_at = session.get(SESSION_SIGNED_IN_AT)
            limit = settings.CARDREVEAL_SESSION_MAX_SECONDS
            now = int(timezone.now().timestamp())
            if not isinstance(signed_in_at, int) or now - signed_in_at >= limit:
                logout(request)
                messages.info(
                    request,
                    f"For your security you were signed out {_duration(limit)} after signing in. "
                    "Please sign in again.",
                )
        return self.get_response(request)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = seconds // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
