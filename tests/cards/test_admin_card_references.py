"""A card reference names one card at the provider: the admin refuses a second card with the same
reference on the same binding, and says which card already has it."""

from __future__ import annotations

import json

from cardreveal.cards.models import Card


def card_form(owner, binding, reference, **changes):
    """The card add form as an admin fills it in."""
    return {
        "owner": owner.pk,
        "label": "Second card",
        "brand": "mastercard",
        "last4": "4242",
        "expiry_month": "4",
        "expiry_year": "2030",
        "binding": binding.pk,
        "reference": json.dumps(reference),
        "reveal_enabled": "on",
        **changes,
    }


def test_a_reference_used_by_another_cardholders_card_is_refused_naming_that_card(
    admin_client, alice, bob, make_card
):
    alices = make_card(alice.user, reference={"card_contract_id": "70001"}, label="Alice's debit")
    response = admin_client.post(
        "/admin/cards/card/add/", card_form(bob.user, alices.binding, {"card_contract_id": "70001"})
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert f"This reference is already used on {alices.binding.name} by alice" in body
    assert "Alice&#x27;s debit •••• 0001" in body
    assert not Card.objects.filter(owner=bob.user).exists()


def test_the_same_reference_twice_for_one_cardholder_is_refused_too(admin_client, alice, make_card):
    first = make_card(alice.user, reference={"card_contract_id": "70002"})
    response = admin_client.post(
        "/admin/cards/card/add/",
        card_form(alice.user, first.binding, {"card_contract_id": "70002"}),
    )
    assert "is already used on" in response.content.decode()
    assert Card.objects.filter(owner=alice.user).count() == 1


def test_field_order_does_not_hide_a_duplicate(admin_client, alice, bob, make_card):
    reference = {"customer_id": "NXD-CUST-0001", "account_number": "400000000001", "card_id": "c-1"}
    alices = make_card(alice.user, kind="netxd", reference=reference)
    reordered = dict(reversed(list(reference.items())))
    response = admin_client.post(
        "/admin/cards/card/add/", card_form(bob.user, alices.binding, reordered, brand="visa")
    )
    assert "is already used on" in response.content.decode()
    assert not Card.objects.filter(owner=bob.user).exists()


def test_the_same_reference_on_another_binding_is_accepted(admin_client, alice, bob, make_card):
    make_card(alice.user, reference={"card_contract_id": "70001"})
    other_binding = make_card(bob.user, reference={"card_contract_id": "70003"}).binding
    response = admin_client.post(
        "/admin/cards/card/add/",
        card_form(alice.user, other_binding, {"card_contract_id": "70001"}),
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def test_saving_a_card_unchanged_is_not_a_conflict_with_itself(admin_client, alice, make_card):
    card = make_card(alice.user, reference={"card_contract_id": "70001"})
    response = admin_client.post(
        f"/admin/cards/card/{card.pk}/change/",
        card_form(alice.user, card.binding, card.reference, label="Renamed"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    card.refresh_from_db()
    assert card.label == "Renamed"


def test_a_jusbiz_payout_id_outside_the_documented_format_is_refused_in_words(
    admin_client, bob, make_binding
):
    binding = make_binding("juspay")
    for bad in ("check-123", "Juspay1234567890123456"):  # a hyphen; 22 characters
        response = admin_client.post(
            "/admin/cards/card/add/",
            card_form(bob.user, binding, {"payout_id": bad}, brand="visa"),
        )
        body = response.content.decode()
        assert "Payout ID (payout_id) is not in the expected format." in body
        assert "at most 21 letters, digits or &#x27;_&#x27;" in body
    assert not Card.objects.filter(owner=bob.user).exists()
    response = admin_client.post(
        "/admin/cards/card/add/",
        card_form(bob.user, binding, {"payout_id": "Juspay_12345678901234"}, brand="visa"),
    )
    assert response.status_code == 302
    assert Card.objects.filter(owner=bob.user).count() == 1
