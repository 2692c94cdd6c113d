"""The one reveal service: authorise, verify the step-up code, call the provider, seal, audit.

The web view and the API view are thin adapters over `reveal_cvv`; nothing else calls providers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from cardreveal.accounts.cooloff import cooloff_from
from cardreveal.accounts.lockout import (
    account_security_read,
    lock_end,
    lock_message,
    seconds_until,
)
from cardreveal.accounts.otp import OtpFailure, verify_totp
from cardreveal.audit.models import RevealEvent
from cardreveal.audit.receipts import receipt_draft, receipts_wake
from cardreveal.audit.services import reveal_event_record
from cardreveal.cards.bindings import card_ref, provider_for_binding
from cardreveal.cards.models import Card
from cardreveal.cards.quotas import (
    RevealQuotaExceeded,
    reveal_quota_release,
    reveal_quota_reserve,
)
from cardreveal.cards.sealing import ClientKeyError, parse_client_key, seal
from cardreveal.cards.selectors import card_for_reveal
from cardreveal.client_info import ClientInfo
from providers.errors import ProviderError

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


class RevealError(Exception):
    """A reveal that did not happen: a stable `code`, a user-facing `message`, an HTTP status."""

    def __init__(
        self, code: str, message: str, status_code: int, retry_after: int | None = None
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after


_OTP_MESSAGES = {
    OtpFailure.MISSING: "Enter the 6-digit code from your authenticator app.",
    OtpFailure.MALFORMED: "The code must be the 6 digits shown in your authenticator app.",
    OtpFailure.INVALID: "That code is not correct. Check your authenticator app and try again.",
    OtpFailure.REPLAYED: (
        "That code has already been used. Wait for your authenticator to show a new code."
    ),
    OtpFailure.THROTTLED: "Too many wrong codes. Wait a minute before trying again.",
    OtpFailure.NO_DEVICE: "Set up an authenticator app before revealing a security code.",
    OtpFailure.LOCKED: "Too many failed attempts: this account is locked for now.",
}
_OTP_STATUS = {OtpFailure.THROTTLED: 429, OtpFailure.NO_DEVICE: 403, OtpFailure.LOCKED: 423}

CARD_NOT_FOUND_MESSAGE = "Card not found."


@dataclass(frozen=True)
class RevealResult:
    """A successful reveal: the CVV sealed to the client key, and how long to show it."""

    card: Card
    scheme: str
    sealed: str
    display_seconds: int


@sensitive_variables("result", "otp_code")
def reveal_cvv(
    *,
    user: User,
    card_id: object,
    otp_code: str | None,
    client_public_key: str | None,
    client: ClientInfo,
) -> RevealResult:
    """Reveal a card's CVV to its owner, sealed to the key they sent.

    Steps: the account must not be locked (checked first), the card must be the user's (else the
    same "not found" as a missing card), reveals not paused for everyone (the global switch), the
    card and its binding enabled, the client key usable,
    no credential-change cool-off in force, a unit of each reveal quota free (taken now, given back
    if the code or the provider fails), and `otp_code` a fresh TOTP code (consumed here; failures
    count towards the lockout); only then is the provider called. Every outcome is audited
    once, never with the CVV; a success also queues a receipt for the owner, emailed after the
    response (`cardreveal.audit.receipts`).
    Raises RevealError with the reason; returns a RevealResult.
    """

    def refuse(
        reason: str,
        message: str,
        status: int,
        *,
        card: Card | None = None,
        outcome: str = RevealEvent.Outcome.REFUSED,
        retry_after: int | None = None,
        latency_ms: int | None = None,
    ) -> RevealError:
        reveal_event_record(
            user=user,
            client=client,
            outcome=outcome,
            reason=reason,
            card=card,
            requested_card_id=str(card_id)[:64],
            provider_kind=card.binding.kind if card else "",
            provider_latency_ms=latency_ms,
        )
        return RevealError(reason, message, status, retry_after)

    # One query: the card, the global switch, and the account's row for the lock and the cool-off
    # (read on its own only when there is no such card of the user's).
    target = card_for_reveal(user=user, card_id=card_id)
    security = account_security_read(user=user) if target is None else target.security
    locked_until = lock_end(security)
    if locked_until is not None:  # a locked account is refused first, whatever the card
        raise refuse(
            "account_locked",
            lock_message(locked_until),
            423,
            retry_after=seconds_until(locked_until),
        )
    if target is None:
        raise refuse("card_not_found", CARD_NOT_FOUND_MESSAGE, 404)
    card = target.card
    if target.reveals_paused:
        raise refuse(
            "reveals_paused",
            "Showing security codes is paused for everyone right now. Try again later.",
            503,
            card=card,
        )
    if not card.reveal_enabled:
        raise refuse(
            "card_disabled",
            "Security code display is turned off for this card. Contact support.",
            403,
            card=card,
        )
    if not card.binding.enabled:
        raise refuse(
            "binding_disabled",
            "Security codes for this card are unavailable right now. Try again later.",
            503,
            card=card,
        )
    try:
        client_key = parse_client_key(client_public_key)
    except ClientKeyError as exc:
        raise refuse("client_key_invalid", str(exc), 400, card=card) from None
    cooloff = cooloff_from(security)
    if cooloff is not None:
        raise refuse(
            "reveal_cooloff", cooloff.message, 403, card=card, retry_after=cooloff.retry_after
        )
    # One unit of each quota is taken before the code is checked, so a full quota keeps the code,
    # and given back if the code or the provider fails: the quotas count successful reveals.
    try:
        quota = reveal_quota_reserve(user=user, card=card)
    except RevealQuotaExceeded as exc:
        raise refuse(exc.code, exc.message, 429, card=card, retry_after=exc.retry_after) from None

    try:
        otp = verify_totp(user=user, code=otp_code, client=client)
    except BaseException:
        reveal_quota_release(quota)
        raise
    if not otp.ok:
        reveal_quota_release(quota)
        if otp.locked_until is not None:
            raise refuse(
                "account_locked",
                lock_message(otp.locked_until),
                423,
                card=card,
                retry_after=seconds_until(otp.locked_until),
            )
        failure = otp.failure or OtpFailure.INVALID
        raise refuse(
            failure.value, _OTP_MESSAGES[failure], _OTP_STATUS.get(failure, 403), card=card
        )

    started = time.monotonic()
    try:
        provider = provider_for_binding(card.binding)
        result = provider.fetch_cvv(card=card_ref(card), client_key=client_key)
    except ProviderError as exc:
        reveal_quota_release(quota)
        latency = int((time.monotonic() - started) * 1000)
        logger.log(
            exc.log_level,
            "reveal failed: card=%s binding=%s reason=%s",
            card.pk,
            card.binding_id,
            exc.code,
        )
        raise refuse(
            exc.code,
            exc.message,
            exc.status_code,
            card=card,
            outcome=RevealEvent.Outcome.FAILED,
            retry_after=exc.retry_after,
            latency_ms=latency,
        ) from None
    except LookupError:
        reveal_quota_release(quota)
        logger.exception("reveal failed: binding %s has an unknown provider", card.binding_id)
        raise refuse(
            "provider_config_error",
            "Security codes for this card are unavailable right now.",
            502,
            card=card,
            outcome=RevealEvent.Outcome.FAILED,
        ) from None
    latency = int((time.monotonic() - started) * 1000)
    scheme, sealed = seal(result, client_key)
    del result
    receipt = receipt_draft(owner=card.owner)
    reveal_event_record(  # the audit record and its receipt, or neither
        user=user,
        client=client,
        outcome=RevealEvent.Outcome.REVEALED,
        reason="ok",
        card=card,
        requested_card_id=str(card.pk),
        provider_kind=card.binding.kind,
        provider_latency_ms=latency,
        receipt=receipt,
    )
    if receipt is not None:
        receipts_wake()  # emailed after the response; never raises; the email has no CVV
    return RevealResult(
        card=card, scheme=scheme, sealed=sealed, display_seconds=settings.CARDREVEAL_REVEAL_SECONDS
    )
