"""Reads of cards and bindings, always scoped to the user who asks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from cardreveal.audit.selectors import reveals_paused_expression
from cardreveal.cards.models import Card
from cardreveal.db import unique_or_none

if TYPE_CHECKING:
    from django.contrib.auth.models import User


# What the card lists (page and API) show of a card and its binding. The rest stays unloaded:
# the card's provider reference, and above all the binding's secrets, which would otherwise be
# decrypted once per card on every listing.
LISTED_FIELDS = (
    "label",
    "brand",
    "last4",
    "expiry_month",
    "expiry_year",
    "reveal_enabled",
    "binding__name",
    "binding__enabled",
)


def cards_for_user(*, user: User) -> QuerySet[Card]:
    """The user's cards with what the card list shows of their bindings, in one query."""
    return Card.objects.filter(owner=user).select_related("binding").only(*LISTED_FIELDS)


def _owned_card(cards: QuerySet[Card], *, user: User, card_id: object) -> Card | None:
    """The card with this id among `cards` if `user` owns it, else None (same answer)."""
    try:
        parsed = uuid.UUID(str(card_id))
    except ValueError:
        return None
    card = unique_or_none(cards.filter(owner=user, pk=parsed).select_related("binding"))
    if card is not None:
        card.owner = user  # the filter proved it: no second query when the owner is needed
    return card


def card_for_user(*, user: User, card_id: object) -> Card | None:
    """The user's card with this id, or None if it is missing or someone else's (same answer)."""
    return _owned_card(Card.objects.all(), user=user, card_id=card_id)


@dataclass(frozen=True)
class RevealTarget:
    """A card about to be revealed, and whether reveals are paused for everyone right now."""

    card: Card
    reveals_paused: bool


def card_for_reveal(*, user: User, card_id: object) -> RevealTarget | None:
    """`card_for_user`, with the global reveal switch read by the same query (one round trip)."""
    cards = Card.objects.annotate(reveals_paused=reveals_paused_expression())
    card = _owned_card(cards, user=user, card_id=card_id)
    if card is None:
        return None
    return RevealTarget(card=card, reveals_paused=bool(getattr(card, "reveals_paused")))  # noqa: B009
