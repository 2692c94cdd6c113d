"""Locking a card at its provider after the cardholder reported a reveal of it as not theirs."""

from __future__ import annotations

import logging
import uuid

from django.utils import timezone

from cardreveal.audit.signals import BankLock, BankLockAnswer
from cardreveal.cards.bindings import card_ref, provider_for_binding
from cardreveal.cards.models import Card
from providers.errors import ProviderError
from providers.registry import provider_class

logger = logging.getLogger(__name__)

# What the provider records as the reason, where it keeps one (Thredd's `description`).
LOCK_REASON = "The cardholder reported a reveal of this card's security code as not theirs."


def card_lock_plan(*, card: Card) -> BankLock:
    """Whether reporting `card` will lock it at its provider: OFF (the binding is not set to),
    UNSUPPORTED (the provider cannot), ALREADY_LOCKED (an earlier report did), or ASKED."""
    binding = card.binding
    if not binding.lock_card_on_disown:
        return BankLock.OFF
    try:
        supported = provider_class(binding.kind).supports_card_lock
    except LookupError:
        supported = False
    if not supported:
        return BankLock.UNSUPPORTED
    if card.bank_lock == Card.BankLock.LOCKED:
        return BankLock.ALREADY_LOCKED
    return BankLock.ASKED


def card_lock_at_provider(*, card_id: uuid.UUID) -> BankLockAnswer:
    """Lock the card at its provider and remember the outcome on the card (`bank_lock`).

    Call outside any transaction: it makes one provider call through the binding's door. Never
    raises for a provider failure: it answers FAILED with the error's code (logged at the
    error's level, without any body). Answers FAILED "card_not_found" if the card is gone.
    """
    card = Card.objects.select_related("binding").filter(pk=card_id).first()
    if card is None:
        return BankLockAnswer(BankLock.FAILED, "card_not_found")
    try:
        provider_for_binding(card.binding).lock_card(card=card_ref(card), reason=LOCK_REASON)
    except ProviderError as exc:
        logger.log(
            exc.log_level,
            "card lock at provider failed: card=%s binding=%s code=%s detail=%s",
            card.pk,
            card.binding_id,
            exc.code,
            exc.detail,
        )
        Card.objects.filter(pk=card.pk).update(
            bank_lock=Card.BankLock.FAILED, bank_lock_at=timezone.now()
        )
        return BankLockAnswer(BankLock.FAILED, exc.code)
    Card.objects.filter(pk=card.pk).update(
        bank_lock=Card.BankLock.LOCKED, bank_lock_at=timezone.now()
    )
    logger.warning("card locked at provider after a report: card=%s", card.pk)
    return BankLockAnswer(BankLock.LOCKED)
