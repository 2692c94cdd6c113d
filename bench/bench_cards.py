"""The bench's card references and background cardholders: no reference shared on a binding."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from providers.sandbox.core import Emulator, SandboxCard

# Every provider's reference fields accept nine digits (Thredd's public token is exactly nine):
# a measured cardholder's card is 7 and eight digits, a background card 8 and eight digits.
MEASURED_PREFIX = "7"
BACKGROUND_PREFIX = "8"
MAX_NUMBER = 99_999_999
CARDS_PER_BACKGROUND_CARDHOLDER = 2


def _numbered(template: Mapping[str, str], prefix: str, number: int) -> dict[str, str]:
    if not 0 <= number <= MAX_NUMBER:
        raise ValueError(f"card number {number} is outside 0-{MAX_NUMBER}")
    return dict.fromkeys(template, f"{prefix}{number:08d}")


def measured_reference(template: Mapping[str, str], number: int) -> dict[str, str]:
    """The reference of measured cardholder `number`'s card on a binding whose sandbox card has
    the fields of `template` (the sandbox process is told the same card)."""
    return _numbered(template, MEASURED_PREFIX, number)


def template_card(emulator: Emulator) -> SandboxCard:
    """The emulator's first card that answers normally: the model of every measured card."""
    return next(card for card in emulator.cards if card.behaviour == "ok")


def add_measured_cards(emulator: Emulator, count: int) -> None:
    """Teach `emulator` the cards of measured cardholders 0 to `count` - 1 (the template's CVV
    and expiry, each its own reference)."""
    template = template_card(emulator)
    for number in range(count):
        reference = measured_reference(template.reference, number)
        emulator.add_card(dataclasses.replace(template, reference=reference))


def background_reference(template: Mapping[str, str], number: int) -> dict[str, str]:
    """The reference of background card `number` (never revealed, so unknown to the sandbox)."""
    return _numbered(template, BACKGROUND_PREFIX, number)


def background_cardholder(number: int) -> dict[str, str]:
    """Background cardholder `number` (from 0): a name, an email and the bank's id, each distinct."""
    return {
        "username": f"holder{number:07d}",
        "email": f"holder{number}@bank.example",
        "first_name": "Holder",
        "last_name": f"N{number}",
        "external_id": f"C{number:08d}",
        "phone": f"+4477009{number % 100000:05d}",
    }


@dataclasses.dataclass(frozen=True)
class BackgroundCard:
    """One background card: which of the bindings (an index), its number among all background
    cards (its reference), the bank's id for it and what the card list shows."""

    binding: int
    number: int
    external_id: str
    last4: str
    expiry_month: int
    expiry_year: int
    label: str


def background_cards(number: int, binding_count: int) -> list[BackgroundCard]:
    """Background cardholder `number`'s cards; consecutive cards go to consecutive bindings."""
    cards = []
    for index in range(CARDS_PER_BACKGROUND_CARDHOLDER):
        card_number = number * CARDS_PER_BACKGROUND_CARDHOLDER + index
        cards.append(
            BackgroundCard(
                binding=card_number % binding_count,
                number=card_number,
                external_id=f"K{number:08d}-{index}",
                last4=f"{(number * 7 + index) % 10000:04d}",
                expiry_month=1 + (number + index) % 12,
                expiry_year=2030 + index,
                label="Everyday" if index == 0 else "Travel",
            )
        )
    return cards
