"""Cool-off after a credential change: a new authenticator or password pauses reveals, with an email.

Someone who takes over an account by resetting one factor (a support-desk password reset, an
authenticator added in the admin, a phished first enrolment) cannot reveal a CVV straight away,
and the cardholder is told by email in time to act. The first password an account gets (before
it ever signs in) starts nothing; the first authenticator does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from cardreveal.accounts.lockout import (
    account_security_read,
    seconds_until,
    security_for_update,
    utc_clock,
)
from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.signals import authenticator_added, password_changed

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

_REASONS = {
    "password_changed": "your password was changed",
    "authenticator_added": "a new authenticator app or passkey was added to your account",
}


@dataclass(frozen=True)
class Cooloff:
    """Reveals are paused until `until` because of `reason` (an audit reason code's suffix)."""

    until: datetime
    reason: str

    @property
    def message(self) -> str:
        return (
            f"For your security, card security codes cannot be shown until "
            f"{utc_clock(self.until)} because {_REASONS[self.reason]}."
        )

    @property
    def retry_after(self) -> int:
        return seconds_until(self.until)


def reveal_cooloff(*, user: User) -> Cooloff | None:
    """The cool-off in force for `user` now, or None. Reads only."""
    return cooloff_from(account_security_read(user=user))


def cooloff_from(security: AccountSecurity | None) -> Cooloff | None:
    """The cool-off in force now by `security` (a user's row, or None for a user without one)."""
    seconds = settings.CARDREVEAL_REVEAL_COOLOFF_SECONDS
    if seconds <= 0 or security is None:
        return None
    changes = (
        (security.password_changed_at, "password_changed"),
        (security.authenticator_added_at, "authenticator_added"),
    )
    candidates = [
        Cooloff(changed_at + timedelta(seconds=seconds), reason)
        for changed_at, reason in changes
        if changed_at is not None
    ]
    if not candidates:
        return None
    latest = max(candidates, key=lambda c: c.until)
    return latest if timezone.now() < latest.until else None


def password_change_record(*, user: User) -> datetime:
    """Record that `user`'s password changed now: start the cool-off, email them, send
    `password_changed`. Returns the end of the cool-off."""
    now = timezone.now()
    with transaction.atomic():
        security = security_for_update(user=user)
        security.password_changed_at = now
        security.save(update_fields=["password_changed_at"])
    until = now + timedelta(seconds=settings.CARDREVEAL_REVEAL_COOLOFF_SECONDS)
    _email(
        user,
        subject="Your cardreveal password was changed",
        what=f"The password of your cardreveal account was changed at {utc_clock(now)}.",
        until=until,
    )
    password_changed.send(sender=AccountSecurity, user=user, changed_at=now, cooloff_until=until)
    return until


def authenticator_added_record(
    *, user: User, device: object, by: User | None, kind: str = "authenticator"
) -> datetime:
    """Record that a confirmed authenticator (`kind` "authenticator") or passkey ("passkey") was
    added to `user` now (by them, or by admin `by`): start the cool-off, email them, send
    `authenticator_added`. Returns the end of the cool-off."""
    now = timezone.now()
    with transaction.atomic():
        security = security_for_update(user=user)
        security.authenticator_added_at = now
        security.save(update_fields=["authenticator_added_at"])
    until = now + timedelta(seconds=settings.CARDREVEAL_REVEAL_COOLOFF_SECONDS)
    name = str(getattr(device, "name", "")).replace("\n", " ")[:64]
    what = "passkey" if kind == "passkey" else "authenticator"
    _email(
        user,
        subject=f"A new {what} was added to your cardreveal account",
        what=(
            f'A new {"passkey" if kind == "passkey" else "authenticator app"} ("{name}") was '
            f"added to your cardreveal account at {utc_clock(now)}."
        ),
        until=until,
    )
    authenticator_added.send(
        sender=AccountSecurity, user=user, device=device, added_at=now, cooloff_until=until, by=by
    )
    return until


class PasswordChangeCooloff:
    """Starts the cool-off whenever a signed-in account's password changes, on every path.

    Listed in AUTH_PASSWORD_VALIDATORS only for its `password_changed` hook, which Django calls
    from `AbstractBaseUser.save()` after any `set_password()`: the cardholder's own page, the
    admin, `manage.py changepassword`. Hash upgrades at sign-in do not call it. It validates
    nothing itself.
    """

    def validate(self, password: str, user: User | None = None) -> None:
        return None

    def get_help_text(self) -> str:
        minutes = settings.CARDREVEAL_REVEAL_COOLOFF_SECONDS // 60
        return (
            f"After a change, card security codes stay hidden for {minutes} minutes "
            "and the account holder is emailed."
        )

    def password_changed(self, password: str, user: User | None = None) -> None:
        # An account that has never signed in is getting its first password, not a new one.
        if user is None or getattr(user, "pk", None) is None:
            return
        if getattr(user, "last_login", None) is None:
            return
        password_change_record(user=user)


def _email(user: User, *, subject: str, what: str, until: datetime) -> None:
    """Email the account holder once the change is committed; a mail failure is logged, not raised."""
    address = str(getattr(user, "email", "") or "")
    if not address:
        logger.info("no email address for user %s; credential-change notice not sent", user)
        return
    body = (
        f"Hello {getattr(user, 'get_username', lambda: '')()},\n\n"
        f"{what}\n"
        f"For your security, card security codes cannot be shown until {utc_clock(until)}.\n\n"
        "If this wasn't you, contact your bank now: someone may have access to your account.\n"
    )
    transaction.on_commit(
        partial(send_mail, subject, body, None, [address], fail_silently=False), robust=True
    )
