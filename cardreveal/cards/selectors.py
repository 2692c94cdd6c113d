"""Reads of cards and bindings, always scoped to the user who asks."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from cardreveal.cards.models import Card

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def cards_for_user(*, user: User) -> QuerySet[Card]:
    """The user's cards with their bindings, for the card list."""
    return Card.objects.filter(owner=user).select_related("binding")


def card_for_user(*, user: User, card_id: object) -> Card | None:
    """The user's card with this id, or None if it is missing or someone else's (same answer)."""
    try:
        parsed = uuid.UUID(str(card_id))
    except ValueError:
        return None
    card = Card.objects.filter(owner=user, pk=parsed).select_related("binding").first()
    if card is not None:
        card.owner = user  # the filter proved it: no second query when the owner is needed
    return card
