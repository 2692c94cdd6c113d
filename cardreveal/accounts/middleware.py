"""Session lifetime: the idle expiry pushed out by activity (at most once a minute), and the
absolute cap counted from sign-in that no activity can push back; and the OTP device load."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import django_otp.middleware
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.backends import session_device_now, session_device_wanted
from cardreveal.accounts.receivers import SESSION_SIGNED_IN_AT
from cardreveal.db import CompiledQuery

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


# The session's verified device, loaded on every signed-in request: compiled once per device kind
# (cardreveal/db.py) instead of django-otp's queryset per request.
_DEVICE_BY_ID = {
    device_cls._meta.label_lower: CompiledQuery(
        lambda pk, device_cls=device_cls: device_cls.objects.filter(pk=pk).order_by()[:1], pk=1
    )
    for device_cls in (TOTPDevice, StaticDevice)
}


_TOTP_LABEL = TOTPDevice._meta.label_lower


class OTPMiddleware(django_otp.middleware.OTPMiddleware):
    """django-otp's middleware, loading the session's device with compiled queries: a TOTP
    device in the same query as the session's user (`LockoutModelBackend.get_user`), any other
    of ours by itself.

    Everything else (the lazy user, `is_verified`, dropping a device that is someone else's or
    unconfirmed) is django-otp's own. Device kinds other than ours go through django-otp.
    """

    def _verify_user_sync(self, request: HttpRequest, user: Any) -> Any:
        ref = _device_ref(request.session.get(DEVICE_ID_SESSION_KEY))
        with (
            session_device_wanted(ref[1])
            if ref is not None and ref[0] == _TOTP_LABEL
            else nullcontext()
        ):
            return super()._verify_user_sync(request, user)

    def _device_from_persistent_id(self, persistent_id: str) -> Device | None:
        ref = _device_ref(self._normalize_persistent_id(persistent_id))
        wanted = session_device_now()
        # Loaded with the user: the device, or None when it is gone or not this user's (django-otp
        # would drop a device of someone else's just the same).
        if wanted is not None and wanted.loaded and ref == (_TOTP_LABEL, wanted.device_id):
            return wanted.device
        if ref is None or (query := _DEVICE_BY_ID.get(ref[0])) is None:
            return super()._device_from_persistent_id(persistent_id)
        return query.first(pk=ref[1])


def _device_ref(persistent_id: object) -> tuple[str, int] | None:
    """A session's persistent device id ("app.model/id") as (model label, id); None for anything
    else."""
    if not isinstance(persistent_id, str):
        return None
    label, _, device_id = persistent_id.rpartition("/")
    if not (device_id.isascii() and device_id.isdecimal()):
        return None
    return label, int(device_id)
