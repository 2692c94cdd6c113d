"""The one reveal service: authorise, verify the step-up code, call the provider, seal, audit.

The web view and the API view are thin adapters over `reveal_cvv`; nothing else calls providers.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from cardreveal.accounts.lockout import (
    account_security_read,
    lock_end,
    lock_message,
    seconds_until,
)
from cardreveal.accounts.models import PasskeyChallenge
from cardreveal.accounts.otp import OtpCheck, OtpFailure, throttle_message, verify_totp
from cardreveal.accounts.passkeys import (
    PasskeyCheck,
    PasskeyFailure,
    StepUp,
    binding_digest,
    has_passkey,
    passkey_request_options,
    step_up_policy,
    verify_passkey,
)
from cardreveal.audit.models import ReceiptOutbox, RevealEvent
from cardreveal.audit.receipts import receipt_draft, receipts_wake
from cardreveal.audit.services import (
    reveal_event_complete,
    reveal_event_open,
    reveal_event_record,
)
from cardreveal.cards.availability import standing_blockers
from cardreveal.cards.bindings import binding_failure_note, card_ref, provider_for_binding
from cardreveal.cards.models import Card
from cardreveal.cards.quotas import (
    QUOTAS_UNAVAILABLE_MESSAGE,
    RevealQuotaExceeded,
    RevealQuotaUnavailable,
    reveal_quota_release,
    reveal_quota_reserve,
)
from cardreveal.cards.sealing import ClientKeyError, parse_client_key, seal
from cardreveal.cards.selectors import RevealTarget, card_for_reveal
from cardreveal.client_info import ClientInfo
from cardreveal.errors import ServiceError
from cardreveal.metrics import provider_call_timed, reveal_counted
from cardreveal.outages import OUTAGE_ERRORS, OUTAGE_MESSAGE, OUTAGE_RETRY_AFTER, outage_store
from providers.base import ClientKey, PlainCvv, ProviderSealedCvv
from providers.errors import ProviderError

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


class RevealError(ServiceError):
    """A reveal that did not happen: a ServiceError (stable `code`, user-facing `message`, HTTP
    status), with the `outcome` its audit record says."""

    def __init__(
        self,
        code: str,
        message: str,
        status_code: int,
        retry_after: int | None = None,
        *,
        outcome: str = RevealEvent.Outcome.REFUSED,
    ) -> None:
        super().__init__(code, message, status_code, retry_after)
        self.outcome = outcome


_OTP_MESSAGES = {
    OtpFailure.MISSING: "Enter the 6-digit code from your authenticator app.",
    OtpFailure.MALFORMED: "The code must be the 6 digits shown in your authenticator app.",
    OtpFailure.INVALID: "That code is not correct. Check your authenticator app and try again.",
    OtpFailure.REPLAYED: (
        "That code has already been used. Wait for your authenticator to show a new code."
    ),
    # With its wait, from `throttle_message`; this only if django-otp gave no end.
    OtpFailure.THROTTLED: "Too many wrong attempts in a row: this code was not checked. Wait a few "
    "seconds, then try again.",
    OtpFailure.NO_DEVICE: "Set up an authenticator app before revealing a security code.",
    OtpFailure.LOCKED: "Too many failed attempts: this account is locked for now.",
}
_OTP_STATUS = {OtpFailure.THROTTLED: 429, OtpFailure.NO_DEVICE: 403, OtpFailure.LOCKED: 423}
# A refused passkey assertion answers 403, but these (a lock is answered with its end, above).
_PASSKEY_STATUS = {PasskeyFailure.MALFORMED: 400, PasskeyFailure.LOCKED: 423}

CARD_NOT_FOUND_MESSAGE = "Card not found."
INTERNAL_ERROR_MESSAGE = (
    "Something went wrong on our side and the security code was not shown. "
    "Try again in a minute with a new code from your authenticator app."
)


def _internal_error() -> RevealError:
    return RevealError(
        "internal_error", INTERNAL_ERROR_MESSAGE, 500, outcome=RevealEvent.Outcome.FAILED
    )


def _outage_error() -> RevealError:
    """Redis or the database failed where no step decided what that means: try again soon."""
    return RevealError(
        "temporarily_unavailable",
        OUTAGE_MESSAGE,
        503,
        OUTAGE_RETRY_AFTER,
        outcome=RevealEvent.Outcome.FAILED,
    )


@dataclass(frozen=True)
class RevealResult:
    """A successful reveal: the CVV sealed to the client key, and how long to show it."""

    card: Card
    scheme: str
    sealed: str
    display_seconds: int


class RevealAttempt:
    """The audit record of one reveal attempt, written exactly once (`_audited` sees to it).

    Refused before the code is spent: one record with the refusal. Once the code is accepted the
    record is opened (outcome `pending`) in the code check's transaction, before the provider is
    asked, and completed with the outcome after.
    """

    def __init__(self, *, user: User, client: ClientInfo, card_id: uuid.UUID) -> None:
        self.user = user
        self.client = client
        self.requested_card_id = str(card_id)
        self.card: Card | None = None
        self.opened: RevealEvent | None = None  # the pending record, once committed
        self.finished = False
        self.provider_asked_at: float | None = None
        self.provider_answered_at: float | None = None

    def latency_ms(self) -> int | None:
        """How long the provider took to answer (or has taken so far), or None if never asked."""
        if self.provider_asked_at is None:
            return None
        end = self.provider_answered_at or time.monotonic()
        return int((end - self.provider_asked_at) * 1000)

    def open(self) -> RevealEvent:
        """Write the pending record (in the caller's transaction: commit it before acting)."""
        if self.card is None:
            raise RuntimeError("a reveal record is opened only for a resolved card")
        return reveal_event_open(
            user=self.user,
            client=self.client,
            card=self.card,
            requested_card_id=self.requested_card_id,
            provider_kind=self.card.binding.kind,
        )

    def finish(
        self,
        *,
        outcome: str,
        reason: str,
        receipt: ReceiptOutbox | None = None,
    ) -> None:
        """Write the attempt's outcome, with the provider's latency if it was asked: complete the
        pending record, or write the one record."""
        latency_ms = self.latency_ms()
        if self.opened is not None:
            reveal_event_complete(
                self.opened,
                outcome=outcome,
                reason=reason,
                provider_latency_ms=latency_ms,
                receipt=receipt,
            )
        else:
            reveal_event_record(
                user=self.user,
                client=self.client,
                outcome=outcome,
                reason=reason,
                card=self.card,
                requested_card_id=self.requested_card_id,
                provider_kind=self.card.binding.kind if self.card is not None else "",
                provider_latency_ms=latency_ms,
                receipt=receipt,
            )
        self.finished = True


@contextmanager
def _audited(attempt: RevealAttempt) -> Iterator[RevealAttempt]:
    """The single exit of a reveal: whatever leaves the block, the attempt's record is written.

    A RevealError is recorded with its code. Redis or the database failing (`OUTAGE_ERRORS`) is
    recorded, where the record can still be written, as `temporarily_unavailable` and answered
    503 with Retry-After; any other exception is logged with its traceback, recorded as
    `internal_error` and answered 500. When the record itself cannot be written the answer is the
    same 503 for an outage, else `internal_error` (a record opened before the provider was asked
    stays `pending`: the evidence that it was).
    """
    try:
        yield attempt
    except RevealError as exc:
        _finish_or_fail(attempt, outcome=exc.outcome, reason=exc.code)
        raise
    except OUTAGE_ERRORS as exc:
        logger.warning(
            "reveal failed: %s unavailable (%s): card=%s channel=%s",
            outage_store(exc),
            type(exc).__name__,
            attempt.requested_card_id,
            attempt.client.channel,
        )
        _finish_or_fail(
            attempt, outcome=RevealEvent.Outcome.FAILED, reason="temporarily_unavailable"
        )
        raise _outage_error() from None
    except Exception:
        logger.exception(
            "reveal failed unexpectedly: card=%s channel=%s",
            attempt.requested_card_id,
            attempt.client.channel,
        )
        _finish_or_fail(attempt, outcome=RevealEvent.Outcome.FAILED, reason="internal_error")
        raise _internal_error() from None


def _finish_or_fail(attempt: RevealAttempt, *, outcome: str, reason: str) -> None:
    if attempt.finished:
        return
    try:
        attempt.finish(outcome=outcome, reason=reason)
    except OUTAGE_ERRORS as exc:
        logger.error(
            "reveal attempt not recorded (%s unavailable): card=%s reason=%s",
            outage_store(exc),
            attempt.requested_card_id,
            reason,
        )
        raise _outage_error() from None
    except Exception:
        logger.exception(
            "reveal attempt not recorded: card=%s reason=%s", attempt.requested_card_id, reason
        )
        raise _internal_error() from None


PASSKEY_REQUIRED_MESSAGE = (
    "Your bank asks for a passkey to show security codes on this account: use your passkey. "
    "Codes from the authenticator app are not accepted for this."
)
PASSKEY_NOT_ALLOWED_MESSAGE = (
    "Passkeys are not used to show security codes on this account: enter the code from your "
    "authenticator app."
)


@sensitive_variables("result", "otp_code")
def reveal_cvv(
    *,
    user: User,
    card_id: uuid.UUID,
    otp_code: str | None,
    client_public_key: str | None,
    client: ClientInfo,
    passkey_assertion: Mapping[str, object] | str | None = None,
    request: HttpRequest | None = None,
) -> RevealResult:
    """Reveal a card's CVV to its owner, sealed to the key they sent.

    In order: the account is not locked; the card is the user's (else the same "not found" as a
    missing card); nothing the pages show as standing in the way (`standing_blockers`: the global
    pause, the card or its binding off, a credential-change cool-off); the client key is usable;
    a unit of each reveal quota
    is free (taken now, given back if the reveal then fails); the step-up: `passkey_assertion`
    (a passkey's answer to a challenge from `reveal_passkey_challenge` for this card and key) or
    else `otp_code` (a fresh TOTP code), as the user's step-up policy allows, consumed (failures
    count towards the lockout) in the transaction that opens the audit record,
    committed before the provider is called; the provider answers; the CVV is sealed; the record
    is completed, with a receipt queued for the owner (emailed after the response).

    Every attempt is recorded exactly once, never with the CVV (`_audited`). Raises RevealError
    with the reason; returns a RevealResult.
    """
    attempt = RevealAttempt(user=user, client=client, card_id=card_id)
    try:
        with _audited(attempt):
            target = _reveal_target(user=user, card_id=card_id)
            attempt.card = card = target.card
            _check_blockers(target)
            client_key = _client_key(client_public_key)
            with _quota_taken(user=user, card=card):
                _spend_code(
                    attempt,
                    code=otp_code,
                    assertion=passkey_assertion,
                    binding=reveal_binding(card=card, client_key=client_key),
                    request=request,
                )
                result = _fetch_cvv(attempt, card=card, client_key=client_key)
                scheme, sealed = seal(result, client_key)
                del result
                _finish_revealed(attempt, card=card)
    except RevealError as exc:
        _counted(attempt, outcome=exc.outcome, reason=exc.code)
        raise
    _counted(attempt, outcome=RevealEvent.Outcome.REVEALED, reason="ok")
    return RevealResult(
        card=card, scheme=scheme, sealed=sealed, display_seconds=settings.CARDREVEAL_REVEAL_SECONDS
    )


def _counted(attempt: RevealAttempt, *, outcome: str, reason: str) -> None:
    """The answered attempt in the reveal counter (/metrics), by its provider's kind."""
    card = attempt.card
    reveal_counted(outcome=outcome, reason=reason, provider=card.binding.kind if card else "")


def _reveal_target(*, user: User, card_id: uuid.UUID) -> RevealTarget:
    """The card with the switch and the owner's security row; a locked account is refused
    first, whatever the card."""
    target = card_for_reveal(user=user, card_id=card_id)
    security = account_security_read(user=user) if target is None else target.security
    locked_until = lock_end(security)
    if locked_until is not None:
        raise RevealError(
            "account_locked",
            lock_message(locked_until),
            423,
            retry_after=seconds_until(locked_until),
        )
    if target is None:
        raise RevealError("card_not_found", CARD_NOT_FOUND_MESSAGE, 404)
    return target


def _client_key(client_public_key: str | None) -> ClientKey:
    try:
        return parse_client_key(client_public_key)
    except ClientKeyError as exc:
        raise RevealError("client_key_invalid", str(exc), 400) from None


# The HTTP status of each refusal `standing_blockers` can name.
_BLOCKER_STATUS = {
    "account_locked": 423,
    "reveals_paused": 503,
    "card_disabled": 403,
    "binding_disabled": 503,
    "reveal_cooloff": 403,
}


def _check_blockers(target: RevealTarget) -> None:
    """Refuse with the first of what the card list and reveal page tell the cardholder stands in
    the way (the global pause, the card or binding off, the cool-off), in the same words."""
    blockers = standing_blockers(
        card=target.card, reveals_paused=target.reveals_paused, security=target.security
    )
    if blockers:
        first = blockers[0]
        raise RevealError(
            first.code, first.message, _BLOCKER_STATUS[first.code], retry_after=first.seconds_left
        )


@contextmanager
def _quota_taken(*, user: User, card: Card) -> Iterator[None]:
    """One unit of each quota, taken before the code is checked (a full quota keeps the code) and
    given back if anything in the block fails: the quotas count successful reveals."""
    try:
        quota = reveal_quota_reserve(user=user, card=card)
    except RevealQuotaExceeded as exc:
        raise RevealError(exc.code, exc.message, 429, retry_after=exc.retry_after) from None
    except RevealQuotaUnavailable as exc:  # Redis down: the quotas fail closed
        raise RevealError(
            "quotas_unavailable", QUOTAS_UNAVAILABLE_MESSAGE, 503, retry_after=exc.retry_after
        ) from None
    try:
        yield
    except BaseException:
        reveal_quota_release(quota)
        raise


def _spend_code(
    attempt: RevealAttempt,
    *,
    code: str | None,
    assertion: Mapping[str, object] | str | None = None,
    binding: bytes = b"",
    request: HttpRequest | None = None,
) -> None:
    """Check and consume the step-up (a passkey assertion bound to this card and key, or a TOTP
    code, as the user's policy allows), and write the attempt's record, in one durable
    transaction: accepted, the record is opened (pending) and both are committed before anything
    calls the provider, so no crash can make the code or assertion work twice or leave a provider
    call unrecorded; refused, the refusal is recorded with the failure count."""
    use_passkey = assertion is not None and assertion != ""
    policy = step_up_policy(user=attempt.user)
    if use_passkey and policy is StepUp.TOTP_ONLY:
        raise RevealError("passkey_not_allowed", PASSKEY_NOT_ALLOWED_MESSAGE, 403)
    if not use_passkey and policy is StepUp.PASSKEY_REQUIRED:
        raise RevealError("passkey_required", PASSKEY_REQUIRED_MESSAGE, 403)
    try:
        with transaction.atomic(durable=True):
            refusal: RevealError | None
            if use_passkey:
                _, check = verify_passkey(
                    user=attempt.user,
                    assertion=assertion,
                    purpose=PasskeyChallenge.Purpose.REVEAL,
                    binding=binding,
                    context="reveal",
                    client=attempt.client,
                    request=request,
                )
                refusal = None if check.ok else _passkey_refusal(check)
            else:
                otp = verify_totp(user=attempt.user, code=code, client=attempt.client)
                refusal = None if otp.ok else _code_refusal(otp)
            if refusal is None:
                opened = attempt.open()
            else:
                attempt.finish(outcome=refusal.outcome, reason=refusal.code)
    except BaseException:
        attempt.finished = False  # rolled back: nothing of it was written
        raise
    if refusal is not None:
        raise refusal
    attempt.opened = opened


def reveal_binding(*, card: Card, client_key: ClientKey) -> bytes:
    """What a reveal's passkey challenge is bound to: the card and the SHA-256 of the key (DER
    SubjectPublicKeyInfo) the CVV will be sealed to. An assertion for another card or another
    key does not match."""
    der = client_key.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return binding_digest("reveal", str(card.pk), hashlib.sha256(der).digest())


def _passkey_refusal(check: PasskeyCheck) -> RevealError:
    if check.locked_until is not None:
        return RevealError(
            "account_locked",
            lock_message(check.locked_until),
            423,
            retry_after=seconds_until(check.locked_until),
        )
    failure = check.failure or PasskeyFailure.INVALID
    return RevealError(failure.value, check.message, _PASSKEY_STATUS.get(failure, 403))


def reveal_passkey_challenge(
    *,
    user: User,
    card_id: uuid.UUID,
    client_public_key: str | None,
    request: HttpRequest | None = None,
) -> dict[str, object]:
    """WebAuthn request options for revealing this card's CVV sealed to this key: a challenge
    bound to both (`reveal_binding`), single use, good for 2 minutes.

    Everything that would refuse the reveal before the step-up is checked first and raised as
    the same RevealError (the lock, the card, the standing blockers, the key), and so is a
    policy or account that has no passkey to use, so nobody is asked for a passkey in vain.
    Not a reveal attempt: nothing is audited until the assertion comes back with the reveal.
    """
    target = _reveal_target(user=user, card_id=card_id)
    _check_blockers(target)
    client_key = _client_key(client_public_key)
    if step_up_policy(user=user) is StepUp.TOTP_ONLY:
        raise RevealError("passkey_not_allowed", PASSKEY_NOT_ALLOWED_MESSAGE, 403)
    if not has_passkey(user=user):
        no_device = PasskeyCheck(None, PasskeyFailure.NO_DEVICE).message
        raise RevealError("passkey_no_device", no_device, 403)
    return passkey_request_options(
        user=user,
        purpose=PasskeyChallenge.Purpose.REVEAL,
        binding=reveal_binding(card=target.card, client_key=client_key),
        request=request,
    )


def _code_refusal(otp: OtpCheck) -> RevealError:
    if otp.locked_until is not None:
        return RevealError(
            "account_locked",
            lock_message(otp.locked_until),
            423,
            retry_after=seconds_until(otp.locked_until),
        )
    if otp.failure is OtpFailure.THROTTLED and otp.wait_until is not None:
        return RevealError(
            OtpFailure.THROTTLED.value,
            throttle_message(otp.wait_until),
            429,
            retry_after=seconds_until(otp.wait_until),
        )
    failure = otp.failure or OtpFailure.INVALID
    return RevealError(failure.value, _OTP_MESSAGES[failure], _OTP_STATUS.get(failure, 403))


@sensitive_variables("answer")
def _fetch_cvv(
    attempt: RevealAttempt, *, card: Card, client_key: ClientKey
) -> PlainCvv | ProviderSealedCvv:
    """Ask the card's provider; a provider failure is a RevealError with its safe message."""
    try:
        provider = provider_for_binding(card.binding)
    except LookupError:
        logger.exception("reveal failed: binding %s has an unknown provider", card.binding_id)
        raise RevealError(
            "provider_config_error",
            "Security codes for this card are unavailable right now.",
            502,
            outcome=RevealEvent.Outcome.FAILED,
        ) from None
    except ProviderError as exc:  # the binding's own settings cannot make a provider
        raise _provider_refusal(exc, card=card) from None
    attempt.provider_asked_at = asked = time.monotonic()
    result = "internal_error"
    try:
        answer = provider.fetch_cvv(card=card_ref(card), client_key=client_key)
        result = "ok"
        return answer
    except ProviderError as exc:
        failure = exc
        result = exc.code
    finally:
        attempt.provider_answered_at = answered = time.monotonic()
        provider_call_timed(
            binding=str(card.binding_id),
            provider=card.binding.kind,
            result=result,
            seconds=answered - asked,
        )
    # An answer that did not decrypt or made no sense is a failure on the health panel too.
    binding_failure_note(binding=card.binding, error=failure)
    raise _provider_refusal(failure, card=card) from None


def _provider_refusal(exc: ProviderError, *, card: Card) -> RevealError:
    """A provider's failure as the cardholder's refusal: its safe message, logged by its code."""
    logger.log(
        exc.log_level,
        "reveal failed: card=%s binding=%s reason=%s",
        card.pk,
        card.binding_id,
        exc.code,
    )
    return RevealError(
        exc.code,
        exc.message,
        exc.status_code,
        retry_after=exc.retry_after,
        outcome=RevealEvent.Outcome.FAILED,
    )


def _finish_revealed(attempt: RevealAttempt, *, card: Card) -> None:
    """Complete the record as revealed, with the owner's receipt (both or neither); the receipt
    is emailed after the response."""
    receipt = receipt_draft(owner=card.owner)
    attempt.finish(outcome=RevealEvent.Outcome.REVEALED, reason="ok", receipt=receipt)
    if receipt is not None:
        receipts_wake()  # never raises; the email has no CVV
