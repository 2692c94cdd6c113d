"""Receivers for Django's auth signals (count wrong passwords, stamp the sign-in time on the session)
and the invitation of a provisioned cardholder."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils import timezone

from cardreveal.accounts.invitations import InvitationError, invitation_send
from cardreveal.accounts.lockout import password_failure_record_for_username
from cardreveal.client_info import ClientInfo, client_info

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

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


def invite_provisioned_cardholder(
    sender: object, user: User, by: object = None, **kwargs: Any
) -> None:
    """For a `cardholder_provisioned`-style signal: email the new cardholder an invitation.

    `by` is whoever made them: an object with `user` (the admin importing a file, or None) and
    `client` (a ClientInfo), or None. Sent inside the maker's transaction, the email goes out only
    if it commits. A cardholder who cannot be invited (no email address, inactive, no
    CARDREVEAL_SITE_URL) is logged, not raised: the batch that made them stands, and an admin
    can send the invitation later.
    """
    admin = getattr(by, "user", None)
    client = getattr(by, "client", None)
    try:
        invitation_send(
            user=user,
            by=admin if getattr(admin, "pk", None) is not None else None,
            client=client if isinstance(client, ClientInfo) else None,
        )
    except InvitationError as error:
        logger.warning("provisioned cardholder %s not invited: %s", user.pk, error)
