"""`--background-cardholders` (bench/background.py): real-looking rows that pass the admin's rules
and leave the measured cardholders' own rows alone; a sequential scan over a big table is found."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from bench.background import GROWING_TABLES, fill_background, scans_of
from cardreveal.accounts.models import AccountSecurity, ExternalIdentity
from cardreveal.cards.models import Card, reference_key


@pytest.mark.django_db(transaction=True)
def test_background_cardholders_have_their_own_cards_and_the_measured_ones_keep_theirs(
    alice, make_card, make_binding
):
    bindings = [make_binding("mastercard"), make_binding("thredd")]
    make_card(alice.user, binding=bindings[0], reference={"card_contract_id": "70001"})
    make_card(alice.user, binding=bindings[1], reference={"public_token": "103169946"})
    before = list(Card.objects.filter(owner=alice.user).order_by("pk").values())

    fill_background(cardholders=5, bindings=bindings)

    others = get_user_model().objects.exclude(pk=alice.user.pk)
    assert others.count() == 5
    assert not any(user.has_usable_password() for user in others)
    assert ExternalIdentity.objects.filter(user__in=others).count() == 5
    assert AccountSecurity.objects.filter(user__in=others).count() == 5
    assert TOTPDevice.objects.filter(user__in=others, confirmed=True).count() == 5
    cards = list(Card.objects.filter(owner__in=others).select_related("binding"))
    assert len(cards) == 10
    assert {card.binding for card in cards} == set(bindings)
    for card in cards:
        card.full_clean()  # the admin's rules: the reference fits, no other card has it
        assert card.reference_key == reference_key(card.reference)
    assert list(Card.objects.filter(owner=alice.user).order_by("pk").values()) == before


def test_a_sequential_scan_over_a_growing_table_is_found_and_a_small_one_is_not():
    plans = (
        "-- the card list\nSort\n  ->  Seq Scan on cards_card (actual rows=4 loops=1)\n"
        "        ->  Seq Scan on cards_providerbinding (actual rows=4 loops=1)\n"
    )
    assert scans_of(plans, GROWING_TABLES) == ["->  Seq Scan on cards_card (actual rows=4 loops=1)"]
    assert (
        scans_of(
            plans.replace("Seq Scan on cards_card", "Index Scan on cards_card"), GROWING_TABLES
        )
        == []
    )
