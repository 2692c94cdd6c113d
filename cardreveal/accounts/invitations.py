"""Invitations: a single-use emailed link, expiring, to set a first password and then set up sign-in."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from cardreveal.accounts.lockout import utc_clock
from cardreveal.accounts.models import AccountSecurity, Invitation
from cardreveal.accounts.signals import (
    invitation_refused,
    invitation_revoked,
    invitation_sent,
    invitation_used,
)
from cardreveal.bank_contact import bank_contact
from cardreveal.client_info import ClientInfo

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# 32 random bytes: the link's token. Only its SHA-256 is stored, so a database reader cannot use
# a pending link; a plain hash is enough for a value this random (nothing to guess or tabulate).
_TOKEN_BYTES = 32
_MAX_TOKEN_LENGTH = 100


class InvitationError(ValueError):
    """An invitation cannot be sent; the message says why, for the admin or integrator."""


@dataclass(frozen=True)
class InvitationRefusal:
    """Why a link cannot be used, in words for the person who opened it. `reason` is the audit
    code ("link_invalid", "link_used", "link_revoked", "link_expired")."""

    reason: str
    message: str


def token_digest(token: str) -> str:
    """The stored form of a link's token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invitation_send(
    *,
    user: User,
    by: User | None,
    request: HttpRequest | None = None,
    client: ClientInfo | None = None,
) -> Invitation:
    """Email `user` a new invitation link, revoking any they have not used yet (a resend).

    `by` is the admin who asked, or None when the system did (provisioning, bulk import).
    The link starts with CARDREVEAL_SITE_URL, else with `request`'s scheme and host. The email
    goes out once the caller's transaction commits; a mail failure is logged, not raised.
    Raises InvitationError when the account has no email address or is inactive, or when there
    is neither CARDREVEAL_SITE_URL nor a request to make the link from.
    """
    address = str(user.email or "").strip()
    if not address:
        raise InvitationError(
            f"{user.get_username()} has no email address: add one, then send the invitation."
        )
    if not user.is_active:
        raise InvitationError(
            f"{user.get_username()} is inactive: make the account active, then send the invitation."
        )
    site = _site_url(request)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    now = timezone.now()
    with transaction.atomic():
        revoked = _revoke_pending(user=user, now=now)
        invitation = Invitation.objects.create(
            user=user,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=now + timedelta(hours=settings.CARDREVEAL_INVITATION_HOURS),
            sent_by=by,
        )
        invitation_sent.send(
            sender=AccountSecurity,
            user=user,
            invitation=invitation,
            by=by,
            revoked=revoked,
            client=client,
        )
        # In the query string, which access logs leave out (cardreveal/logging.py), so a log
        # reader cannot take over a pending invitation.
        link = f"{site}{reverse('accounts:invitation')}?{urlencode({'token': token})}"
        subject, body = _email(user=user, link=link, invitation=invitation)
        transaction.on_commit(lambda: _deliver(subject, body, address), robust=True)
    return invitation


def invitation_revoke(*, user: User, by: User | None, client: ClientInfo | None = None) -> int:
    """Withdraw `user`'s unused invitations (their links then say so); returns how many."""
    with transaction.atomic():
        revoked = _revoke_pending(user=user, now=timezone.now())
        if revoked:
            invitation_revoked.send(
                sender=AccountSecurity, user=user, by=by, revoked=revoked, client=client
            )
    return revoked


def invitation_for_link(*, token: str) -> Invitation | InvitationRefusal:
    """The pending invitation behind `token`, or why its link cannot be used. Reads only, except
    that a refused link of a known invitation is audited."""
    invitation = _invitation_by_token(token, lock=False)
    if invitation is None:
        return _refusal("link_invalid")
    return _usable_or_refused(invitation, client=None)


def invitation_accept(
    *, token: str, password: str | None, client: ClientInfo | None = None
) -> Invitation | InvitationRefusal:
    """Use the link: set the account's password (already validated by the caller's form; None
    where the bank's identity provider signs cardholders in and there is none to set) and mark
    the invitation used, or say why not. The invitation row is locked (`select_for_update`) for
    the check and the write, so of two uses at once exactly one succeeds."""
    with transaction.atomic():
        invitation = _invitation_by_token(token, lock=True)
        if invitation is None:
            return _refusal("link_invalid")
        checked = _usable_or_refused(invitation, client=client)
        if isinstance(checked, InvitationRefusal):
            return checked
        user = invitation.user
        if password is not None:
            user.set_password(password)
            user.save(update_fields=["password"])
        invitation.used_at = timezone.now()
        invitation.save(update_fields=["used_at"])
        invitation_used.send(
            sender=AccountSecurity, user=user, invitation=invitation, client=client
        )
    return invitation


def invitation_latest(*, user: User) -> Invitation | None:
    """The newest invitation sent to `user`, or None. Reads only."""
    return Invitation.objects.filter(user_id=user.pk).order_by("-created_at", "-id").first()


# ------------------------------------------------------------------------------ internals


def _revoke_pending(*, user: User, now: object) -> int:
    return Invitation.objects.filter(
        user_id=user.pk, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).update(revoked_at=now)


def _invitation_by_token(token: str, *, lock: bool) -> Invitation | None:
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    rows = Invitation.objects.select_related("user").filter(token_hash=token_digest(token))
    if lock:
        rows = rows.select_for_update(of=("self",))
    return rows.first()


def _usable_or_refused(
    invitation: Invitation, *, client: ClientInfo | None
) -> Invitation | InvitationRefusal:
    status = invitation.status(now=timezone.now())
    if status is Invitation.Status.PENDING and invitation.user.is_active:
        return invitation
    reason = {
        Invitation.Status.USED: "link_used",
        Invitation.Status.REVOKED: "link_revoked",
        Invitation.Status.EXPIRED: "link_expired",
    }.get(status, "link_revoked")  # a pending link of an account made inactive since
    invitation_refused.send(
        sender=AccountSecurity,
        user=invitation.user,
        invitation=invitation,
        reason=reason,
        client=client,
    )
    return _refusal(reason, invitation=invitation)


def _refusal(reason: str, *, invitation: Invitation | None = None) -> InvitationRefusal:
    bank = bank_contact()
    ask = f"contact {bank.name} on {bank.phone} and ask for a new invitation."
    messages = {
        "link_invalid": "This invitation link is not valid. Check that you opened the whole link "
        f"from the email (it is one long line). If it still does not work, {ask}",
        "link_used": "This invitation has already been used to set a password. Sign in with "
        f"your username and that password. If you did not use it, contact {bank.name} on "
        f"{bank.phone} now: someone else may have opened your email.",
        "link_revoked": "This invitation was withdrawn, usually because a newer one was sent: "
        f"use the link in the latest invitation email. If you have no newer one, {ask}",
        "link_expired": "This invitation has expired"
        + (f" (at {utc_clock(invitation.expires_at)})" if invitation is not None else "")
        + f". Please {ask}",
    }
    return InvitationRefusal(reason=reason, message=messages[reason])


def _site_url(request: HttpRequest | None) -> str:
    base = str(getattr(settings, "CARDREVEAL_SITE_URL", "") or "").rstrip("/")
    if base:
        return base
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    raise InvitationError(
        "Set CARDREVEAL_SITE_URL (e.g. https://cards.bank.example): invitations sent without a "
        "web request (provisioning, imports) need it to make the link in the email."
    )


def _email(*, user: User, link: str, invitation: Invitation) -> tuple[str, str]:
    context = {
        "user": user,
        "username": user.get_username(),
        "link": link,
        "expires": utc_clock(invitation.expires_at),
        "hours": settings.CARDREVEAL_INVITATION_HOURS,
        "bank": bank_contact(),
        "bank_sign_in": bool(getattr(settings, "CARDREVEAL_OIDC_ENABLED", False)),
    }
    subject = " ".join(render_to_string("emails/invitation_subject.txt", context).split())
    return subject, render_to_string("emails/invitation.txt", context)


def _deliver(subject: str, body: str, address: str) -> None:
    try:
        send_mail(subject, body, None, [address], fail_silently=False)
    except Exception as exc:  # the invitation exists; the admin can resend it
        logger.warning("invitation email not sent: %s", type(exc).__name__)
