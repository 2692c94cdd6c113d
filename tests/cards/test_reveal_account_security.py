"""The reveal service and account security: a locked user is refused before anything else, wrong
reveal codes lock the account (T-LOCK-1), and a credential-change cool-off holds reveals."""

from __future__ import annotations

import uuid

import pytest

from cardreveal.accounts.cooloff import password_change_record
from cardreveal.accounts.lockout import account_locked_until
from cardreveal.audit.models import RevealEvent
from cardreveal.cards.services import RevealError, reveal_cvv
from cardreveal.client_info import ClientInfo
from tests.conftest import sign_in, totp_code

CLIENT = ClientInfo(
    ip="198.51.100.7", user_agent="pytest", request_id="req-12345678", channel="web"
)


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user)


def reveal(holder, card_id, code, key):
    return reveal_cvv(
        user=holder.user,
        card_id=card_id,
        otp_code=code,
        client_public_key=key.public_b64,
        client=CLIENT,
    )


def wrong(holder, clock) -> str:
    return f"{(int(totp_code(holder.device, clock)) + 1) % 1_000_000:06d}"


def lock_by_reveal_codes(holder, card, clock, wall_clock, key) -> RevealError:
    for _ in range(10):
        wall_clock.advance(minutes=5)  # past django-otp's per-device back-off
        with pytest.raises(RevealError) as info:
            reveal(holder, card.pk, wrong(holder, clock), key)
    return info.value  # the tenth, at 10:50


def test_ten_wrong_reveal_codes_lock_the_account(
    alice, card, clock, wall_clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    tenth = lock_by_reveal_codes(alice, card, clock, wall_clock, client_key)
    assert (tenth.code, tenth.status_code) == ("account_locked", 423)
    assert "locked until 11:20 UTC" in tenth.message
    assert tenth.retry_after == 30 * 60
    assert calls.count == 0


def test_a_locked_user_is_refused_before_anything_else(
    alice, card, clock, wall_clock, client_key, provider_calls
):
    lock_by_reveal_codes(alice, card, clock, wall_clock, client_key)
    calls = provider_calls("mastercard")
    code = totp_code(alice.device, clock)
    for card_id in (card.pk, uuid.uuid4()):  # even an unknown card gets the lock, not a 404
        with pytest.raises(RevealError) as info:
            reveal(alice, card_id, code, client_key)
        assert (info.value.code, info.value.status_code) == ("account_locked", 423)
    assert calls.count == 0
    assert RevealEvent.objects.filter(reason="account_locked").count() >= 2


def test_the_reveal_lock_holds_at_29_59_and_ends_at_30_00(
    alice, card, clock, wall_clock, client_key
):
    lock_by_reveal_codes(alice, card, clock, wall_clock, client_key)
    wall_clock.advance(minutes=29, seconds=59)
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, totp_code(alice.device, clock), client_key)
    assert (info.value.code, info.value.retry_after) == ("account_locked", 1)
    wall_clock.advance(seconds=1)
    assert client_key.open(
        reveal(alice, card.pk, totp_code(alice.device, clock), client_key).sealed
    )
    assert account_locked_until(user=alice.user) is None


def test_the_web_reveal_tells_a_locked_user_plainly(
    client, alice, card, clock, wall_clock, client_key
):
    sign_in(client, alice, clock)
    for _ in range(10):
        response = client.post(
            f"/cards/{card.pk}/reveal",
            {"otp_code": wrong(alice, clock), "public_key": client_key.public_b64},
        )
        wall_clock.advance(minutes=5)  # past django-otp's per-device back-off
    assert response.status_code == 423
    assert response.json()["error"]["code"] == "account_locked"
    assert "locked until 11:15 UTC" in response.json()["error"]["message"]
    assert response["Retry-After"] == str(30 * 60)


def test_a_cool_off_refuses_without_using_the_code(alice, card, clock, wall_clock, client_key):
    password_change_record(user=alice.user)
    code = totp_code(alice.device, clock)
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, code, client_key)
    assert (info.value.code, info.value.status_code) == ("reveal_cooloff", 403)
    assert info.value.retry_after == 3600
    assert "until 11:00 UTC" in info.value.message
    wall_clock.advance(hours=1)
    assert client_key.open(reveal(alice, card.pk, code, client_key).sealed) == "347"
