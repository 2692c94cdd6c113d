"""The cards app acts on other apps' signals: a reveal disowned from its receipt freezes that card."""

from __future__ import annotations

from cardreveal.audit.models import RevealEvent
from cardreveal.audit.signals import reveal_disowned


def test_a_disowned_reveal_freezes_that_card_and_no_other(alice, make_card):
    card, other = make_card(alice.user, label="Everyday"), make_card(alice.user, label="Other")
    answers = reveal_disowned.send(sender=RevealEvent, user=alice.user, card_id=card.pk, event=None)
    assert [answer for _, answer in answers] == [1]
    card.refresh_from_db()
    other.refresh_from_db()
    assert (card.reveal_enabled, other.reveal_enabled) == (False, True)


def test_a_card_that_is_not_the_holders_is_left_alone(alice, bob, make_card):
    bobs_card = make_card(bob.user)
    answers = reveal_disowned.send(
        sender=RevealEvent, user=alice.user, card_id=bobs_card.pk, event=None
    )
    assert [answer for _, answer in answers] == [0]
    bobs_card.refresh_from_db()
    assert bobs_card.reveal_enabled
