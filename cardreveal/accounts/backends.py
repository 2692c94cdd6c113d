"""The authentication backend: Django's model backend, refusing accounts that are locked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.lockout import account_locked_until
from cardreveal.db import CompiledQuery

# Every signed-in request loads its user by the id in the session: compiled once (cardreveal/db.py).
_USER_BY_ID = CompiledQuery(lambda pk: User._default_manager.filter(pk=pk).order_by()[:1], pk=1)
# ...and, when its session was verified with a TOTP device, that device with the user, in one
# query: found only when the device is this user's.
_TOTP_WITH_USER = CompiledQuery(
    lambda pk, user_id: (
        TOTPDevice.objects.filter(pk=pk, user_id=user_id).select_related("user").order_by()[:1]
    ),
    pk=1,
    user_id=2,
)


@dataclass
class SessionDevice:
    """The TOTP device a session names, wanted with its user (`session_device_wanted`)."""

    device_id: int
    loaded: bool = False  # get_user ran the joined query
    device: TOTPDevice | None = None  # what it found: None if not this user's or gone


_wanted: ContextVar[SessionDevice | None] = ContextVar("cardreveal_session_device", default=None)


@contextmanager
def session_device_wanted(device_id: int) -> Iterator[SessionDevice]:
    """While loading the session's user, also load its TOTP device `device_id` in the same query
    (`cardreveal.accounts.middleware.OTPMiddleware`); the device is on the yielded object."""
    wanted = SessionDevice(device_id)
    token = _wanted.set(wanted)
    try:
        yield wanted
    finally:
        _wanted.reset(token)


def session_device_now() -> SessionDevice | None:
    """The device `session_device_wanted` is loading in this thread (or task), if any."""
    return _wanted.get()


class LockoutModelBackend(ModelBackend):
    """Username and password, except that a locked account is refused even with the right password.

    The password is checked first either way, so a locked account answers the same (None) whether
    the password was right or wrong: the lock is no password oracle. Django then sends
    `user_login_failed`, which `cardreveal.accounts.receivers` counts towards the lock.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and account_locked_until(user=user) is not None:
            return None
        return user

    def get_user(self, user_id: Any) -> User | None:
        """The session's user, as ModelBackend finds it (None when gone or inactive)."""
        if type(user_id) is not int:
            return super().get_user(user_id)
        user = None
        wanted = _wanted.get()
        if wanted is not None and not wanted.loaded:
            wanted.loaded = True
            wanted.device = _TOTP_WITH_USER.first(pk=wanted.device_id, user_id=user_id)
            if wanted.device is not None:
                user = wanted.device.user
        if user is None:  # no device wanted, or not this user's: the user alone
            user = _USER_BY_ID.first(pk=user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
