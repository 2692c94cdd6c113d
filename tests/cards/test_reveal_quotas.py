"""Reveal quotas: successful reveals per user per hour and per card per day, 429 with Retry-After,
checked before the code and the provider, shared through the cache."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from cardreveal.cards.quotas import RevealQuotaExceeded, reveal_quota_reserve
from cardreveal.cards.services import RevealError, reveal_cvv
from cardreveal.client_info import ClientInfo
from tests.conftest import sign_in, totp_code

CLIENT = ClientInfo(
    ip="198.51.100.7", user_agent="pytest", request_id="req-12345678", channel="web"
)


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def quotas(settings):
    settings.CARDREVEAL_REVEALS_PER_USER_HOUR = 3
    settings.CARDREVEAL_REVEALS_PER_CARD_DAY = 2
    return settings


def reveal(holder, card, clock, key, *, code: str | None = None):
    if code is None:
        clock.advance(30)
        code = totp_code(holder.device, clock)
    return reveal_cvv(
        user=holder.user,
        card_id=card.pk,
        otp_code=code,
        client_public_key=key.public_b64,
        client=CLIENT,
    )


def refused(holder, card, clock, key, **kwargs) -> RevealError:
    with pytest.raises(RevealError) as info:
        reveal(holder, card, clock, key, **kwargs)
    return info.value


def test_the_hourly_quota_per_user_refuses_with_429_and_retry_after(
    alice, make_card, clock, wall_clock, client_key, quotas, provider_calls
):
    cards = [make_card(alice.user, label=f"card {i}") for i in range(2)]
    for card in [cards[0], cards[1], cards[1]]:
        reveal(alice, card, clock, client_key)
    wall_clock.advance(minutes=20)
    calls = provider_calls("mastercard")
    error = refused(alice, cards[0], clock, client_key)
    assert (error.code, error.status_code) == ("quota_user_hour", 429)
    assert error.retry_after == 40 * 60  # the clock hour ends at 11:00
    assert "from 11:00 UTC" in error.message
    assert calls.count == 0


def test_the_daily_quota_per_card_refuses_that_card_only(
    alice, make_card, clock, wall_clock, client_key, quotas
):
    busy, other = make_card(alice.user), make_card(alice.user, label="other")
    reveal(alice, busy, clock, client_key)
    reveal(alice, busy, clock, client_key)
    error = refused(alice, busy, clock, client_key)
    assert (error.code, error.status_code) == ("quota_card_day", 429)
    assert error.retry_after == 14 * 3600  # the UTC day ends at midnight
    assert "00:00 UTC on 16 January" in error.message
    assert client_key.open(reveal(alice, other, clock, client_key).sealed) == "347"


def test_quotas_refill_in_the_next_window(alice, make_card, clock, wall_clock, client_key, quotas):
    card = make_card(alice.user)
    reveal(alice, card, clock, client_key)
    reveal(alice, card, clock, client_key)
    assert refused(alice, card, clock, client_key).code == "quota_card_day"
    wall_clock.advance(hours=14)
    assert reveal(alice, card, clock, client_key).sealed


def test_a_full_quota_leaves_the_code_unused(
    alice, make_card, clock, wall_clock, client_key, quotas
):
    card = make_card(alice.user)
    reveal(alice, card, clock, client_key)
    reveal(alice, card, clock, client_key)
    clock.advance(30)
    code = totp_code(alice.device, clock)
    assert refused(alice, card, clock, client_key, code=code).code == "quota_card_day"
    quotas.CARDREVEAL_REVEALS_PER_CARD_DAY = 3
    assert reveal(alice, card, clock, client_key, code=code).sealed  # the same code still works


def test_only_successful_reveals_use_the_quota(
    alice, make_card, sandbox, clock, wall_clock, client_key, quotas
):
    card = make_card(alice.user)
    faulty_ref = next(
        c for c in sandbox.emulator("mastercard").cards if c.behaviour == "server_error"
    )
    faulty = make_card(alice.user, reference=faulty_ref.reference, label="faulty")
    for _ in range(3):
        assert refused(alice, faulty, clock, client_key).code == "provider_server_error"
        assert refused(alice, card, clock, client_key, code="000000").code in {
            "otp_invalid",
            "otp_throttled",
        }
        wall_clock.advance(seconds=10)  # past django-otp's back-off
    reveal(alice, card, clock, client_key)
    reveal(alice, card, clock, client_key)
    assert refused(alice, card, clock, client_key).code == "quota_card_day"


def test_a_code_check_that_breaks_gives_its_unit_back(
    alice, make_card, clock, wall_clock, client_key, quotas, monkeypatch
):
    # The unit is taken before the code is checked; an error there (the database going away)
    # must not leave it taken.
    import cardreveal.cards.services as services

    card = make_card(alice.user)

    def database_gone(**kwargs):
        raise ConnectionError("database gone")

    with monkeypatch.context() as patched:
        patched.setattr(services, "verify_totp", database_gone)
        for _ in range(3):
            with pytest.raises(RevealError) as refusal:
                reveal(alice, card, clock, client_key)
            assert refusal.value.code == "internal_error"
    reveal(alice, card, clock, client_key)
    reveal(alice, card, clock, client_key)  # both units of the day were still there
    assert refused(alice, card, clock, client_key).code == "quota_card_day"


def test_quotas_are_per_user(alice, bob, make_card, clock, wall_clock, client_key, quotas):
    quotas.CARDREVEAL_REVEALS_PER_USER_HOUR = 1
    alices, bobs = make_card(alice.user), make_card(bob.user)
    reveal(alice, alices, clock, client_key)
    assert refused(alice, alices, clock, client_key).code == "quota_user_hour"
    assert reveal(bob, bobs, clock, client_key).sealed


def test_concurrent_reservations_never_take_more_than_the_limit(alice, make_card, quotas):
    card = make_card(alice.user)
    quotas.CARDREVEAL_REVEALS_PER_USER_HOUR = 100
    quotas.CARDREVEAL_REVEALS_PER_CARD_DAY = 7
    start = threading.Barrier(16)
    outcomes: list[bool] = []

    def take() -> None:
        start.wait()
        try:
            reveal_quota_reserve(user=alice.user, card=card)
            outcomes.append(True)
        except RevealQuotaExceeded:
            outcomes.append(False)

    threads = [threading.Thread(target=take) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(True) == 7
    assert outcomes.count(False) == 9


def test_the_web_answer_is_429_with_retry_after(
    client, alice, make_card, clock, wall_clock, client_key, quotas
):
    quotas.CARDREVEAL_REVEALS_PER_USER_HOUR = 1
    card = make_card(alice.user)
    sign_in(client, alice, clock)
    for expected in (200, 429):
        clock.advance(30)
        response = client.post(
            f"/cards/{card.pk}/reveal",
            {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
        )
        assert response.status_code == expected
    assert response["Retry-After"] == "3600"
    assert response.json()["error"]["code"] == "quota_user_hour"
    assert "no-store" in response["Cache-Control"]
