"""Finishing a web sign-in once its code step passed: the session is verified and the sign-in told."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django_otp import login as otp_login

from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.signals import sign_in_verified
from cardreveal.client_info import ClientInfo

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def sign_in_finish(*, request: HttpRequest, user: User, device: Any, client: ClientInfo) -> None:
    """Mark the request's session verified by `device` (django-otp), give the session a new key
    (the signed-in session is not the half-signed-in one), and send `sign_in_verified`: the one
    "Signed in" record of this sign-in."""
    otp_login(request, device)
    request.session.cycle_key()
    sign_in_verified.send(sender=AccountSecurity, user=user, device=device, client=client)
