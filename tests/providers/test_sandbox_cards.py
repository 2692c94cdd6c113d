"""The sandbox's seeded cards, as the demo shows them: CVVs that do not echo the card number."""

from __future__ import annotations

import pytest

from providers.sandbox.server import all_emulators

SEEDED = [(emulator.kind, card) for emulator in all_emulators() for card in emulator.cards]


@pytest.mark.parametrize(
    ("kind", "card"), SEEDED, ids=[f"{kind}-{card.label}" for kind, card in SEEDED]
)
def test_no_sandbox_cvv_echoes_its_cards_last_four_digits(kind, card):
    assert card.cvv not in card.last4, (kind, card.label, card.cvv, card.last4)
    assert card.last4 not in card.cvv
    assert card.cvv[-3:] != card.last4[-3:]


def test_every_provider_seeds_a_working_card_and_fault_cards():
    # load_demo gives alice and bob one working card each per provider, the rest to tester.
    for emulator in all_emulators():
        behaviours = [card.behaviour for card in emulator.cards]
        assert behaviours.count("ok") >= 2, emulator.kind
        assert len(set(behaviours) - {"ok"}) >= 4, emulator.kind
