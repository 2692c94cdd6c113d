"""One-time-password checks: step-up for a reveal, sign-in verification, and enrolment.

Every check runs in a transaction holding the user's `AccountSecurity` row and devices
(`select_for_update`), so a code is accepted at most once even under concurrent requests,
django-otp's per-device throttling holds, and failures count towards the per-user lockout.
Backup codes are stored as keyed digests, never as typed.
"""

from __future__ import annotations

import enum
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
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
# checked (django-otp's back-off already refused it), a missing or malformed code could never have
# been right, and attempts while locked are not checked at all.
_COUNTED = frozenset({OtpFailure.INVALID})


@dataclass(frozen=True)
class OtpCheck:
    """The result of checking one code: the device that accepted it, or why none did.

    `locked_until` is set when the account is locked after this check (by it or before it);
    `throttled_until` when the failure is `THROTTLED`: when django-otp's back-off lets the
    earliest of the user's devices check a code again.
    """

    device: TOTPDevice | StaticDevice | None
    failure: OtpFailure | None
    locked_until: datetime | None = None
    throttled_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.device is not None


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
    throttled_until: datetime | None = None
    for device in devices:
        allowed, why = device.verify_is_allowed()
        if not allowed:
            failure = OtpFailure.THROTTLED
            until = (why or {}).get("locked_until")
            if isinstance(until, datetime) and (throttled_until is None or until < throttled_until):
                throttled_until = until
            continue
        replay = _is_replay(device, code)
        if device.verify_token(code):
            return OtpCheck(device, None)
        if replay and failure is OtpFailure.INVALID:
            failure = OtpFailure.REPLAYED
    if failure is OtpFailure.THROTTLED:
        return OtpCheck(None, failure, throttled_until=throttled_until or timezone.now())
    return OtpCheck(None, failure)


def backup_code_digests(code: str) -> list[str]:
    """The stored forms of a backup code: a 64-bit HMAC-SHA256 under SECRET_KEY, then under each
    of SECRET_KEY_FALLBACKS (so codes survive a key rotation done the Django way)."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [
        salted_hmac(_BACKUP_DIGEST_SALT, code, secret=key, algorithm="sha256").hexdigest()[:16]
        for key in keys
    ]


def _check_backup(*, user: User, code: str) -> OtpCheck | None:
    """Check a backup code against the user's static devices (locked); None when none matched."""
    digests = backup_code_digests(code.lower())
    for device in StaticDevice.objects.devices_for_user(user, confirmed=True).select_for_update():
        stored = device.token_set.filter(token__in=digests).values_list("token", flat=True).first()
        # One verify_token call either way, so django-otp's throttling counts this attempt once.
        if device.verify_token(stored or digests[0]):
            return OtpCheck(device, None)
    return None


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
        if security.lock_active(now=timezone.now()):
            result = OtpCheck(None, OtpFailure.LOCKED, security.locked_until)
        else:
            result = _check_totp(user=user, code=code)
            if allow_backup and result.failure not in (
                None,
                OtpFailure.MISSING,
                OtpFailure.REPLAYED,
            ):
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
