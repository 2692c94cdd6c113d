"""One-time-password checks: step-up for a reveal, sign-in verification, and enrolment.

Every check runs in a transaction holding the user's `AccountSecurity` row and devices
(`select_for_update`), so a code is accepted at most once even under concurrent requests,
a back-off slows guessing from the third wrong code in a row (`_back_off_end`: ours, per
account; django-otp's per-device throttling is off), and wrong codes count towards the per-user
lockout. Backup codes are stored as keyed digests,
never as typed.
"""

from __future__ import annotations

import enum
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts import lockout
from cardreveal.accounts.cooloff import authenticator_added_record
from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.signals import otp_failed, otp_replay_rejected
from cardreveal.client_info import ClientInfo

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_TOTP_RE = re.compile(r"^[0-9]{6}$")
BACKUP_CODE_COUNT = 10
BACKUP_DEVICE_NAME = "Backup codes"
_BACKUP_DIGEST_SALT = "cardreveal.accounts.backup-code"
_BACKUP_DIGEST_RE = re.compile(r"^[0-9a-f]{16}$")


class OtpFailure(enum.StrEnum):
    """Why a code was not accepted; the values are audit reason codes."""

    MISSING = "otp_missing"
    MALFORMED = "otp_malformed"
    INVALID = "otp_invalid"
    REPLAYED = "otp_replayed"
    THROTTLED = "otp_throttled"
    NO_DEVICE = "otp_no_device"
    LOCKED = "account_locked"


class OtpContext(enum.StrEnum):
    """Where a code was checked; sent with the OTP signals."""

    SIGN_IN = "sign_in"
    REVEAL = "reveal"


# Only a code that was checked and found wrong counts towards the lockout: that is a guess. A
# replay is not (the code was just accepted: usually a double submit), a throttled attempt was not
# checked (no device was asked while one of them was waiting), a missing or malformed code could
# never have been right, and attempts while locked are not checked at all.
_COUNTED = frozenset({OtpFailure.INVALID})


@dataclass(frozen=True)
class OtpCheck:
    """The result of checking one code: the device that accepted it, or why none did.

    `locked_until` is set when the account is locked after this check (by it or before it);
    `wait_until`, when the code was not checked because of the back-off after wrong codes
    (`OtpFailure.THROTTLED`): the moment a code is checked again.
    """

    device: TOTPDevice | StaticDevice | None
    failure: OtpFailure | None
    locked_until: datetime | None = None
    wait_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.device is not None


def throttle_message(wait_until: datetime) -> str:
    """What someone whose code was not checked because of the back-off is told: the real wait."""
    seconds = lockout.seconds_until(wait_until)
    unit = "second" if seconds == 1 else "seconds"
    return (
        f"Too many wrong attempts in a row: this code was not checked. "
        f"Wait {seconds} {unit}, then try again."
    )


def normalise_code(raw: str | None) -> str:
    """Strip spaces and dashes people type between digit groups."""
    return re.sub(r"[\s-]", "", raw or "")


def _is_replay(device: TOTPDevice, code: str) -> bool:
    """True when `code` is the one this device accepted last (a reused code, not a wrong one)."""
    if device.last_t < 0:
        return False
    # `last_t` is the step the code was accepted for, drift included: no drift on top.
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, drift=0)
    totp.time = device.t0 + device.last_t * device.step
    return f"{totp.token():0{device.digits}d}" == code


def _back_off_end(security: AccountSecurity) -> datetime | None:
    """When the wait after wrong codes in a row ends, or None when a code may be checked now.

    The first CARDREVEAL_OTP_FREE_FAILURES wrong codes in a row cost no wait (a typo must not
    block the right code typed next); the n-th after them waits 2^(n-1) seconds from it (4 s
    after the third, 8 s after the fourth, ...), for the whole account, whatever the device.
    Only wrong codes count here (`AccountSecurity.failed_codes`, reset by a right code or a
    lock): wrong passwords are held back by the sign-in limits and the lockout, and must not
    delay the right code of someone who mistyped their password first.
    """
    failures = security.failed_codes
    if failures <= settings.CARDREVEAL_OTP_FREE_FAILURES or security.last_failed_code_at is None:
        return None
    wait = settings.CARDREVEAL_OTP_BACKOFF_SECONDS * 2 ** min(failures - 1, 12)
    end = security.last_failed_code_at + timedelta(seconds=wait)
    return end if end > timezone.now() else None


def _check_totp(*, user: User, code: str) -> OtpCheck:
    """Check a normalised code against the user's confirmed TOTP devices (locked for update)."""
    if not code:
        return OtpCheck(None, OtpFailure.MISSING)
    if not _TOTP_RE.fullmatch(code):
        return OtpCheck(None, OtpFailure.MALFORMED)
    devices = list(TOTPDevice.objects.devices_for_user(user, confirmed=True).select_for_update())
    if not devices:
        return OtpCheck(None, OtpFailure.NO_DEVICE)
    failure = OtpFailure.INVALID
    for device in devices:
        replay = _is_replay(device, code)
        if device.verify_token(code):
            return OtpCheck(device, None)
        if replay:
            failure = OtpFailure.REPLAYED
    return OtpCheck(None, failure)


def backup_code_digests(code: str) -> list[str]:
    """The stored forms of a backup code: a 64-bit HMAC-SHA256 under SECRET_KEY, then under each
    of SECRET_KEY_FALLBACKS (so codes survive a key rotation done the Django way)."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [
        salted_hmac(_BACKUP_DIGEST_SALT, code, secret=key, algorithm="sha256").hexdigest()[:16]
        for key in keys
    ]


def is_backup_code_digest(stored: str) -> bool:
    """True when `stored` has the shape of a `backup_code_digests` value (16 hex digits), which
    no code this app or django-otp makes has (10 hex digits, 8 base-32 letters)."""
    return _BACKUP_DIGEST_RE.fullmatch(stored) is not None


def _check_backup(*, user: User, code: str) -> OtpCheck | None:
    """Check a backup code against the user's static devices (locked); None when they have none,
    INVALID when it matches none."""
    devices = list(StaticDevice.objects.devices_for_user(user, confirmed=True).select_for_update())
    if not devices:
        return None
    digests = backup_code_digests(code.lower())
    for device in devices:
        stored = device.token_set.filter(token__in=digests).values_list("token", flat=True).first()
        if device.verify_token(stored or digests[0]):
            return OtpCheck(device, None)
    return OtpCheck(None, OtpFailure.INVALID)


def _verify(
    *,
    user: User,
    code: str | None,
    allow_backup: bool,
    context: OtpContext,
    client: ClientInfo | None,
) -> OtpCheck:
    code = normalise_code(code)
    # Inside the caller's transaction when there is one (no savepoint), so a caller can commit
    # what it writes about the check together with it (the reveal's audit record).
    with transaction.atomic(savepoint=False):
        security = lockout.security_for_update(user=user)
        wait_until = _back_off_end(security)
        if security.lock_active(now=timezone.now()):
            result = OtpCheck(None, OtpFailure.LOCKED, security.locked_until)
        elif wait_until is not None:  # not checked, so not counted: no device is asked
            result = OtpCheck(None, OtpFailure.THROTTLED, wait_until=wait_until)
        else:
            result = _check_totp(user=user, code=code)
            # Backup codes (10 characters) are looked for only where the code is not a TOTP code,
            # or there is no authenticator: a 6-digit code is never one of them.
            if allow_backup and result.failure in (OtpFailure.MALFORMED, OtpFailure.NO_DEVICE):
                result = _check_backup(user=user, code=code) or replace(
                    result,
                    # a failed backup-code attempt is a guess even if it was no TOTP code
                    failure=OtpFailure.INVALID
                    if result.failure is OtpFailure.MALFORMED
                    else result.failure,
                )
        if result.ok:
            lockout.success_record(security=security)
            return result
        if result.failure in _COUNTED:
            result = replace(
                result,
                locked_until=lockout.failure_record(
                    user=user,
                    security=security,
                    trigger=lockout.FailureTrigger.OTP,
                    client=client,
                ),
            )
        _announce_failure(user=user, result=result, context=context, client=client)
        return result


def _announce_failure(
    *, user: User, result: OtpCheck, context: OtpContext, client: ClientInfo | None
) -> None:
    if result.failure is OtpFailure.REPLAYED:
        otp_replay_rejected.send(
            sender=AccountSecurity, user=user, context=context.value, client=client
        )
    else:
        reason = (result.failure or OtpFailure.INVALID).value
        otp_failed.send(
            sender=AccountSecurity, user=user, reason=reason, context=context.value, client=client
        )


def verify_totp(*, user: User, code: str | None, client: ClientInfo | None = None) -> OtpCheck:
    """Check a TOTP code against the user's confirmed authenticators, consuming it on success.

    Used for the per-reveal step-up: backup codes are not accepted here. Returns an OtpCheck;
    never raises for a bad code. A locked account is refused without checking the code.
    Side effects: the device's last-used step and throttle counters, the lockout count (reset on
    success), and one OTP signal per failed check. The caller must audit the outcome before it
    answers (its commit makes these changes durable: see `_verify`).
    """
    return _verify(
        user=user,
        code=code,
        allow_backup=False,
        context=OtpContext.REVEAL,
        client=client,
    )


def verify_sign_in_code(
    *, user: User, code: str | None, client: ClientInfo | None = None
) -> OtpCheck:
    """Check a code at sign-in: a TOTP code, or else one single-use backup code.

    Same contract and side effects as `verify_totp`; a failed backup code counts as a guess.
    """
    return _verify(
        user=user, code=code, allow_backup=True, context=OtpContext.SIGN_IN, client=client
    )


def pending_totp_device(*, user: User) -> TOTPDevice:
    """The user's unconfirmed authenticator being enrolled, created on first call."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)
    return device


def confirm_totp_device(*, user: User, code: str | None) -> tuple[TOTPDevice | None, list[str]]:
    """Confirm the pending authenticator with a code from it; on success make fresh backup codes.

    Returns (device, backup_codes) on success, (None, []) when the code is wrong. A confirmed
    authenticator starts the reveal cool-off and emails the cardholder (`cooloff`).
    """
    code = normalise_code(code)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("-id")
            .first()
        )
        if device is None or not _TOTP_RE.fullmatch(code) or not device.verify_token(code):
            return None, []
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        authenticator_added_record(user=user, device=device, by=None)
        return device, replace_backup_codes(user=user)


def replace_backup_codes(*, user: User) -> list[str]:
    """Replace the user's backup codes with ten new single-use ones and return them (shown once).

    Only their digests (`backup_code_digests`) are stored.
    """
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
        codes = [secrets.token_hex(5) for _ in range(BACKUP_CODE_COUNT)]
        StaticToken.objects.bulk_create(
            StaticToken(device=device, token=backup_code_digests(c)[0]) for c in codes
        )
    return codes


def has_confirmed_authenticator(user: User) -> bool:
    """True when the user has finished enrolling a TOTP authenticator."""
    return bool(TOTPDevice.objects.devices_for_user(user, confirmed=True).exists())
