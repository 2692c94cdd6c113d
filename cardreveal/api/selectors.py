"""Reads for the API: a user's live tokens and authenticators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.api.models import ApiToken

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def api_tokens_for_user(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens that have not expired, newest first."""
    tokens: QuerySet[ApiToken] = ApiToken.objects.filter(user=user, expiry__gt=timezone.now())
    return tokens.order_by("-created")


@dataclass(frozen=True)
class OtpDeviceInfo:
    """What a cardholder may see of one of their OTP devices: never its key or codes."""

    id: int
    type: str
    name: str
    confirmed: bool
    created_at: datetime | None
    last_used_at: datetime | None
    remaining_codes: int | None


def otp_devices_for_user(*, user: User) -> list[OtpDeviceInfo]:
    """The user's authenticator apps (confirmed or being enrolled) and backup-code sets."""
    devices = [
        OtpDeviceInfo(
            id=device.pk,
            type="totp",
            name=device.name,
            confirmed=bool(device.confirmed),
            created_at=device.created_at,
            last_used_at=device.last_used_at,
            remaining_codes=None,
        )
        for device in TOTPDevice.objects.filter(user=user).order_by("id")
    ]
    devices.extend(
        OtpDeviceInfo(
            id=device.pk,
            type="backup_codes",
            name=device.name,
            confirmed=bool(device.confirmed),
            created_at=device.created_at,
            last_used_at=device.last_used_at,
            remaining_codes=device.token_set.count(),
        )
        for device in StaticDevice.objects.filter(user=user).order_by("id")
    )
    return devices
