"""Passkeys (WebAuthn, django-otp-webauthn devices): enrolment, bound single-use challenges, checks.

A passkey is a django-otp device (`WebAuthnCredential`) beside the TOTP authenticator and the
backup codes. Each assertion answers one challenge stored in the database (`PasskeyChallenge`):
32 random bytes followed by a binding the caller chooses (for a reveal, a digest of the card and
of the key the CVV will be sealed to), spent the first time it is presented, good for
CARDREVEAL_PASSKEY_CHALLENGE_SECONDS. An assertion is checked like a code: under the user's
`AccountSecurity` row (`select_for_update`), refused while the account is locked, and a refused
assertion counts towards the lockout and sends `otp_failed` with its reason.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp_webauthn.exceptions import OTPWebAuthnApiError
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import ClientDataType, UserVerificationRequirement

from cardreveal.accounts import lockout
from cardreveal.accounts.cooloff import authenticator_added_record
from cardreveal.accounts.models import AccountSecurity, PasskeyChallenge, StepUpPolicy
from cardreveal.accounts.signals import otp_failed
from cardreveal.client_info import ClientInfo

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_RANDOM_BYTES = 32
MAX_NAME_LENGTH = 64
# Outstanding challenges kept per user; older ones are dropped when a new one is made.
_MAX_OPEN_CHALLENGES = 10


class StepUp(enum.StrEnum):
    """How reveals are authorised: CARDREVEAL_STEP_UP_POLICY, or a user's admin override."""

    PASSKEY_REQUIRED = "passkey_required"
    PASSKEY_PREFERRED = "passkey_preferred"
    TOTP_ONLY = "totp_only"


def step_up_policy(*, user: User) -> StepUp:
    """The policy in force for `user`: their admin override, else the site-wide setting."""
    override = StepUpPolicy.objects.filter(user_id=user.pk).values_list("policy", flat=True).first()
    return StepUp(override or settings.CARDREVEAL_STEP_UP_POLICY)


class PasskeyFailure(enum.StrEnum):
    """Why an assertion was not accepted; the values are audit reason codes."""

    MISSING = "passkey_missing"
    MALFORMED = "passkey_malformed"
    UNKNOWN_CHALLENGE = "passkey_unknown_challenge"
    REPLAYED = "passkey_replayed"
    EXPIRED = "passkey_expired"
    WRONG_BINDING = "passkey_wrong_binding"
    WRONG_ORIGIN = "passkey_wrong_origin"
    UNKNOWN_CREDENTIAL = "passkey_unknown"
    NOT_VERIFIED = "passkey_no_user_verification"
    COUNTER = "passkey_counter"
    INVALID = "passkey_invalid"
    NO_DEVICE = "passkey_no_device"
    LOCKED = "account_locked"


# What the person is told, by reason: what happened and what to do.
FAILURE_MESSAGES = {
    PasskeyFailure.MISSING: "Use your passkey to confirm: no passkey answer was sent.",
    PasskeyFailure.MALFORMED: "The passkey answer could not be read. Try again with your passkey.",
    PasskeyFailure.UNKNOWN_CHALLENGE: "That passkey answer was not for a request we made. "
    "Start again and use your passkey once.",
    PasskeyFailure.REPLAYED: "That passkey answer has already been used: each one works once. "
    "Start again and use your passkey for this request.",
    PasskeyFailure.EXPIRED: "The passkey request ran out of time (it lasts 2 minutes). "
    "Start again and use your passkey straight away.",
    PasskeyFailure.WRONG_BINDING: "That passkey answer was made for another card or another "
    "device, so it cannot show this card's code. Start again from this card.",
    PasskeyFailure.WRONG_ORIGIN: "Your passkey signed for a different website than ours, so it "
    "was refused. You may be on a fake site: type our address yourself and try again there.",
    PasskeyFailure.UNKNOWN_CREDENTIAL: "That passkey is not registered to your account (it may "
    "have been removed). Use another passkey or your authenticator app.",
    PasskeyFailure.NOT_VERIFIED: "Your passkey did not check it was you (no fingerprint, face "
    "or PIN). Try again and unlock it when asked.",
    PasskeyFailure.COUNTER: "That passkey's use counter went backwards, a sign it may have "
    "been copied. It was refused: use another passkey, and tell your bank.",
    PasskeyFailure.INVALID: "Your passkey's answer could not be verified. Try again.",
    PasskeyFailure.NO_DEVICE: "You have no passkey yet. Add one under Passkeys, or use your "
    "authenticator app.",
    PasskeyFailure.LOCKED: "Too many failed attempts: this account is locked for now.",
}

# Not counted towards the lockout: nothing was checked (locked, missing, unreadable, no
# passkey). Every other refusal is a presented assertion that failed, counted like a wrong code.
_NOT_COUNTED = frozenset(
    {
        PasskeyFailure.MISSING,
        PasskeyFailure.MALFORMED,
        PasskeyFailure.NO_DEVICE,
        PasskeyFailure.LOCKED,
    }
)


# The audit reasons of refusals that count (for the sign-in limits, which count failures by reason).
COUNTED_REASONS = frozenset(f.value for f in PasskeyFailure if f not in _NOT_COUNTED)


@dataclass(frozen=True)
class PasskeyCheck:
    """The result of checking one assertion: the passkey that made it, or why it was refused.

    `locked_until` is set when the account is locked after this check; `origin` is the origin
    the browser or app named in the assertion (for the audit and for the message).
    """

    device: WebAuthnCredential | None
    failure: PasskeyFailure | None
    locked_until: datetime | None = None
    origin: str = ""

    @property
    def ok(self) -> bool:
        return self.device is not None

    @property
    def message(self) -> str:
        return FAILURE_MESSAGES[self.failure or PasskeyFailure.INVALID]


class PasskeyHelper(WebAuthnHelper):
    """django-otp-webauthn's helper (OTP_WEBAUTHN_HELPER_CLASS) with user verification required
    for every ceremony and, when `binding` is given, the challenge made of 32 random bytes and
    the binding, so the server can tell what an assertion was made for."""

    def __init__(
        self, request: HttpRequest | None, binding: bytes = b"", device_name: str = ""
    ) -> None:
        super().__init__(request)  # the helper reads the request only in RP callables
        self.binding = binding
        self.device_name = device_name

    def get_allowed_origins(self) -> list[str]:
        return allowed_origins()

    def create_credential(self, user: Any, *args: Any, **kwargs: Any) -> Any:
        # Named before its first save, so the audit record of the new device has the name.
        device = super().create_credential(user, *args, **kwargs)
        device.name = self.device_name
        return device

    def get_generate_registration_options_kwargs(self, *, user: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_generate_registration_options_kwargs(user=user)
        kwargs["authenticator_selection"].user_verification = UserVerificationRequirement.REQUIRED
        return kwargs

    def get_generate_authentication_options_kwargs(
        self, *, user: Any = None, require_user_verification: bool
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_generate_authentication_options_kwargs(
            user=user, require_user_verification=True
        )
        kwargs["challenge"] = secrets.token_bytes(_RANDOM_BYTES) + self.binding
        kwargs["timeout"] = settings.CARDREVEAL_PASSKEY_CHALLENGE_SECONDS * 1000
        return kwargs


def binding_digest(*parts: bytes | str) -> bytes:
    """A SHA-256 over `parts`, each length-prefixed so no two lists of parts give the same input."""
    digest = hashlib.sha256(b"cardreveal.passkey-binding.v1")
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(4, "big"))
        digest.update(data)
    return digest.digest()


# ---------------------------------------------------------------------------------- challenges

# The admin's one-step sign-in asks for any passkey before it knows whose (the form then checks
# the password and the passkey together): its challenges are bound to this.
ADMIN_SIGN_IN_BINDING = binding_digest("sign_in", "admin")


def passkey_request_options(
    *,
    user: User | None,
    purpose: str,
    binding: bytes = b"",
    request: HttpRequest | None = None,
) -> dict[str, Any]:
    """Make and store a challenge for `user` (None: a passwordless sign-in) and return the
    WebAuthn request options (PublicKeyCredentialRequestOptions as JSON) for the browser or app.

    The options list the user's passkeys, ask for user verification, and expire with the
    challenge; `binding` (a digest, `binding_digest`) is appended to the random challenge.
    """
    helper = PasskeyHelper(request, binding=binding)
    options, state = helper.authenticate_begin(user=user, require_user_verification=True)
    now = timezone.now()
    with transaction.atomic():
        if user is not None:
            _drop_old_challenges(user=user, now=now)
        else:  # nobody's yet (a passwordless or admin sign-in): drop the ones nobody answered
            PasskeyChallenge.objects.filter(user=None, expires_at__lt=now).delete()
        PasskeyChallenge.objects.create(
            user=user,
            purpose=purpose,
            challenge=state["challenge"],
            binding=binding.hex(),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.CARDREVEAL_PASSKEY_CHALLENGE_SECONDS),
        )
    return dict(options)


def _drop_old_challenges(*, user: User, now: datetime) -> None:
    """Delete this user's expired challenges, and the oldest beyond the last few open ones."""
    mine = PasskeyChallenge.objects.filter(user=user)
    mine.filter(expires_at__lt=now - timedelta(hours=1)).delete()
    keep = list(
        mine.order_by("-created_at").values_list("pk", flat=True)[: _MAX_OPEN_CHALLENGES - 1]
    )
    mine.exclude(pk__in=keep).delete()


# ---------------------------------------------------------------------------------- checks


def has_passkey(*, user: User) -> bool:
    """True when the user has at least one confirmed passkey."""
    return bool(WebAuthnCredential.objects.filter(user=user, confirmed=True).exists())


def verify_passkey(
    *,
    user: User | None,
    assertion: Mapping[str, Any] | str | None,
    purpose: str,
    binding: bytes = b"",
    context: str,
    client: ClientInfo | None,
    request: HttpRequest | None = None,
) -> tuple[User | None, PasskeyCheck]:
    """Check a passkey assertion against a stored challenge of `purpose` and `binding`, spending
    the challenge, inside the caller's transaction (no savepoint: commit what you write about it
    with it, as `otp._verify` does for codes).

    `user` None (passwordless sign-in): the passkey names its owner. Returns (the user it was
    checked for, the check); never raises for a bad assertion. A refusal counts towards the
    lockout (except when nothing was checked) and sends `otp_failed` with its reason.
    """
    if assertion is None or assertion == "" or assertion == {}:
        if user is not None:
            _announce(user=user, failure=PasskeyFailure.MISSING, context=context, client=client)
        return user, PasskeyCheck(None, PasskeyFailure.MISSING)
    try:
        credential = parse_authentication_credential_json(
            assertion if isinstance(assertion, str) else dict(assertion)
        )
        client_data = parse_client_data_json(credential.response.client_data_json)
        auth_data = parse_authenticator_data(credential.response.authenticator_data)
    except (WebAuthnException, ValueError, TypeError, KeyError):
        if user is not None:
            _announce(user=user, failure=PasskeyFailure.MALFORMED, context=context, client=client)
        return user, PasskeyCheck(None, PasskeyFailure.MALFORMED)
    device = WebAuthnCredential.objects.filter(
        credential_id_sha256=WebAuthnCredential.get_credential_id_sha256(credential.raw_id)
    ).first()
    if user is None:
        if device is None or not device.confirmed:
            return None, PasskeyCheck(None, PasskeyFailure.UNKNOWN_CREDENTIAL)
        user = device.user
    with transaction.atomic(savepoint=False):
        security = lockout.security_for_update(user=user)
        if security.lock_active(now=timezone.now()):
            result = PasskeyCheck(None, PasskeyFailure.LOCKED, security.locked_until)
        else:
            result = _check(
                user=user,
                credential_json=assertion,
                client_data=client_data,
                auth_data=auth_data,
                device=device,
                purpose=purpose,
                binding=binding,
                request=request,
            )
        if result.ok:
            lockout.success_record(security=security)
            return user, result
        if result.failure not in _NOT_COUNTED:
            result = replace(
                result,
                locked_until=lockout.failure_record(
                    user=user,
                    security=security,
                    trigger=lockout.FailureTrigger.OTP,
                    client=client,
                ),
            )
        _announce(user=user, failure=result.failure, context=context, client=client)
        return user, result


def _check(
    *,
    user: User,
    credential_json: Mapping[str, Any] | str,
    client_data: Any,
    auth_data: Any,
    device: WebAuthnCredential | None,
    purpose: str,
    binding: bytes,
    request: HttpRequest | None,
) -> PasskeyCheck:
    """The checks in the order that names the reason best; the signature, RP ID hash, user
    presence and verification, origin and counter are all verified again by the library."""
    origin = str(client_data.origin)
    if client_data.type != ClientDataType.WEBAUTHN_GET:
        return PasskeyCheck(None, PasskeyFailure.MALFORMED, origin=origin)
    if not has_passkey(user=user):
        return PasskeyCheck(None, PasskeyFailure.NO_DEVICE, origin=origin)
    challenge_text = bytes_to_base64url(client_data.challenge)
    stored = (
        PasskeyChallenge.objects.select_for_update()
        .filter(challenge=challenge_text, purpose=purpose)
        .first()
    )
    now = timezone.now()
    if stored is None or (stored.user_id is not None and stored.user_id != user.pk):
        return PasskeyCheck(None, PasskeyFailure.UNKNOWN_CHALLENGE, origin=origin)
    if stored.used_at is not None:
        return PasskeyCheck(None, PasskeyFailure.REPLAYED, origin=origin)
    # Presented once: spent, whatever follows (a failed answer cannot be retried either).
    stored.used_at = now
    stored.save(update_fields=["used_at"])
    if now >= stored.expires_at:
        return PasskeyCheck(None, PasskeyFailure.EXPIRED, origin=origin)
    expected = binding.hex()
    if not (
        secrets.compare_digest(stored.binding, expected)
        and secrets.compare_digest(client_data.challenge[_RANDOM_BYTES:], binding)
    ):
        return PasskeyCheck(None, PasskeyFailure.WRONG_BINDING, origin=origin)
    if origin not in allowed_origins():
        return PasskeyCheck(None, PasskeyFailure.WRONG_ORIGIN, origin=origin)
    if device is None or device.user_id != user.pk or not device.confirmed:
        return PasskeyCheck(None, PasskeyFailure.UNKNOWN_CREDENTIAL, origin=origin)
    if not auth_data.flags.uv:
        return PasskeyCheck(None, PasskeyFailure.NOT_VERIFIED, origin=origin)
    if (auth_data.sign_count or device.sign_count) and auth_data.sign_count <= device.sign_count:
        return PasskeyCheck(None, PasskeyFailure.COUNTER, origin=origin)
    helper = PasskeyHelper(request)
    state = {"challenge": stored.challenge, "require_user_verification": True}
    try:
        checked = helper.authenticate_complete(
            user=user,
            state=state,
            data=credential_json if isinstance(credential_json, str) else dict(credential_json),
        )
    except (WebAuthnException, ValueError, TypeError, KeyError):
        return PasskeyCheck(None, PasskeyFailure.INVALID, origin=origin)
    except OTPWebAuthnApiError:  # the library's own "not found" / "not yours"
        return PasskeyCheck(None, PasskeyFailure.UNKNOWN_CREDENTIAL, origin=origin)
    return PasskeyCheck(checked, None, origin=origin)


def allowed_origins() -> list[str]:
    """The origins assertions may name: CARDREVEAL_PASSKEY_ORIGINS (the site's, and any Android
    app origins listed there), and the `android:apk-key-hash:` origin of each app in
    CARDREVEAL_ANDROID_APPS (Credential Manager names the app by its signing certificate)."""
    origins = list(settings.OTP_WEBAUTHN_ALLOWED_ORIGINS)
    for app in settings.CARDREVEAL_ANDROID_APPS:
        _package, _, fingerprint = app.partition(":")
        try:
            digest = bytes.fromhex(fingerprint.replace(":", ""))
        except ValueError:
            continue  # reported by the system check
        origin = "android:apk-key-hash:" + bytes_to_base64url(digest)
        if origin not in origins:
            origins.append(origin)
    return origins


def android_asset_links() -> list[dict[str, Any]]:
    """/.well-known/assetlinks.json: each app in CARDREVEAL_ANDROID_APPS may use the site's
    passkeys and links (Digital Asset Links)."""
    links = []
    for app in settings.CARDREVEAL_ANDROID_APPS:
        package, _, fingerprint = app.partition(":")
        links.append(
            {
                "relation": [
                    "delegate_permission/common.handle_all_urls",
                    "delegate_permission/common.get_login_creds",
                ],
                "target": {
                    "namespace": "android_app",
                    "package_name": package,
                    "sha256_cert_fingerprints": [fingerprint],
                },
            }
        )
    return links


def apple_app_site_association() -> dict[str, Any]:
    """/.well-known/apple-app-site-association: the iOS apps (CARDREVEAL_IOS_APPS) whose
    associated domains name this site may use its passkeys (`webcredentials`)."""
    return {"webcredentials": {"apps": list(settings.CARDREVEAL_IOS_APPS)}}


def _announce(
    *, user: User, failure: PasskeyFailure | None, context: str, client: ClientInfo | None
) -> None:
    reason = (failure or PasskeyFailure.INVALID).value
    otp_failed.send(
        sender=AccountSecurity, user=user, reason=reason, context=context, client=client
    )


# ---------------------------------------------------------------------------------- enrolment


class PasskeyEnrolError(ValueError):
    """A passkey could not be added; the message says why in the cardholder's words."""


def passkey_register_begin(*, user: User, request: HttpRequest | None = None) -> dict[str, Any]:
    """Start adding a passkey: the creation options for the browser or app (user verification
    required), with their challenge stored like an assertion's (single use, 2 minutes), so the
    answer may come back to any worker, from a browser session or the API."""
    helper = PasskeyHelper(request)
    options, state = helper.register_begin(user=user)
    now = timezone.now()
    with transaction.atomic():
        _drop_old_challenges(user=user, now=now)
        PasskeyChallenge.objects.create(
            user=user,
            purpose=PasskeyChallenge.Purpose.REGISTER,
            challenge=state["challenge"],
            created_at=now,
            expires_at=now + timedelta(seconds=settings.CARDREVEAL_PASSKEY_CHALLENGE_SECONDS),
        )
    return dict(options)


def passkey_register_complete(
    *,
    user: User,
    credential: Mapping[str, Any],
    name: str,
    request: HttpRequest | None = None,
) -> WebAuthnCredential:
    """Finish adding a passkey named `name`: verify the answer to the user's registration
    challenge (spent here; origin, RP ID, user verification), save the device confirmed, start
    the reveal cool-off and email the owner (`cooloff.authenticator_added_record`); the new
    device is audited by the device receivers. Raises PasskeyEnrolError."""
    name = " ".join(str(name or "").split())[:MAX_NAME_LENGTH]
    if not name:
        raise PasskeyEnrolError("Give the passkey a name, such as the phone or laptop it is on.")
    client_data = _client_data(credential)
    if client_data is None:
        raise PasskeyEnrolError("The passkey answer could not be read. Press Add a passkey again.")
    try:
        with transaction.atomic():
            stored = (
                PasskeyChallenge.objects.select_for_update()
                .filter(
                    user=user,
                    purpose=PasskeyChallenge.Purpose.REGISTER,
                    challenge=bytes_to_base64url(client_data.challenge),
                    used_at__isnull=True,
                )
                .first()
            )
            now = timezone.now()
            if stored is None or now >= stored.expires_at:
                raise PasskeyEnrolError(
                    "The passkey set-up ran out of time or was already used. "
                    "Press Add a passkey again."
                )
            stored.used_at = now
            stored.save(update_fields=["used_at"])
            if str(client_data.origin) not in allowed_origins():
                raise PasskeyEnrolError(
                    "The passkey was made for a different website than ours, so it was not "
                    "added. Type our address yourself and add it there."
                )
            helper = PasskeyHelper(request, device_name=name)
            state = {"challenge": stored.challenge, "require_user_verification": True}
            device = helper.register_complete(user=user, state=state, data=dict(credential))
            authenticator_added_record(user=user, device=device, by=None, kind="passkey")
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, PasskeyEnrolError):
            raise
        raise PasskeyEnrolError(
            "Your device's answer could not be verified, so no passkey was added. "
            "Try again, and unlock the passkey with your fingerprint, face or PIN."
        ) from None
    except IntegrityError:  # the same passkey twice (its credential id is unique)
        raise PasskeyEnrolError("That passkey is already registered to an account.") from None
    return device


def _client_data(credential: Mapping[str, Any]) -> Any:
    """The parsed clientDataJSON of a credential in JSON form, or None when unreadable."""
    response = credential.get("response") if isinstance(credential, Mapping) else None
    raw = response.get("clientDataJSON") if isinstance(response, Mapping) else None
    if not isinstance(raw, str):
        return None
    try:
        return parse_client_data_json(base64url_to_bytes(raw))
    except (WebAuthnException, ValueError, TypeError):
        return None


def passkeys_for_user(*, user: User) -> list[WebAuthnCredential]:
    """The user's passkeys, most recently used first."""
    return list(
        WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by(
            "-last_used_at", "-created_at"
        )
    )


def passkey_rename(*, user: User, device_id: int, name: str) -> bool:
    """Rename one of the user's passkeys; False when there is no such passkey."""
    name = " ".join(str(name or "").split())[:MAX_NAME_LENGTH]
    if not name:
        return False
    return bool(WebAuthnCredential.objects.filter(user=user, pk=device_id).update(name=name))


def passkey_remove(*, user: User, device_id: int) -> str | None:
    """Remove one of the user's passkeys (audited by the device receivers) and email the owner.
    Returns its name, or None when there was no such passkey."""
    with transaction.atomic():
        device = WebAuthnCredential.objects.filter(user=user, pk=device_id).first()
        if device is None:
            return None
        name = str(device.name)
        device.delete()  # audited as a removed device (cardreveal.audit.receivers)
    _removed_email(user=user, name=name)
    return name


def _removed_email(*, user: User, name: str) -> None:
    from functools import partial

    from django.core.mail import send_mail

    address = str(getattr(user, "email", "") or "")
    if not address:
        return
    body = (
        f"Hello {user.get_username()},\n\n"
        f'The passkey "{name}" was removed from your cardreveal account at '
        f"{lockout.utc_clock(timezone.now())}.\n\n"
        "If this wasn't you, contact your bank now: someone may have access to your account.\n"
    )
    transaction.on_commit(
        partial(
            send_mail,
            "A passkey was removed from your cardreveal account",
            body,
            None,
            [address],
            fail_silently=False,
        ),
        robust=True,
    )


def origin_host(origin: str) -> str:
    """The host of a web origin ("https://cards.example:8443" -> "cards.example"), else ""."""
    parts = urlsplit(origin)
    return parts.hostname or "" if parts.scheme in ("http", "https") else ""
