"""Receivers for Django's auth signals: count wrong passwords, stamp the sign-in time on the session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils import timezone

from cardreveal.accounts.lockout import password_failure_record_for_username
from cardreveal.client_info import client_info

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Seconds since the epoch at which this session signed in with a password (absolute lifetime).
SESSION_SIGNED_IN_AT = "cardreveal_signed_in_at"


def count_failed_password(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """`user_login_failed`: count the failure against the named account, if there is one."""
    username = credentials.get("username") or credentials.get(get_user_model().USERNAME_FIELD)
    password_failure_record_for_username(
        username=str(username) if username else None,
        client=client_info(request, channel=_channel(request)) if request is not None else None,
    )


def _channel(request: HttpRequest) -> str:
    path = str(getattr(request, "path", ""))
    if path.startswith("/api/"):
        return "api"
    return "admin" if path.startswith("/admin/") else "web"


def stamp_signed_in_at(
    sender: object, request: HttpRequest | None, user: User, **kwargs: Any
) -> None:
    """`user_logged_in`: remember when this session signed in, for the absolute session cap."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_SIGNED_IN_AT] = int(timezone.now().timestamp())
