"""Reads of cards and bindings, always scoped to the user who asks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cardreveal.accounts.models import AccountSecurity
from cardreveal.cards.models import Card
from cardreveal.cards.reveal_switch import reveals_paused_expression
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
    "binding__issuer_name",
    "binding__enabled",
)


def cards_for_user(*, user: User) -> list[Card]:
    """The user's cards with what the card list shows of their bindings, in one query."""
    cards = list(
        Card.objects.filter(owner_id=user.pk).select_related("binding").only(*LISTED_FIELDS)
    )
    for card in cards:
        card.owner = user  # the filter proved it: no second query when the owner is needed
    return cards


def card_for_user(*, user: User, card_id: uuid.UUID) -> Card | None:
    """The user's card with this id, or None if it is missing or someone else's (same answer)."""
    card = unique_or_none(
        Card.objects.filter(owner_id=user.pk, pk=card_id).select_related("binding")
    )
    if card is not None:
        card.owner = user  # the filter proved it
    return card


@dataclass(frozen=True)
class RevealTarget:
    """A card about to be revealed, whether reveals are paused for everyone right now, and the
    owner's `AccountSecurity` row as it is now (None when none was made yet), unlocked."""

    card: Card
    reveals_paused: bool
    security: AccountSecurity | None


def card_for_reveal(*, user: User, card_id: uuid.UUID) -> RevealTarget | None:
    """`card_for_user`, with the global reveal switch and the owner's lockout and cool-off row
    (what `account_security_read` reads) in the same query: one round trip. None when the card
    is missing or someone else's."""
    card = unique_or_none(
        Card.objects.annotate(reveals_paused=reveals_paused_expression())
        .filter(owner_id=user.pk, pk=card_id)
        # Through the owner: a LEFT JOIN, so a user without a row still finds the card.
        .select_related("binding", "owner__account_security")
    )
    if card is None:
        return None
    try:
        security: AccountSecurity | None = card.owner.account_security
    except AccountSecurity.DoesNotExist:
        security = None
    card.owner = user  # the filter proved it; `user` is the request's own object
    return RevealTarget(
        card=card,
        reveals_paused=bool(getattr(card, "reveals_paused")),  # noqa: B009 (an annotation)
        security=security,
    )
