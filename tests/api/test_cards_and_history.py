"""Card list, card detail and reveal history over the API: the cardholder's own, nothing more."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cardreveal.audit.models import RevealEvent
from tests.api.conftest import assert_error, client_with, token_for
from tests.conftest import totp_code

CARD_FIELDS = {
    "id",
    "label",
    "brand",
    "last4",
    "expiry_month",
    "expiry_year",
    "expiry",
    "reveal_available",
    "reveal",
}


def test_card_list_shows_only_the_users_cards(authed, alice, bob, make_card):
    mine = make_card(alice.user, label="Everyday", expiry=(4, 2030))
    make_card(bob.user, label="Bob's")
    response = authed.get("/api/v1/cards")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    results = response.json()["results"]
    assert results == [
        {
            "id": str(mine.pk),
            "label": "Everyday",
            "brand": "mastercard",
            "last4": "0001",
            "expiry_month": 4,
            "expiry_year": 2030,
            "expiry": "04/30",
            "reveal_available": True,
            "reveal": {
                "available": True,
                "code": None,
                "message": None,
                "until": None,
                "blockers": [],
            },
        }
    ]


def test_card_list_never_shows_provider_references_or_bindings(authed, alice, make_card):
    card = make_card(alice.user, reference={"card_contract_id": "70001"})
    text = authed.get("/api/v1/cards").content.decode()
    assert "70001" not in text
    assert card.binding.base_url not in text
    assert card.binding.name not in text


def test_card_list_costs_the_same_queries_for_many_cards_and_never_loads_secrets(
    authed, alice, make_card
):
    def listing() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert authed.get("/api/v1/cards").status_code == 200
        return [q["sql"] for q in queries.captured_queries]

    make_card(alice.user, label="First")
    one = listing()
    for kind in ("thredd", "netxd", "juspay"):
        make_card(alice.user, kind=kind, label=f"Card via {kind}")
    four = listing()
    assert len(four) == len(one)
    assert all('"secrets"' not in sql and '"reference"' not in sql for sql in four)
    assert len(authed.get("/api/v1/cards").json()["results"]) == 4


def test_reveal_available_follows_both_kill_switches(authed, alice, make_card):
    off = make_card(alice.user, label="Card off")
    off.reveal_enabled = False
    off.save()
    binding_off = make_card(alice.user, label="Binding off")
    binding_off.binding.enabled = False
    binding_off.binding.save()
    results = {
        c["label"]: c["reveal_available"] for c in authed.get("/api/v1/cards").json()["results"]
    }
    assert results == {"Card off": False, "Binding off": False}


def test_card_detail(authed, alice, make_card):
    card = make_card(alice.user, label="Travel")
    response = authed.get(f"/api/v1/cards/{card.pk}")
    assert response.status_code == 200
    assert set(response.json()) == CARD_FIELDS
    assert response.json()["label"] == "Travel"


def test_another_users_card_detail_is_the_same_404_as_a_missing_one(authed, bob, make_card):
    bobs = make_card(bob.user)
    theirs = assert_error(authed.get(f"/api/v1/cards/{bobs.pk}"), 404, "card_not_found")
    missing = assert_error(authed.get(f"/api/v1/cards/{uuid.uuid4()}"), 404, "card_not_found")
    assert theirs["message"] == missing["message"]


def test_a_card_id_that_is_not_a_uuid_is_404(authed):
    assert_error(authed.get("/api/v1/cards/not-a-uuid"), 404, "not_found")


@pytest.mark.parametrize("url", ["/api/v1/cards", "/api/v1/reveals", "/api/v1/otp-devices"])
def test_reads_need_a_token(api, db, url):
    assert_error(api.get(url), 401, "not_authenticated")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_card_list_is_read_only(authed, method):
    response = getattr(authed, method)("/api/v1/cards", {}, format="json")
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"


def test_history_lists_the_users_attempts_newest_first(alice, bob, make_card, clock, client_key):
    card = make_card(alice.user, label="Everyday")
    alices = client_with(token_for(alice, clock))
    url = f"/api/v1/cards/{card.pk}/reveal"
    alices.post(
        url,
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
        format="json",
        HTTP_X_REQUEST_ID="req-0000000042",
    )
    alices.post(url, {"otp_code": "000000", "public_key": client_key.public_b64}, format="json")
    bobs = client_with(token_for(bob, clock))
    bobs.post(url, {"otp_code": "000000", "public_key": client_key.public_b64}, format="json")

    response = alices.get("/api/v1/reveals")
    assert response.status_code == 200
    events = response.json()["results"]
    assert [(e["outcome"], e["reason"]) for e in events] == [
        ("refused", "otp_invalid"),
        ("revealed", "ok"),
    ]
    revealed = events[1]
    assert revealed["channel"] == "api"
    assert revealed["card_id"] == str(card.pk)
    assert revealed["card_label"] == "Everyday •••• 0001"
    assert revealed["request_id"] == "req-0000000042"
    assert revealed["client_ip"] == "127.0.0.1"
    # bob's attempt on alice's card is his, not hers
    bobs_events = bobs.get("/api/v1/reveals").json()["results"]
    assert [(e["reason"], e["card_id"]) for e in bobs_events] == [("card_not_found", None)]


def test_history_limit(authed, alice, make_card, client_key):
    card = make_card(alice.user)
    for _ in range(3):
        authed.post(
            f"/api/v1/cards/{card.pk}/reveal",
            {"otp_code": "12", "public_key": client_key.public_b64},
            format="json",
        )
    assert RevealEvent.objects.count() == 3
    assert len(authed.get("/api/v1/reveals?limit=2").json()["results"]) == 2
    assert len(authed.get("/api/v1/reveals").json()["results"]) == 3


@pytest.mark.parametrize("limit", ["0", "101", "ten", "-1"])
def test_history_refuses_a_bad_limit(authed, limit):
    error = assert_error(authed.get(f"/api/v1/reveals?limit={limit}"), 400, "invalid_input")
    assert "limit" in error["fields"]
