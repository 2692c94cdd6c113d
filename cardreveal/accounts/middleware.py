"""Session lifetime: the idle expiry pushed out by activity (at most once a minute), and the
absolute cap counted from sign-in that no activity can push back."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from cardreveal.accounts.receivers import SESSION_SIGNED_IN_AT

# Seconds since the epoch at which this session was last saved, so its idle expiry last moved.
SESSION_REFRESHED_AT = "cardreveal_refreshed_at"


class IdleSessionMiddleware(SessionMiddleware):
    """Django's SessionMiddleware (use it in its place), saving an unchanged session only when its
    idle expiry would move by `CARDREVEAL_SESSION_REFRESH_SECONDS` or more (default 60).

    With SESSION_SAVE_EVERY_REQUEST every page wrote its session back (a transaction per request)
    just to move the expiry by a few seconds. Here a session changed by the request is saved as
    usual; an unchanged one is saved (its expiry pushed to SESSION_COOKIE_AGE from now) only when
    its last save is at least that old. So an idle session ends between SESSION_COOKIE_AGE minus
    the refresh interval and SESSION_COOKIE_AGE after its last request: never later than the idle
    timeout, at most a minute sooner. Sessions the request never read are left alone.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and session.accessed and not session.is_empty():
            now = int(timezone.now().timestamp())
            refreshed_at = session.get(SESSION_REFRESHED_AT)
            if (
                session.modified
                or not isinstance(refreshed_at, int)
                or now - refreshed_at >= settings.CARDREVEAL_SESSION_REFRESH_SECONDS
            ):
                session[SESSION_REFRESHED_AT] = now  # marks it modified: the parent saves it
        return super().process_response(request, response)


class AbsoluteSessionLimitMiddleware:
    """Signs out a session `CARDREVEAL_SESSION_MAX_SECONDS` after it signed in (default 12 hours).

    The idle timeout is SESSION_COOKIE_AGE, pushed out by `IdleSessionMiddleware`; this is the
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
