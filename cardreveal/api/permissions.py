"""Who may call the API: signed-in cardholders who passed OTP (tokens are only issued after OTP)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from cardreveal.api.models import ApiToken


class IsVerifiedCardholder(BasePermission):
    """Allows an API token, or a browser session verified with a one-time password (django-otp)."""

    message = "Finish signing in with a code from your authenticator first."
    code = "otp_required"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        if isinstance(request.auth, ApiToken):
            return True
        is_verified = getattr(user, "is_verified", None)
        return bool(is_verified()) if callable(is_verified) else False
