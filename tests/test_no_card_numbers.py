"""T-PAN-1, T-SAD-5 and T-STEP-3 on the web and admin side: no full card number on any page, no
CVV in the messages storage, and a code spent on one card cannot reveal another."""

from __future__ import annotations

import re

from django.contrib.messages import get_messages
from django.test import Client

from tests.conftest import shows, totp_code

# A run of 13-19 digits, optionally grouped by single spaces or dashes, standing on its own.
CANDIDATE = re.compile(r"(?<![0-9A-Za-z])(?:[0-9][ -]?){12,18}[0-9](?![0-9A-Za-z])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_numbers_in(text: str) -> list[str]:
    found = []
    for match in CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(digits)
    return found


def test_the_detector_finds_a_grouped_test_card_number():
    assert card_numbers_in("card 5555 5555 5555 4444 here") == ["5555555555554444"]
    assert card_numbers_in("hash a5555555555554444b") == []
    assert card_numbers_in("4111111111111112") == []  # not Luhn-valid


def test_no_web_or_admin_page_shows_a_full_card_number(
    signed_in, alice, make_card, clock, client_key, admin_client
):
    card = make_card(alice.user)
    signed_in.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
    )
    pages = {
        signed_in: ["/", f"/cards/{card.pk}/", "/activity/"],
        admin_client: [
            "/admin/",
            "/admin/cards/card/",
            f"/admin/cards/card/{card.pk}/change/",
            "/admin/cards/providerbinding/",
            f"/admin/cards/providerbinding/{card.binding.pk}/change/",
            "/admin/audit/revealevent/",
            "/admin/auth/user/",
            f"/admin/auth/user/{alice.user.pk}/change/",
        ],
    }
    for client, urls in pages.items():
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            assert card_numbers_in(response.content.decode()) == [], url


def test_a_reveal_leaves_nothing_in_the_messages_storage(
    signed_in, alice, make_card, clock, client_key, sandbox
):
    card = make_card(alice.user)
    response = signed_in.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
    )
    assert response.status_code == 200
    assert list(get_messages(response.wsgi_request)) == []
    assert "messages" not in signed_in.cookies or not shows(
        "347", signed_in.cookies["messages"].value
    )
    assert not shows("347", signed_in.get("/").content)  # a page that shows queued messages


def test_a_code_spent_on_one_card_cannot_reveal_another(
    signed_in, alice, make_card, clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    first = make_card(alice.user, label="First")
    second = make_card(alice.user, label="Second")
    code = totp_code(alice.device, clock)
    ok = signed_in.post(
        f"/cards/{first.pk}/reveal", {"otp_code": code, "public_key": client_key.public_b64}
    )
    assert ok.status_code == 200
    other = signed_in.post(
        f"/cards/{second.pk}/reveal", {"otp_code": code, "public_key": client_key.public_b64}
    )
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "otp_replayed"
    assert calls.count == 1


def test_another_users_session_cannot_use_my_code(
    alice, bob, make_card, clock, client_key, provider_calls
):
    from tests.conftest import sign_in

    calls = provider_calls("mastercard")
    bobs_card = make_card(bob.user)
    browser = Client()
    sign_in(browser, bob, clock)
    response = browser.post(
        f"/cards/{bobs_card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
    )
    assert response.status_code in (403, 429)
    assert calls.count == 0
