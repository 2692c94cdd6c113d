"""The receipt's "This wasn't me" link: signed, single-use; stops the card's reveals, signs out everywhere."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction

from cardreveal.accounts.sessions import user_sessions_end
from cardreveal.audit.models import AuthEvent, RevealEvent, UsedLink
from cardreveal.audit.services import auth_event_record
from cardreveal.audit.signals import BankLock, BankLockAnswer, DisownedCard, reveal_disowned
from cardreveal.client_info import ClientInfo, device_name

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

SALT = "cardreveal.audit.disown-reveal"
PURPOSE = "disown_reveal"


class DisownRefused(Exception):
    """The link cannot be used: a stable `code`, a message for the page, an HTTP status."""

    def __init__(self, code: str, message: str, status_code: int, user: User | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.status_code = status_code
        self.user = user


def _invalid(user: User | None = None) -> DisownRefused:
    return DisownRefused(
        "link_invalid",
        "This link is not valid. Copy the whole link from the email, or contact your bank.",
        400,
        user,
    )


def _expired(user: User | None = None) -> DisownRefused:
    return DisownRefused(
        "link_expired",
        "This link has expired. If you did not ask to see a security code, contact your bank now.",
        410,
        user,
    )


def _used(user: User | None = None) -> DisownRefused:
    return DisownRefused(
        "link_used",
        "This link has already been used: showing this card's security code was turned off and "
        "you were signed out everywhere.",
        410,
        user,
    )


@dataclass(frozen=True)
class DisownClaim:
    """What a valid link names: its own id, the reveal event, the cardholder and the card."""

    link_id: str
    event_id: int
    user_id: int
    card_id: uuid.UUID


@dataclass(frozen=True)
class DisownPreview:
    """What the confirmation page shows about the reveal the link is for."""

    card_label: str
    when: datetime
    client_ip: str | None
    user_agent: str

    @property
    def device(self) -> str:
        """The browser or app in words a person recognises (never the raw user agent)."""
        return device_name(self.user_agent) if self.user_agent else ""


@dataclass(frozen=True)
class DisownResult:
    """What the link did: reveals of the card stopped (`cards_frozen`), sessions and API tokens
    ended, whether the card was locked at its provider (`bank_lock`: OFF, UNSUPPORTED,
    ALREADY_LOCKED, LOCKED or FAILED, with the error's code), and whether the cardholder's
    confirmation email was handed to the mail backend."""

    user_id: int
    card_label: str
    cards_frozen: int
    sessions_ended: int
    tokens_revoked: int
    bank_lock: BankLock = BankLock.OFF
    bank_lock_error: str = ""
    confirmation_sent: bool = False

    @property
    def card_blocked(self) -> bool:
        """True when the card is locked at its provider (now or by an earlier report)."""
        return self.bank_lock in (BankLock.LOCKED, BankLock.ALREADY_LOCKED)


# The reason of the report's audit record says what it did to the card, for the activity page.
_REPORT_REASONS = {
    BankLock.OFF: "reveals_stopped",
    BankLock.UNSUPPORTED: "reveals_stopped",
    BankLock.ASKED: "reveals_stopped_lock_asked",
    BankLock.ALREADY_LOCKED: "reveals_stopped_locked_before",
}


def disown_token_make(*, event: RevealEvent) -> str:
    """A signed token for `event` (a successful reveal): URL-safe, single-use, expiring after
    CARDREVEAL_RECEIPT_LINK_MAX_AGE seconds. It holds ids only, nothing secret."""
    payload = {
        "j": secrets.token_hex(16),
        "e": event.pk,
        "u": event.user_id,
        "c": str(event.card_id),
    }
    return signing.dumps(payload, salt=SALT, compress=False)


def _user(user_id: int) -> User | None:
    return get_user_model()._default_manager.filter(pk=user_id).first()


def disown_claim_read(*, token: str) -> DisownClaim:
    """Check the signature, age and shape of `token`. Raises DisownRefused (invalid or expired)."""
    max_age = settings.CARDREVEAL_RECEIPT_LINK_MAX_AGE
    try:
        payload = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        # Genuine but too old: name the user in the audit record of the refusal.
        stale = signing.loads(token, salt=SALT)
        stale_user = stale.get("u") if isinstance(stale, dict) else None
        raise _expired(_user(stale_user) if isinstance(stale_user, int) else None) from None
    except signing.BadSignature:
        raise _invalid() from None
    try:
        return DisownClaim(
            link_id=str(payload["j"]),
            event_id=int(payload["e"]),
            user_id=int(payload["u"]),
            card_id=uuid.UUID(str(payload["c"])),
        )
    except (KeyError, TypeError, ValueError):
        raise _invalid() from None


def _claimed_event(claim: DisownClaim) -> RevealEvent | None:
    event: RevealEvent | None = RevealEvent.objects.filter(
        pk=claim.event_id, user_id=claim.user_id, outcome=RevealEvent.Outcome.REVEALED
    ).first()
    if event is None or event.card_id is None or event.card_id != claim.card_id:
        return None
    return event


def disown_preview(*, token: str) -> DisownPreview:
    """What the link is about, for the confirmation page; changes nothing.

    Raises DisownRefused when the link is invalid, expired, already used, or names a reveal that
    is not its holder's.
    """
    claim = disown_claim_read(token=token)
    event = _claimed_event(claim)
    if event is None:
        raise _invalid()
    if UsedLink.objects.filter(link_id=claim.link_id).exists():
        raise _used()
    return DisownPreview(
        card_label=event.card_label,
        when=event.created_at,
        client_ip=event.client_ip,
        user_agent=event.user_agent,
    )


def user_api_tokens_revoke(*, user: User) -> int:
    """Delete every API token of `user` (django-rest-knox, when installed); return how many."""
    if not apps.is_installed("knox"):
        return 0
    model = apps.get_model(getattr(settings, "KNOX_TOKEN_MODEL", "knox.AuthToken"))
    _, per_model = model._default_manager.filter(user=user).delete()
    return int(per_model.get(model._meta.label, 0))


def reveal_disown(*, token: str, client: ClientInfo) -> DisownResult:
    """Act on a "This wasn't me" link: stop the card's reveals (the cards app does, on
    `reveal_disowned`), end all the holder's sessions and API tokens, mark the link used, and
    audit it, all in one transaction. Then, once that has committed: lock the card at its
    provider where its binding is set to (audited; a failure there undoes nothing), email the
    cardholder a confirmation and the bank's fraud staff an alert (a mail failure is logged).

    Raises DisownRefused (invalid, expired, already used); a refusal is audited too.
    """
    from cardreveal.audit.notifications import disown_alert_send, disown_confirmation_send

    try:
        result, reported = _disown(token=token, client=client)
    except DisownRefused as refused:
        auth_event_record(
            event=AuthEvent.Event.REVEAL_DISOWNED,
            outcome=AuthEvent.Outcome.FAILURE,
            user=refused.user,
            reason=refused.code,
            client=client,
            resource="receipt_link",
        )
        raise
    user, event, lock_at_bank = reported
    if lock_at_bank is not None:
        answer = _lock_at_bank(lock_at_bank, user=user, event=event, client=client)
        result = replace(result, bank_lock=answer.outcome, bank_lock_error=answer.error_code)
    sent = False
    try:
        sent = disown_confirmation_send(user=user, event=event, result=result)
        disown_alert_send(user=user, event=event, result=result, client=client)
    except Exception:  # the report has committed: an email fault must not hide what it did
        logger.exception("a 'This wasn't me' email could not be built")
    return replace(result, confirmation_sent=sent)


def _lock_at_bank(
    lock: Callable[[], BankLockAnswer], *, user: User, event: RevealEvent, client: ClientInfo
) -> BankLockAnswer:
    """Make the provider call the cards app handed over, and audit how it went. The report
    stands whatever happens here: an unexpected error is logged and answers FAILED."""
    try:
        answer = lock()
    except Exception:  # a bug must not turn a committed report into an error page
        logger.exception("locking a reported card at its provider failed unexpectedly")
        answer = BankLockAnswer(BankLock.FAILED, "internal_error")
    locked = answer.outcome == BankLock.LOCKED
    auth_event_record(
        event=AuthEvent.Event.CARD_LOCKED,
        outcome=AuthEvent.Outcome.SUCCESS if locked else AuthEvent.Outcome.FAILURE,
        user=user,
        reason="locked" if locked else (answer.error_code or "lock_failed"),
        client=client,
        resource=f"card:{event.card_id}",
        detail=f"after report of reveal seq {event.seq}",
    )
    return answer


def _disown(
    *, token: str, client: ClientInfo
) -> tuple[DisownResult, tuple[User, RevealEvent, Callable[[], BankLockAnswer] | None]]:
    claim = disown_claim_read(token=token)
    with transaction.atomic():
        user = _user(claim.user_id)
        event = _claimed_event(claim)
        if user is None or event is None or event.card_id is None:
            raise _invalid(user)
        try:
            with transaction.atomic():
                UsedLink.objects.create(link_id=claim.link_id, purpose=PURPOSE)
        except IntegrityError:
            raise _used(user) from None
        # The cards app stops the card's reveals and says whether it will lock it at the bank.
        answers: Sequence[tuple[object, object]] = reveal_disowned.send(
            sender=RevealEvent, user=user, card_id=event.card_id, event=event
        )
        cards = [answer for _, answer in answers if isinstance(answer, DisownedCard)]
        frozen = sum(card.frozen for card in cards)
        acted = next((card for card in cards if card.frozen), None)
        bank_lock = acted.bank_lock if acted is not None else BankLock.OFF
        lock_at_bank = acted.lock_at_bank if acted is not None else None
        sessions = user_sessions_end(user=user)
        tokens = user_api_tokens_revoke(user=user)
        # Written before any provider is asked to lock the card: the evidence comes first.
        auth_event_record(
            event=AuthEvent.Event.REVEAL_DISOWNED,
            outcome=AuthEvent.Outcome.SUCCESS,
            user=user,
            reason=_REPORT_REASONS.get(bank_lock, "reveals_stopped"),
            client=client,
            resource=f"card:{event.card_id}",
            detail=(
                f"reveal seq {event.seq}; card frozen={frozen}; sessions ended={sessions}; "
                f"api tokens revoked={tokens}; bank lock={bank_lock}"
            ),
        )
    logger.warning(
        "reveal reported as not the cardholder's: user=%s card=%s reveal_seq=%s",
        user.pk,
        event.card_id,
        event.seq,
    )
    result = DisownResult(
        user_id=user.pk,
        card_label=event.card_label,
        cards_frozen=frozen,
        sessions_ended=sessions,
        tokens_revoked=tokens,
        bank_lock=bank_lock,
    )
    return result, (user, event, lock_at_bank)
