"""Receivers of other apps' signals, for cards (connected in CardsConfig.ready)."""

from __future__ import annotations

import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from cardreveal.audit.signals import BankLock, DisownedCard
from cardreveal.cards.card_lock import card_lock_at_provider, card_lock_plan
from cardreveal.cards.models import Card

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def freeze_disowned_card(
    sender: object, *, user: User, card_id: uuid.UUID, **kwargs: Any
) -> DisownedCard:
    """`audit.signals.reveal_disowned`: stop reveals of the card the disowned reveal was of
    (`reveal_enabled=False`) and mark it reported, if it is still `user`'s; say whether it will be
    locked at its provider, and hand over the call that does it (made after the report commits).
    Runs inside the sender's transaction; no provider is called here."""
    card = Card.objects.select_related("binding").filter(pk=card_id, owner_id=user.pk).first()
    if card is None:
        return DisownedCard(frozen=0)
    Card.objects.filter(pk=card.pk).update(reveal_enabled=False, reported_not_me_at=timezone.now())
    plan = card_lock_plan(card=card)
    lock = partial(card_lock_at_provider, card_id=card.pk) if plan == BankLock.ASKED else None
    return DisownedCard(frozen=1, bank_lock=plan, lock_at_bank=lock)
