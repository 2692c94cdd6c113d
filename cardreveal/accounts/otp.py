"""One-time-password checks: step-up for a reveal, sign-in verification, and enrolment.

Every check runs in a transaction with the user's devices locked (`select_for_update`), so a code
is accepted at most once even under concurrent requests, and django-otp's throttling holds.
"""

from __future__ import annotations

import enum
import re
import secrets
from dataclasses import dataclass

from django.db import transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

_TOTP_RE = re.compile(r"^[0-9]{6}$")
BACKUP_CODE_COUNT = 10
BACKUP_DEVICE_NAME = "Backup codes"


class OtpFailure(enum.StrEnum):
    """Why a code was not accepted; the values are audit reason codes."""

    MISSING = "otp_missing"
    MALFORMED = "otp_malformed"
    INVALID = "otp_invalid"
    REPLAYED = "otp_replayed"
    THROTTLED = "otp_throttled"
    NO_DEVICE = "otp_no_device"


@dataclass(frozen=True)
class OtpCheck:
    """The result of checking one code: the device that accepted it, or why none did."""

    device: TOTPDevice | StaticDevice | None
    failure: OtpFailure | None

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
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = device.t0 + device.last_t * device.step
    return f"{totp.token():0{device.digits}d}" == code


def verify_totp(*, user: object, code: str | None) -> OtpCheck:
    """Check a TOTP code against the user's confirmed authenticators, consuming it on success.

    Used for the per-reveal step-up: backup codes are not accepted here. Returns an OtpCheck;
    never raises for a bad code. Side effects: the device's last-used step and throttle counters.
    """
    code = normalise_code(code)
    if not code:
        return OtpCheck(None, OtpFailure.MISSING)
    if not _TOTP_RE.fullmatch(code):
        return OtpCheck(None, OtpFailure.MALFORMED)
    with transaction.atomic():
        devices = list(
            TOTPDevice.objects.devices_for_user(user, confirmed=True).select_for_update()
        )
        if not devices:
            return OtpCheck(None, OtpFailure.NO_DEVICE)
        failure = OtpFailure.INVALID
        for device in devices:
            allowed, _ = device.verify_is_allowed()
            if not allowed:
                failure = OtpFailure.THROTTLED
                continue
            replay = _is_replay(device, code)
            if device.verify_token(code):
                return OtpCheck(device, None)
            if replay and failure is OtpFailure.INVALID:
                failure = OtpFailure.REPLAYED
        return OtpCheck(None, failure)


def verify_sign_in_code(*, user: object, code: str | None) -> OtpCheck:
    """Check a code at sign-in: a TOTP code, or else one single-use backup code."""
    result = verify_totp(user=user, code=code)
    if result.ok or result.failure in (OtpFailure.MISSING, OtpFailure.REPLAYED):
        return result
    backup = normalise_code(code).lower()
    with transaction.atomic():
        for device in StaticDevice.objects.devices_for_user(
            user, confirmed=True
        ).select_for_update():
            if device.verify_token(backup):
                return OtpCheck(device, None)
    return result


def pending_totp_device(*, user: object) -> TOTPDevice:
    """The user's unconfirmed authenticator being enrolled, created on first call."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)
    return device


def confirm_totp_device(*, user: object, code: str | None) -> tuple[TOTPDevice | None, list[str]]:
    """Confirm the pending authenticator with a code from it; on success make fresh backup codes.

    Returns (device, backup_codes) on success, (None, []) when the code is wrong.
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
        return device, replace_backup_codes(user=user)


def replace_backup_codes(*, user: object) -> list[str]:
    """Replace the user's backup codes with ten new single-use ones and return them (shown once)."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
        codes = [secrets.token_hex(5) for _ in range(BACKUP_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


def has_confirmed_authenticator(user: object) -> bool:
    """True when the user has finished enrolling a TOTP authenticator."""
    return bool(TOTPDevice.objects.devices_for_user(user, confirmed=True).exists())
