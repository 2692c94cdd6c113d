"""Reads for the API: a user's live tokens, authenticators and pages of reveal history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from cardreveal.api.models import ApiToken
from cardreveal.audit.models import RevealEvent

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
    """The user's authenticator apps (confirmed or being enrolled), backup-code sets and passkeys."""
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
    devices.extend(
        OtpDeviceInfo(
            id=device.pk,
            type="passkey",
            name=device.name,
            confirmed=bool(device.confirmed),
            created_at=device.created_at,
            last_used_at=device.last_used_at,
            remaining_codes=None,
        )
        for device in WebAuthnCredential.objects.filter(user=user).order_by("id")
    )
    return devices


@dataclass(frozen=True)
class RevealHistoryPage:
    """Some of a user's reveal attempts, newest first; `older` is the record to pass as `before`
    for the next page (the last one here), or None when there are no more."""

    events: list[RevealEvent]
    older: int | None


def reveal_history_page(
    *, user: User, limit: int, before: int | None = None
) -> RevealHistoryPage | None:
    """The user's newest `limit` reveal attempts, or those right after (older than) their own
    record `before`; None if `before` is not one of the user's records."""
    events: QuerySet[RevealEvent] = RevealEvent.objects.filter(user=user)
    if before is not None:
        anchor = events.filter(pk=before).values("created_at", "seq").first()
        if anchor is None:
            return None
        events = events.filter(
            Q(created_at__lt=anchor["created_at"])
            | Q(created_at=anchor["created_at"], seq__lt=anchor["seq"])
        )
    page = list(events.order_by("-created_at", "-seq")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return RevealHistoryPage(events=page, older=page[-1].pk if more else None)
