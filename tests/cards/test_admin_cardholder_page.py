"""A cardholder's page in the admin (the User change page) shows their cards, authenticators,
backup codes, lock state and recent activity, read-only, and never a TOTP key or backup code."""

from __future__ import annotations

import re
from base64 import b32encode

from django_otp.plugins.otp_static.models import StaticToken

from cardreveal.accounts.otp import replace_backup_codes


def user_page(admin_client, user) -> str:
    response = admin_client.get(f"/admin/auth/user/{user.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def wrong_password(client, holder, times: int = 1) -> None:
    for _ in range(times):
        client.post("/accounts/login/", {"username": holder.user.username, "password": "nope"})


def test_the_page_shows_cards_authenticators_backup_codes_lock_and_activity(
    wall_clock, client, admin_client, alice, make_card
):
    card = make_card(alice.user, label="Everyday")
    replace_backup_codes(user=alice.user)
    wrong_password(client, alice)
    body = user_page(admin_client, alice.user)
    assert f'<a href="/admin/cards/card/{card.pk}/change/">Everyday •••• 0001</a>' in body
    assert card.binding.name in body
    assert "Authenticator apps" in body
    assert ">phone<" in body
    assert re.search(r'field-codes_left">\s*<p>10</p>', body)
    assert "Not locked (1 failed attempt since the last good code; the lock comes at 10)" in body
    assert "Sign-in failed" in body
    assert f'href="/admin/audit/revealevent/?user={alice.user.pk}"' in body


def test_the_page_never_shows_a_totp_key_or_a_backup_code(admin_client, alice):
    codes = replace_backup_codes(user=alice.user)
    body = user_page(admin_client, alice.user)
    assert alice.device.key not in body
    assert b32encode(alice.device.bin_key).decode() not in body
    for code in codes:
        assert code not in body
    for token in StaticToken.objects.filter(device__user=alice.user):
        assert token.token not in body


def test_the_inlines_are_read_only(admin_client, alice, make_card):
    make_card(alice.user)
    body = user_page(admin_client, alice.user)
    assert 'name="cards-0-id"' in body  # the card's row is there...
    assert 'name="cards-0-label"' not in body  # ...with nothing to edit
    assert 'name="cards-0-reference"' not in body
    assert 'name="totpdevice_set-0-name"' not in body
    assert 'name="totpdevice_set-0-key"' not in body
    assert 'id="cards-empty"' not in body  # no blank row to add a card or device here
    assert 'id="totpdevice_set-empty"' not in body


def test_a_locked_cardholder_says_until_when_and_the_link_finds_the_lock(
    wall_clock, client, admin_client, alice
):
    wrong_password(client, alice, times=10)
    body = user_page(admin_client, alice.user)
    assert "Locked until 10:30 UTC" in body
    link = f"/admin/accounts/accountsecurity/?user={alice.user.pk}"
    assert f'href="{link}"' in body
    listing = admin_client.get(link)
    assert listing.status_code == 200  # a lookup the admin allows, not a ?e=1 redirect
    assert "alice" in listing.content.decode()


def test_the_activity_links_open_that_users_events(wall_clock, client, admin_client, alice, bob):
    wrong_password(client, alice)
    wrong_password(client, bob)
    listing = admin_client.get(f"/admin/audit/authevent/?user={alice.user.pk}")
    assert listing.status_code == 200
    body = listing.content.decode()
    assert "alice" in body
    assert "bob" not in body


def test_the_user_page_still_saves(admin_client, alice, make_card):
    make_card(alice.user)
    body = user_page(admin_client, alice.user)
    form = re.search(r'<form [^>]*id="user_form".*?</form>', body, re.S).group(0)
    data = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or 'type="submit"' in tag or 'type="checkbox"' in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        data[name.group(1)] = value.group(1) if value else ""
    data.update({"is_active": "on", "email": "alice@bank.example", "date_joined_0": "2030-01-01",
                 "date_joined_1": "10:00:00"})  # fmt: skip
    response = admin_client.post(f"/admin/auth/user/{alice.user.pk}/change/", data)
    assert response.status_code == 302, re.findall(r'class="errorlist[^>]*>(.*?)</ul>',
                                                   response.content.decode(), re.S)  # fmt: skip
    alice.user.refresh_from_db()
    assert alice.user.email == "alice@bank.example"
