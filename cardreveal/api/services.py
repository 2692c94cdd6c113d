"""API writes: sign in for a token, sign out, revoke tokens, enrol another authenticator or a passkey.

Reveals are not here: the API calls the one reveal service, `cardreveal.cards.services.reveal_cvv`.
"""

from __future__ import annotations

import re
import uuid
from base64 import b32encode
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth import SESSION_KEY, authenticate
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.settings import knox_settings

from cardreveal.accounts.cooloff import authenticator_added_record
from cardreveal.accounts.lockout import lock_message, locked_until_for_username, seconds_until
from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.otp import OtpCheck, normalise_code, verify_sign_in_code
from cardreveal.accounts.passkeys import (
    PasskeyEnrolError,
    passkey_register_begin,
    passkey_register_complete,
)
from cardreveal.accounts.sessions import user_sessions_end
from cardreveal.accounts.sign_in_limits import sign_in_refusal
from cardreveal.accounts.signals import sign_in_verified
from cardreveal.api.models import ApiToken
from cardreveal.audit.services import escape_control
from cardreveal.client_info import client_info
from cardreveal.errors import ServiceError
from providers.sensitive import Sensitive

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_AUTHENTICATORS = 5
_TOTP_RE = re.compile(r"^[0-9]{6}$")

LOGIN_FAILED_MESSAGE = (
    "The username, password or code is not correct. "
    "Each code works once: if you just used one, wait for the next."
)


@dataclass(frozen=True)
class IssuedToken:
    """A new token: its record, and the token itself, shown to the client once and never stored."""

    record: ApiToken
    secret: Sensitive[str]


@dataclass(frozen=True)
class PendingAuthenticator:
    """An authenticator waiting for its first code; the key is shown once, at enrolment."""

    device: TOTPDevice
    secret: Sensitive[str]
    otpauth_uri: Sensitive[str]


@sensitive_variables("password", "otp_code")
def api_login(
    *, request: HttpRequest, username: str, password: str, otp_code: str, device_name: str
) -> IssuedToken:
    """Sign in with password and a one-time code (TOTP, or a backup code), for a new device token.

    The sign-in limits are asked first (`sign_in_limits`, shared with the web and admin doors):
    past them, ServiceError `throttled` (429, with Retry-After) and nothing is checked. The
    password goes through Django's authentication backends (so failures count towards the
    per-user lockout and the limits, and a locked account is refused); the code is consumed as
    at web sign-in, so it cannot be reused, here or for a reveal. Any refused password, code or
    username, and a locked account, raise the same `invalid_credentials` (400), so the answer
    never says which was wrong, whether the username exists, or whether it is locked (the
    account holder is emailed when the lock is set). Sends `user_logged_in` and
    `sign_in_verified` on success.
    """
    client = client_info(request, channel="api")
    refusal = sign_in_refusal(address=client.ip, username=username)
    if refusal is not None:
        raise ServiceError("throttled", refusal.message, 429, retry_after=refusal.retry_after)
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise ServiceError("invalid_credentials", LOGIN_FAILED_MESSAGE)
    check = verify_sign_in_code(user=user, code=otp_code, client=client)
    if not check.ok:
        # A lock this code set is not told either: here it would say the password was right.
        raise ServiceError("invalid_credentials", LOGIN_FAILED_MESSAGE)
    issued = api_token_issue(
        user=user,
        device_name=device_name or request.headers.get("User-Agent", ""),
    )
    _send_without_starting_a_session(request, user)
    sign_in_verified.send(sender=AccountSecurity, user=user, device=check.device, client=client)
    return issued


def _send_without_starting_a_session(request: HttpRequest, user: User) -> None:
    """Send `user_logged_in` (audit and last-login receivers need it) for a token sign-in.

    Receivers written for web sign-in may stamp `request.session`; the API issues tokens, never
    sessions, so a session the request did not already have is dropped (no row, no cookie).
    """
    session = getattr(request, "session", None)
    had_session = session is not None and session.session_key is not None
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    if session is not None and not had_session:
        session.clear()  # left empty, Django's SessionMiddleware neither saves it nor sets a cookie


def api_token_issue(*, user: User, device_name: str) -> IssuedToken:
    """Create a token for one device; the user's expired tokens are deleted and, past the
    per-user limit, the oldest live ones are revoked to make room."""
    limit = int(knox_settings.TOKEN_LIMIT_PER_USER or 10)
    with transaction.atomic():
        ApiToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
        live = list(
            ApiToken.objects.select_for_update()
            .filter(user=user)
            .order_by("-created")
            .values_list("digest", flat=True)
        )
        if len(live) >= limit:
            ApiToken.objects.filter(digest__in=live[limit - 1 :]).delete()
        record, secret = ApiToken.objects.create(
            user=user,
            expiry=knox_settings.TOKEN_TTL,
            device_name=escape_control(device_name.strip(), limit=100),
        )
    return IssuedToken(record=record, secret=Sensitive(secret))


def api_logout(*, request: HttpRequest, user: User, token: ApiToken) -> None:
    """Revoke the token the request came with. Sends `user_logged_out`."""
    ApiToken.objects.filter(digest=token.digest).delete()
    user_logged_out.send(sender=user.__class__, request=request, user=user)


@dataclass(frozen=True)
class SignedOutEverywhere:
    """What `api_logout_everywhere` ended."""

    tokens_revoked: int
    sessions_ended: int


def api_logout_everywhere(*, request: HttpRequest, user: User) -> SignedOutEverywhere:
    """Sign the user out on every device: revoke all their API tokens and end all their web
    sessions (each browser is signed out at its next request), in one transaction. Sends
    `user_logged_out`.
    """
    with transaction.atomic():
        tokens: int = ApiToken.objects.filter(user=user).delete()[0]
        sessions = user_sessions_end(user=user)
    session = getattr(request, "session", None)
    if session is not None and session.get(SESSION_KEY) == str(user.pk):
        session.flush()  # its row is gone: the response must not try to save it again
    user_logged_out.send(sender=user.__class__, request=request, user=user)
    return SignedOutEverywhere(tokens_revoked=tokens, sessions_ended=sessions)


def api_token_revoke(*, user: User, token_id: uuid.UUID) -> bool:
    """Revoke one of the user's tokens by its public id; False if no such token is theirs."""
    count: int = ApiToken.objects.filter(user=user, id=token_id).delete()[0]
    return count > 0


@sensitive_variables("password", "otp_code")
def totp_device_enrol(
    *, request: HttpRequest, user: User, password: str, otp_code: str, name: str
) -> PendingAuthenticator:
    """Start enrolling another authenticator app, after re-checking password and a current code.

    Any earlier unconfirmed authenticator of the user is discarded (its key was shown once and
    must not come back). Raises ServiceError: `reauthentication_failed` (403), `account_locked`
    (423) or `too_many_authenticators` (409). The new device works only once confirmed with a code
    from it.
    """
    if _confirmed_authenticators(user) >= MAX_AUTHENTICATORS:
        raise _too_many_authenticators()
    _reauthenticate(request=request, user=user, password=password, otp_code=otp_code)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        if _confirmed_authenticators(user) >= MAX_AUTHENTICATORS:
            raise _too_many_authenticators()
        device = TOTPDevice.objects.create(user=user, name=name.strip(), confirmed=False)
    return PendingAuthenticator(
        device=device,
        secret=Sensitive(b32encode(device.bin_key).decode("ascii")),
        otpauth_uri=Sensitive(device.config_url),
    )


def totp_device_confirm(*, user: User, device_id: int, otp_code: str) -> TOTPDevice:
    """Confirm an authenticator being enrolled with a code from it; from then on it counts.

    Raises ServiceError `device_not_found` (404) if it is not the user's pending authenticator, or
    `otp_invalid` (400) for a wrong code (django-otp's back-off on that device applies). Like a
    web enrolment, a confirmed authenticator starts the reveal cool-off and emails the cardholder.
    """
    code = normalise_code(otp_code)
    outcome: Any = None
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, pk=device_id, confirmed=False)
            .first()
        )
        if device is not None and _TOTP_RE.fullmatch(code) and device.verify_token(code):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            # Starts the reveal cool-off and emails the cardholder, as a web enrolment does.
            authenticator_added_record(user=user, device=device, by=None)
            outcome = device
        elif device is not None:
            outcome = "wrong_code"
    # Raised outside the transaction so the device's failure counter (django-otp) is kept.
    if outcome is None:
        raise ServiceError(
            "device_not_found", "No authenticator with this id is waiting for a code.", 404
        )
    if outcome == "wrong_code":
        raise ServiceError(
            "otp_invalid",
            "That code does not match. Check the key was entered correctly and the phone's "
            "clock is right, then try a new code.",
            400,
        )
    confirmed: TOTPDevice = outcome
    return confirmed


def _reauthenticate(*, request: HttpRequest, user: User, password: str, otp_code: str) -> None:
    """The password and a current code (or a backup code) again, before adding a credential.
    Raises ServiceError `reauthentication_failed` (403) or `account_locked` (423)."""
    again = authenticate(request, username=user.get_username(), password=password)
    check: OtpCheck | None = None
    if again is not None and again.pk == user.pk:
        check = verify_sign_in_code(user=user, code=otp_code)
    if check is None or not check.ok:
        _refuse_if_locked(check.locked_until if check else locked_until_for_username(user.username))
        raise ServiceError(
            "reauthentication_failed",
            "The password or code is not correct. Each code works once.",
            403,
        )


def passkey_enrol_begin(
    *, request: HttpRequest, user: User, password: str, otp_code: str
) -> dict[str, Any]:
    """Start adding a passkey from the app, after re-checking the password and a current code:
    the WebAuthn creation options (user verification required; the challenge single use, 2
    minutes). Raises ServiceError like `totp_device_enrol`."""
    _reauthenticate(request=request, user=user, password=password, otp_code=otp_code)
    return passkey_register_begin(user=user)


def passkey_enrol_complete(*, user: User, credential: dict[str, Any], name: str) -> Any:
    """Finish adding a passkey from the app with the platform's answer (RegistrationResponseJSON):
    verified (origin, RP ID, user verification), saved confirmed, the cool-off started and the
    cardholder emailed. Raises ServiceError `passkey_not_added` (400) with the reason."""
    try:
        return passkey_register_complete(user=user, credential=credential, name=name)
    except PasskeyEnrolError as exc:
        raise ServiceError("passkey_not_added", str(exc), 400) from None


def _refuse_if_locked(locked_until: datetime | None) -> None:
    if locked_until is not None:
        raise ServiceError(
            "account_locked",
            lock_message(locked_until),
            423,
            retry_after=seconds_until(locked_until),
        )


def _confirmed_authenticators(user: User) -> int:
    count: int = TOTPDevice.objects.filter(user=user, confirmed=True).count()
    return count


def _too_many_authenticators() -> ServiceError:
    return ServiceError(
        "too_many_authenticators",
        f"You already have {MAX_AUTHENTICATORS} authenticator apps; ask support to remove one.",
        409,
    )
