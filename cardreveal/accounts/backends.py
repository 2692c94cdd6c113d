"""The authentication backend: Django's model backend, refusing accounts that are locked."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.http import HttpRequest

from cardreveal.accounts.lockout import account_locked_until


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
