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
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.signals import account_locked, account_unlocked
from cardreveal.client_info import ClientInfo
from cardreveal.db import CompiledQuery


class FailureTrigger(enum.StrEnum):
    """What kind of attempt failed; sent with `account_locked`."""

    PASSWORD = "password"  # noqa: S105 (a label, not a password)
    OTP = "otp"


# The two reads every reveal makes of this row, compiled once (cardreveal/db.py).
_SECURITY = CompiledQuery(
    lambda user_id: AccountSecurity.objects.filter(user_id=user_id).order_by()[:1], user_id=1
)
_SECURITY_FOR_UPDATE = CompiledQuery(
    lambda user_id: (
        AccountSecurity.objects.select_for_update().filter(user_id=user_id).order_by()[:1]
    ),
    user_id=1,
)
# The same, also telling PostgreSQL not to wait for the disk when this transaction commits:
# `set_config('synchronous_commit', 'off', true)` is `SET LOCAL` as a function, so it rides on the
# read instead of costing a round trip of its own. It runs only for a row the read returns.
_SECURITY_FOR_UPDATE_COMMIT_UNFLUSHED = CompiledQuery(
    lambda user_id: (
        AccountSecurity.objects.select_for_update()
        .filter(user_id=user_id)
        .annotate(
            _synchronous_commit=models.Func(
                models.Value("synchronous_commit"),
                models.Value("off"),
                models.Value(True),
                function="set_config",
                output_field=models.TextField(),
            )
        )
        .order_by()[:1]
    ),
    user_id=1,
)


def security_for_update(*, user: object, commit_unflushed: bool = False) -> AccountSecurity:
    """The user's row, created on first need and locked until the caller's transaction ends.

    Call inside `transaction.atomic()`. Concurrent first calls are safe: the loser of the insert
    race reads the winner's row. `commit_unflushed`: on PostgreSQL, the transaction's COMMIT
    will not wait for its WAL to reach the disk (`synchronous_commit = off` for this transaction
    only); only for a caller whose every answer waits on a later commit that does (the reveal's
    code check: `otp._verify`).
    """
    connection = transaction.get_connection()
    unflushed = commit_unflushed and connection.vendor == "postgresql"
    query = _SECURITY_FOR_UPDATE_COMMIT_UNFLUSHED if unflushed else _SECURITY_FOR_UPDATE
    locked = query.first(user_id=user_pk(user))
    if locked is not None:  # one query once the row exists, which is almost always
        return locked
    if unflushed:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
    AccountSecurity.objects.get_or_create(user_id=user_pk(user))
    return AccountSecurity.objects.select_for_update().get(user_id=user_pk(user))


def account_security_read(*, user: object) -> AccountSecurity | None:
    """The user's row as it is now, unlocked, or None when none was made yet. Reads only.

    For callers that check both the lock (`lock_end`) and the cool-off (`cooloff.cooloff_from`):
    one query instead of one each.
    """
    pk = user_pk(user)
    return None if pk is None else _SECURITY.first(user_id=pk)


def lock_end(security: AccountSecurity | None) -> datetime | None:
    """When the lock on `security` (a row, or None for a user without one) ends, or None when it
    does not hold now."""
    if security is not None and security.lock_active(now=timezone.now()):
        return security.locked_until
    return None


def account_locked_until(*, user: object) -> datetime | None:
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
    user: object,
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
    security.failed_attempts += 1
    security.last_failure_at = now
    locked = security.failed_attempts >= settings.CARDREVEAL_LOCKOUT_THRESHOLD
    if locked:
        security.locked_until = now + timedelta(seconds=settings.CARDREVEAL_LOCKOUT_SECONDS)
    security.save(update_fields=["failed_attempts", "last_failure_at", "locked_until"])
    if not locked:
        return None
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
    """Reset the failure count after a successful code (a row from `security_for_update`)."""
    if security.failed_attempts or security.locked_until is not None:
        security.failed_attempts = 0
        security.locked_until = None
        security.save(update_fields=["failed_attempts", "locked_until"])


def password_failure_record(*, user: object, client: ClientInfo | None) -> datetime | None:
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


def account_unlock(*, user: object, by: object, client: ClientInfo | None) -> bool:
    """Lift the user's lock now and reset the count. Returns True (and sends `account_unlocked`)
    when a lock was in force, False when there was nothing to lift."""
    with transaction.atomic():
        security = security_for_update(user=user)
        was_locked = security.lock_active(now=timezone.now())
        security.locked_until = None
        security.failed_attempts = 0
        security.save(update_fields=["failed_attempts", "locked_until"])
        if was_locked:
            account_unlocked.send(sender=AccountSecurity, user=user, by=by, client=client)
    return was_locked


def user_pk(user: object) -> Any:
    """The primary key of a user instance (ORM lookups by `user_id` keep the types honest)."""
    return getattr(user, "pk", None)


def _user_by_username(username: str | None) -> object | None:
    if not username:
        return None
    model = get_user_model()
    try:
        return model._default_manager.get_by_natural_key(username)
    except model.DoesNotExist:
        return None
