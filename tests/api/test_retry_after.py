"""Every 429 the API answers says how long to wait (`Retry-After`, seconds), whatever refused it:
each rate limit, a rate lowered while counts were kept, django-otp's back-off on codes
(`otp_throttled`), and the reveal quotas."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cardreveal.accounts.models import AccountSecurity
from tests.api.conftest import assert_error, set_rates
from tests.conftest import totp_code


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user, label="Everyday")


def _reveal(client, card, code, key):
    return client.post(
        f"/api/v1/cards/{card.pk}/reveal", {"otp_code": code, "public_key": key}, format="json"
    )


def _calls(scope, authed, card, client_key):
    """One request that the throttle of `scope` counts."""
    anonymous = APIClient()
    login = {"username": "alice", "password": "wrong-wrong-wrong", "otp_code": "000000"}
    return {
        "user": lambda: authed.get("/api/v1/cards"),
        "ip": lambda: authed.get("/api/v1/cards"),
        "reveal_user": lambda: _reveal(authed, card, "000000", "not a key"),
        "reveal_ip": lambda: _reveal(authed, card, "000000", "not a key"),
        "login_ip": lambda: anonymous.post("/api/v1/auth/login", login, format="json"),
        "login_username": lambda: anonymous.post("/api/v1/auth/login", login, format="json"),
        "otp_user": lambda: authed.post(
            "/api/v1/otp-devices/totp",
            {"password": "wrong-wrong-wrong", "otp_code": "000000", "name": "Tablet"},
            format="json",
        ),
    }[scope]


def _first_429(call, tries=4):
    for _ in range(tries):
        response = call()
        if response.status_code == 429:
            return response
    raise AssertionError(f"never throttled; last answer {response.status_code}")


@pytest.mark.parametrize(
    "scope", ["user", "ip", "reveal_user", "reveal_ip", "login_ip", "login_username", "otp_user"]
)
def test_every_rate_limit_says_how_long_to_wait(
    scope, authed, card, client_key, settings, no_throttles
):
    set_rates(settings, **{scope: "2/min"})
    response = _first_429(_calls(scope, authed, card, client_key))
    error = assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert f"{response['Retry-After']} seconds" in error["message"]


def test_a_rate_lowered_while_counts_are_kept_still_says_how_long_to_wait(
    authed, settings, no_throttles
):
    # Counts live in the cache and outlive a restart with a new, lower rate: DRF alone would
    # refuse without saying how long to wait.
    set_rates(settings, user="5/min")
    for _ in range(5):
        assert authed.get("/api/v1/cards").status_code == 200
    set_rates(settings, user="2/min")
    response = authed.get("/api/v1/cards")
    assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60


def test_a_code_refused_by_the_back_off_says_how_long_and_works_after_that_wait(
    authed, alice, card, clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    # The back-off after four wrong codes in a row: 8 seconds from the last one.
    last = timezone.now() - timedelta(seconds=3)
    AccountSecurity.objects.update_or_create(
        user=alice.user,
        defaults={
            "failed_attempts": 4,
            "last_failure_at": last,
            "failed_codes": 4,
            "last_failed_code_at": last,
        },
    )
    code = totp_code(alice.device, clock)

    response = _reveal(authed, card, code, client_key.public_b64)

    assert_error(response, 429, "otp_throttled")
    wait = int(response["Retry-After"])
    assert 4 <= wait <= 5
    assert calls.count == 0
    # The wait it gave is the real one: after it, the same (unspent) code reveals.
    security = AccountSecurity.objects.get(user=alice.user)
    security.last_failed_code_at -= timedelta(seconds=wait)
    security.save(update_fields=["last_failed_code_at"])
    assert _reveal(authed, card, code, client_key.public_b64).status_code == 200


def test_a_used_up_reveal_quota_says_how_long_to_wait(
    wall_clock, authed, alice, card, clock, client_key, settings
):
    settings.CARDREVEAL_REVEALS_PER_CARD_DAY = 1
    first = _reveal(authed, card, totp_code(alice.device, clock), client_key.public_b64)
    assert first.status_code == 200
    clock.advance(30)
    response = _reveal(authed, card, totp_code(alice.device, clock), client_key.public_b64)
    assert_error(response, 429, "quota_card_day")
    assert response["Retry-After"] == str(14 * 3600)  # 10:00 UTC until midnight UTC
