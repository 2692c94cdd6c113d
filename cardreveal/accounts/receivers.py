"""Receivers: count failed sign-ins, clear a username's count, stamp sign-in time, hash backup codes,
invite provisioned cardholders."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken

from cardreveal.accounts.invitations import InvitationError, invitation_send
from cardreveal.accounts.lockout import password_failure_record_for_username
from cardreveal.accounts.otp import backup_code_digests, is_backup_code_digest, normalise_code
from cardreveal.accounts.passkeys import COUNTED_REASONS
from cardreveal.accounts.sign_in_limits import (
    sign_in_failure_count,
    sign_in_username_failures_clear,
)
from cardreveal.client_info import ClientInfo, client_info

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# Seconds since the epoch at which this session signed in with a password (absolute lifetime).
SESSION_SIGNED_IN_AT = "cardreveal_signed_in_at"


def count_failed_password(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """`user_login_failed`: count the failure against the named account, if there is one, and
    against the sign-in limits of the address and the username (known or not). A failed sign-in
    with the bank's identity provider is no password attempt: its refusals are told and audited
    by `cardreveal.accounts.oidc`, and the provider limits its own password guesses."""
    if "password" not in credentials:
        return
    username = credentials.get("username") or credentials.get(get_user_model().USERNAME_FIELD)
    name = str(username) if username else None
    client = client_info(request, channel=_channel(request)) if request is not None else None
    password_failure_record_for_username(username=name, client=client)
    sign_in_failure_count(address=client.ip if client else None, username=name)


def count_failed_sign_in_code(
    sender: object,
    user: User,
    reason: str,
    context: str,
    client: ClientInfo | None = None,
    **kwargs: Any,
) -> None:
    """`otp_failed`: a wrong code, or a refused passkey, at sign-in (any door) counts against the
    sign-in limits too. Those at a reveal do not: the per-account lockout and back-off hold them."""
    if context == "sign_in" and (reason == "otp_invalid" or reason in COUNTED_REASONS):
        sign_in_failure_count(address=client.ip if client else None, username=user.get_username())


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


def clear_username_failures(sender: object, user: User, **kwargs: Any) -> None:
    """`sign_in_verified`, `account_unlocked`: the account's owner signed in, or an admin lifted
    its lock: its username's failed sign-ins no longer hold sign-in back."""
    sign_in_username_failures_clear(username=user.get_username())


def clear_username_failures_on_one_step_sign_in(
    sender: object, request: HttpRequest | None, user: User, **kwargs: Any
) -> None:
    """`user_logged_in` with the code given with the password (the admin's one-step sign-in:
    django-otp's `otp_device` is set on the user): a successful sign-in, as `sign_in_verified`
    is for the other doors."""
    if getattr(user, "otp_device", None) is not None:
        sign_in_username_failures_clear(username=user.get_username())


def store_backup_code_as_digest(sender: object, instance: StaticToken, **kwargs: Any) -> None:
    """`post_save` of a backup code saved as typed (django-otp's admin form, its `addstatictoken`
    command): the row keeps only its digest, so the stored value never works as a code and the
    code shown to whoever made it does, once. Our own codes are stored as digests already."""
    if not is_backup_code_digest(instance.token):
        digest = backup_code_digests(normalise_code(instance.token).lower())[0]
        StaticToken.objects.filter(pk=instance.pk).update(token=digest)


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
