"""Per-user lockout (PCI DSS 8.3.4): failed password and code attempts, a timed lock, an admin lift.

Failures are counted on the user's `AccountSecurity` row under `select_for_update`, so concurrent
failures are each counted and the lock is set, and announced, exactly once. A lock refuses
sign-in (password and code) and reveals until `locked_until`; the next failure after it ends
starts a fresh count; a successful code resets the count. A correct password alone does not reset
it, so knowing the password does not buy more guesses at the code.
"""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.signals import account_locked, account_unlocked
from cardreveal.client_info import ClientInfo
from cardreveal.db import unique_or_none
from cardreveal.metrics import lockout_counted

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class FailureTrigger(enum.StrEnum):
    """What kind of attempt failed; sent with `account_locked`."""

    PASSWORD = "password"  # noqa: S105 (a label, not a password)
    OTP = "otp"


def security_for_update(*, user: User) -> AccountSecurity:
    """The user's row, created on first need and locked until the caller's transaction ends.

    Call inside `transaction.atomic()`. Concurrent first calls are safe: the loser of the insert
    race reads the winner's row.
    """
    locked = unique_or_none(AccountSecurity.objects.select_for_update().filter(user_id=user.pk))
    if locked is not None:  # one query once the row exists, which is almost always
        return locked
    AccountSecurity.objects.get_or_create(user_id=user.pk)
    return AccountSecurity.objects.select_for_update().get(user_id=user.pk)


def account_security_read(*, user: User) -> AccountSecurity | None:
    """The user's row as it is now, unlocked, or None when none was made yet. Reads only.

    For callers that check both the lock (`lock_end`) and the cool-off (`cooloff.cooloff_from`):
    one query instead of one each.
    """
    return unique_or_none(AccountSecurity.objects.filter(user_id=user.pk))


def lock_end(security: AccountSecurity | None) -> datetime | None:
    """When the lock on `security` (a row, or None for a user without one) ends, or None when it
    does not hold now."""
    if security is not None and security.lock_active(now=timezone.now()):
        return security.locked_until
    return None


def account_locked_until(*, user: User) -> datetime | None:
    """When the user's lock ends, or None when they are not locked now. Reads only."""
    return lock_end(account_security_read(user=user))


def locked_until_for_username(username: str | None) -> datetime | None:
    """`account_locked_until` for the user with this username; None for an unknown name."""
    user = _user_by_username(username)
    return account_locked_until(user=user) if user is not None else None


def utc_clock(moment: datetime) -> str:
    """`moment` as people read it: "14:36 UTC", rounded up to the minute (so it is never early),
    with the date added when it is not today."""
    shown = moment.astimezone(UTC)
    if shown.second or shown.microsecond:
        shown = shown.replace(second=0, microsecond=0) + timedelta(minutes=1)
    text = f"{shown:%H:%M} UTC"
    if shown.date() != timezone.now().astimezone(UTC).date():
        text += f" on {shown.day} {shown:%B}"
    return text


def lock_message(locked_until: datetime) -> str:
    """What a locked user is told, in plain words with the time the lock ends."""
    return (
        f"Too many failed attempts: this account is locked until {utc_clock(locked_until)}. "
        "If that wasn't you, contact support."
    )


def seconds_until(moment: datetime) -> int:
    """Whole seconds from now until `moment`, at least 1 (for Retry-After)."""
    return max(1, math.ceil((moment - timezone.now()).total_seconds()))


def failure_record(
    *,
    user: User,
    security: AccountSecurity,
    trigger: FailureTrigger,
    client: ClientInfo | None,
) -> datetime | None:
    """Count one failed attempt on a row from `security_for_update`; lock at the threshold.

    Attempts made while locked are refused before they are checked and are not counted. Returns
    the end of the lock when the account is locked after this failure, else None. Sends
    `account_locked` when this failure set the lock.
    """
    now = timezone.now()
    if security.lock_active(now=now):
        return security.locked_until
    if security.locked_until is not None:  # the last lock ran out: a fresh count
        security.locked_until = None
        security.failed_attempts = 0
        security.failed_codes = 0
    security.failed_attempts += 1
    security.last_failure_at = now
    if trigger is FailureTrigger.OTP:  # the code back-off grows with wrong codes only
        security.failed_codes += 1
        security.last_failed_code_at = now
    locked = security.failed_attempts >= settings.CARDREVEAL_LOCKOUT_THRESHOLD
    if locked:
        security.locked_until = now + timedelta(seconds=settings.CARDREVEAL_LOCKOUT_SECONDS)
    security.save(
        update_fields=[
            "failed_attempts",
            "last_failure_at",
            "failed_codes",
            "last_failed_code_at",
            "locked_until",
        ]
    )
    if not locked:
        return None
    transaction.on_commit(lockout_counted)
    account_locked.send(
        sender=AccountSecurity,
        user=user,
        locked_until=security.locked_until,
        failures=security.failed_attempts,
        trigger=trigger.value,
        client=client,
    )
    return security.locked_until


def success_record(*, security: AccountSecurity) -> None:
    """Reset the failure counts after a successful code (a row from `security_for_update`)."""
    if security.failed_attempts or security.failed_codes or security.locked_until is not None:
        security.failed_attempts = 0
        security.failed_codes = 0
        security.locked_until = None
        security.save(update_fields=["failed_attempts", "failed_codes", "locked_until"])


def password_failure_record(*, user: User, client: ClientInfo | None) -> datetime | None:
    """Count a wrong password for `user`; returns the lock's end when the account is locked."""
    with transaction.atomic():
        security = security_for_update(user=user)
        return failure_record(
            user=user, security=security, trigger=FailureTrigger.PASSWORD, client=client
        )


def password_failure_record_for_username(
    *, username: str | None, client: ClientInfo | None
) -> datetime | None:
    """`password_failure_record` by username; an unknown name counts nothing and returns None."""
    user = _user_by_username(username)
    if user is None:
        return None
    return password_failure_record(user=user, client=client)


def account_unlock(*, user: User, by: User | None, client: ClientInfo | None) -> bool:
    """Lift the user's lock now and reset the count. Returns True (and sends `account_unlocked`)
    when a lock was in force, False when there was nothing to lift."""
    with transaction.atomic():
        security = security_for_update(user=user)
        was_locked = security.lock_active(now=timezone.now())
        security.locked_until = None
        security.failed_attempts = 0
        security.failed_codes = 0
        security.save(update_fields=["failed_attempts", "failed_codes", "locked_until"])
        if was_locked:
            account_unlocked.send(sender=AccountSecurity, user=user, by=by, client=client)
    return was_locked


def _user_by_username(username: str | None) -> User | None:
    if not username:
        return None
    model = get_user_model()
    try:
        return model._default_manager.get_by_natural_key(username)
    except model.DoesNotExist:
        return None
