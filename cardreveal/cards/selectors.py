"""Reads of cards and bindings, always scoped to the user who asks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cardreveal.accounts.models import AccountSecurity
from cardreveal.cards.models import Card
from cardreveal.cards.reveal_switch import reveals_paused_expression
from cardreveal.db import CompiledQuery

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


# Every page and API call below runs one of these; each is compiled once (cardreveal/db.py).
_LISTED = CompiledQuery(
    lambda owner_id: (
        Card.objects.filter(owner_id=owner_id).select_related("binding").only(*LISTED_FIELDS)
    ),
    owner_id=1,
)
_OWNED = CompiledQuery(
    lambda owner_id, card_id: (
        Card.objects.filter(owner_id=owner_id, pk=card_id).select_related("binding").order_by()[:1]
    ),
    owner_id=1,
    card_id=uuid.UUID(int=1),
)
# A reveal's first read: the card and its binding, the global switch, and the owner's lockout and
# cool-off row (through the owner: a LEFT JOIN, so a user without a row still finds the card).
_OWNED_FOR_REVEAL: CompiledQuery[Card] = CompiledQuery(
    lambda owner_id, card_id: (
        Card.objects.annotate(reveals_paused=reveals_paused_expression())
        .filter(owner_id=owner_id, pk=card_id)
        .select_related("binding", "owner__account_security")
        .order_by()[:1]
    ),
    owner_id=1,
    card_id=uuid.UUID(int=1),
)


def cards_for_user(*, user: User) -> list[Card]:
    """The user's cards with what the card list shows of their bindings, in one query."""
    cards = _LISTED.all(owner_id=user.pk)
    for card in cards:
        card.owner = user  # the filter proved it: no second query when the owner is needed
    return cards


def _owned_card(
    query: CompiledQuery[Card], *, user: User, card_id: object
) -> tuple[Card, User] | None:
    """The card with this id if `user` owns it, with its owner as the query loaded it (and
    whatever the query read along with it), else None (same answer). The card's owner is then
    `user` itself: the filter proved it, and no second query runs when the owner is needed."""
    try:
        parsed = uuid.UUID(str(card_id))
    except ValueError:
        return None
    card = query.first(owner_id=user.pk, card_id=parsed)
    if card is None:
        return None
    loaded = card.owner if Card.owner.is_cached(card) else user
    card.owner = user
    return card, loaded


def card_for_user(*, user: User, card_id: object) -> Card | None:
    """The user's card with this id, or None if it is missing or someone else's (same answer)."""
    found = _owned_card(_OWNED, user=user, card_id=card_id)
    return found[0] if found else None


@dataclass(frozen=True)
class RevealTarget:
    """A card about to be revealed, whether reveals are paused for everyone right now, and the
    owner's `AccountSecurity` row as it is now (None when none was made yet), unlocked."""

    card: Card
    reveals_paused: bool
    security: AccountSecurity | None


def card_for_reveal(*, user: User, card_id: object) -> RevealTarget | None:
    """`card_for_user`, with the global reveal switch and the owner's lockout and cool-off row
    (what `account_security_read` reads) in the same query: one round trip."""
    found = _owned_card(_OWNED_FOR_REVEAL, user=user, card_id=card_id)
    if found is None:
        return None
    card, loaded_owner = found
    try:
        security: AccountSecurity | None = loaded_owner.account_security
    except AccountSecurity.DoesNotExist:
        security = None
    return RevealTarget(
        card=card,
        reveals_paused=bool(getattr(card, "reveals_paused")),  # noqa: B009
        security=security,
    )
