"""The cards app acts on other apps' signals: a reveal disowned from its receipt stops that card's
reveals, marks it reported, and says whether (and how) the card will be locked at its provider."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cardreveal.audit.models import RevealEvent
from cardreveal.audit.signals import BankLock, DisownedCard, reveal_disowned
from cardreveal.cards.models import Card


def disown(user, card) -> DisownedCard:
    (answer,) = [
        answer
        for _, answer in reveal_disowned.send(
            sender=RevealEvent, user=user, card_id=card.pk, event=None
        )
    ]
    assert isinstance(answer, DisownedCard)
    return answer


def test_a_disowned_reveal_stops_that_cards_reveals_and_no_others(alice, make_card):
    card, other = make_card(alice.user, label="Everyday"), make_card(alice.user, label="Other")
    answer = disown(alice.user, card)
    assert answer.frozen == 1
    card.refresh_from_db()
    other.refresh_from_db()
    assert (card.reveal_enabled, other.reveal_enabled) == (False, True)
    assert card.reported_not_me_at is not None
    assert other.reported_not_me_at is None


def test_a_card_that_is_not_the_holders_is_left_alone(alice, bob, make_card):
    bobs_card = make_card(bob.user)
    answer = disown(alice.user, bobs_card)
    assert (answer.frozen, answer.lock_at_bank) == (0, None)
    bobs_card.refresh_from_db()
    assert bobs_card.reveal_enabled
    assert bobs_card.reported_not_me_at is None


def test_no_lock_is_offered_where_the_binding_is_not_set_to_lock(alice, make_card):
    card = make_card(alice.user, kind="thredd", reference={"public_token": "103169946"})
    answer = disown(alice.user, card)
    assert (answer.bank_lock, answer.lock_at_bank) == (BankLock.OFF, None)


def test_no_lock_is_offered_where_the_provider_cannot_lock(alice, make_card, make_binding):
    binding = make_binding("mastercard")
    binding.lock_card_on_disown = True  # as if set before the provider lost the capability
    binding.save()
    answer = disown(alice.user, make_card(alice.user, binding=binding))
    assert (answer.bank_lock, answer.lock_at_bank) == (BankLock.UNSUPPORTED, None)


def test_a_lock_is_handed_over_and_not_made_inside_the_transaction(
    alice, make_card, make_binding, provider_calls
):
    binding = make_binding("thredd")
    binding.lock_card_on_disown = True
    binding.save()
    card = make_card(alice.user, binding=binding, reference={"public_token": "103169946"})
    thredd = provider_calls("thredd")
    answer = disown(alice.user, card)
    assert answer.bank_lock == BankLock.ASKED
    assert callable(answer.lock_at_bank)
    assert thredd.count == 0  # nothing is called while the report's transaction is open


def test_a_card_locked_by_an_earlier_report_is_not_locked_again(alice, make_card, make_binding):
    binding = make_binding("netxd")
    binding.lock_card_on_disown = True
    binding.save()
    card = make_card(
        alice.user,
        binding=binding,
        reference={"customer_id": "c", "account_number": "1", "card_id": "x"},
    )
    Card.objects.filter(pk=card.pk).update(bank_lock=Card.BankLock.LOCKED)
    answer = disown(alice.user, card)
    assert (answer.bank_lock, answer.lock_at_bank) == (BankLock.ALREADY_LOCKED, None)


@pytest.mark.parametrize(
    ("kind", "allowed"),
    [("thredd", True), ("netxd", True), ("mastercard", False), ("juspay", False)],
)
def test_the_lock_option_is_refused_for_providers_that_cannot_lock(make_binding, kind, allowed):
    binding = make_binding(kind)
    binding.lock_card_on_disown = True
    if allowed:
        binding.full_clean()
        return
    with pytest.raises(ValidationError) as info:
        binding.full_clean()
    (message,) = info.value.message_dict["lock_card_on_disown"]
    assert "has no documented way to lock a card" in message
    assert "call the bank" in message
