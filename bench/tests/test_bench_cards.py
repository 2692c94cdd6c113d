"""The bench's card references and background rows (bench/bench_cards.py): valid for every provider,
never shared on a binding, and known to the bench's sandbox for the measured cardholders."""

from __future__ import annotations

import pytest

from bench.bench_cards import (
    CARDS_PER_BACKGROUND_CARDHOLDER,
    add_measured_cards,
    background_cardholder,
    background_cards,
    background_reference,
    measured_reference,
    template_card,
)
from cardreveal.cards.models import reference_errors, reference_key
from cardreveal.provisioning.services import EXTERNAL_ID, PHONE
from providers.sandbox.server import all_emulators


@pytest.fixture(scope="module")
def emulators(tmp_path_factory):
    return all_emulators(tmp_path_factory.mktemp("sandbox"))


def test_every_generated_reference_fits_its_provider_and_none_repeats_on_a_binding(emulators):
    for emulator in emulators:
        template = template_card(emulator).reference
        references = [measured_reference(template, n) for n in (0, 1, 999)]
        references += [background_reference(template, n) for n in (0, 1, 999, 199_999)]
        for reference in references:
            assert reference_errors(emulator.kind, reference) == [], (emulator.kind, reference)
        assert len({reference_key(r) for r in references}) == len(references)


def test_a_number_too_large_for_nine_digits_is_refused():
    with pytest.raises(ValueError, match="outside"):
        background_reference({"public_token": ""}, 100_000_000)


def test_the_sandbox_answers_each_measured_card_with_the_template_cvv(tmp_path):
    for emulator in all_emulators(tmp_path):
        template = template_card(emulator)
        add_measured_cards(emulator, 3)
        found = emulator.find_card(**measured_reference(template.reference, 2))
        assert found is not None
        assert found.cvv == template.cvv
        assert emulator.find_card(**background_reference(template.reference, 2)) is None


def test_background_cardholders_are_distinct_and_their_cards_spread_over_the_bindings():
    people = [background_cardholder(n) for n in range(1000)]
    for key in ("username", "email", "external_id"):
        assert len({p[key] for p in people}) == 1000
    assert all(EXTERNAL_ID.fullmatch(p["external_id"]) for p in people)
    assert all(PHONE.fullmatch(p["phone"]) for p in people)
    cards = [card for n in range(1000) for card in background_cards(n, 4)]
    assert len(cards) == 1000 * CARDS_PER_BACKGROUND_CARDHOLDER
    assert len({c.number for c in cards}) == len({c.external_id for c in cards}) == 2000
    assert {c.binding for c in cards} == {0, 1, 2, 3}
