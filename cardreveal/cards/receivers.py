"""Receivers of other apps' signals, for cards (connected in CardsConfig.ready)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from cardreveal.cards.models import Card

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def freeze_disowned_card(sender: object, *, user: User, card_id: uuid.UUID, **kwargs: Any) -> int:
    """`audit.signals.reveal_disowned`: freeze the card the disowned reveal was of
    (`reveal_enabled=False`), if it is still `user`'s. Returns how many cards were frozen (0 or 1).
    Runs inside the sender's transaction."""
    frozen: int = Card.objects.filter(pk=card_id, owner_id=user.pk).update(reveal_enabled=False)
    return frozen
