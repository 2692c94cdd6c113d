"""Admin-side CVV status: read and unblock a card's CVV retrieval where the provider supports it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cardreveal.cards.bindings import card_ref, provider_for_binding
from cardreveal.cards.models import Card
from providers.base import CardRef, SupportsCvvStatus

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class CvvStatusUnsupported(Exception):
    """The card's provider has no CVV status (only Thredd has one today)."""


def _provider_and_ref(card: Card) -> tuple[SupportsCvvStatus, CardRef]:
    provider = provider_for_binding(card.binding)
    if not isinstance(provider, SupportsCvvStatus):
        raise CvvStatusUnsupported(f"{card.binding.kind} has no CVV status")
    return provider, card_ref(card)


def card_cvv_status(*, card: Card) -> str:
    """ "Blocked" or "Unblocked" from the provider. Raises CvvStatusUnsupported or ProviderError."""
    provider, ref = _provider_and_ref(card)
    return provider.cvv_status(card=ref)


def card_cvv_unblock(*, card: Card, admin: User, reason: str) -> None:
    """Unblock the card's CVV at the provider on an admin's request, recording who and why there.

    Raises CvvStatusUnsupported or ProviderError. The caller records the admin action.
    """
    provider, ref = _provider_and_ref(card)
    provider.unblock_cvv(card=ref, description=reason[:800], updated_by=admin.get_username()[:100])
