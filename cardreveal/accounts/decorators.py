"""Guards for cardholder pages: signed in, enrolled in TOTP, and verified this session."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect

from cardreveal.accounts.otp import has_confirmed_authenticator


def verified_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Send anonymous users to sign in, unenrolled users to enrolment, unverified ones to the code."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user.is_verified():  # type: ignore[attr-defined]  # added by OTPMiddleware
            if not has_confirmed_authenticator(user):
                return redirect("accounts:enrol")
            return redirect_to_login(request.get_full_path(), "accounts:otp")
        return view(request, *args, **kwargs)

    return wrapper


def signed_in_user(request: HttpRequest) -> User:
    """The request's user, typed; for views behind `verified_required` or `login_required`."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user
