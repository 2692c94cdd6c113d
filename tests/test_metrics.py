"""/metrics: refused without the bearer token, off without one set, and its figures move with real
reveals (outcome and provider, provider time per binding, lockouts, breakers, the receipt queue),
parsed as Prometheus parses them; a store that is down is reported, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from bench.processes import free_port
from providers.sandbox.core import Fault
from tests.conftest import totp_code

TOKEN = "metrics-token-for-tests-0123456789abcdef"
pytestmark = [pytest.mark.django_db(transaction=True)]


def scrape(token: str = TOKEN) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and labels."""
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wrong_code(holder, clock) -> str:
    return f"{(int(totp_code(holder.device, clock)) + 1) % 1_000_000:06d}"


def reveal(browser: Client, card, code: str, client_key) -> int:
    response = browser.post(
        f"/cards/{card.pk}/reveal", {"otp_code": code, "public_key": client_key.public_b64}
    )
    return response.status_code


@override_settings(CARDREVEAL_METRICS_TOKEN=TOKEN)
def test_metrics_refuse_a_scrape_without_the_right_token():
    assert Client().get("/metrics").status_code == 401
    wrong = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert b"cardreveal" not in wrong.content
    basic = Client().get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401


@override_settings(CARDREVEAL_METRICS_TOKEN="")
def test_metrics_are_off_while_no_token_is_set():
    response = Client().get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 404


@override_settings(CARDREVEAL_METRICS_TOKEN=TOKEN)
def test_a_scrape_after_reveals_counts_them_by_outcome_provider_and_binding(
    signed_in, alice, make_card, clock, client_key
):
    card = make_card(alice.user)
    binding = str(card.binding_id)
    before = scrape()
    assert reveal(signed_in, card, totp_code(alice.device, clock), client_key) == 200
    clock.advance(30)
    assert reveal(signed_in, card, wrong_code(alice, clock), client_key) == 403
    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    revealed = {"outcome": "revealed", "reason": "ok", "provider": "mastercard"}
    refused = {"outcome": "refused", "reason": "otp_invalid", "provider": "mastercard"}
    assert moved("cardreveal_reveals_total", **revealed) == 1
    assert moved("cardreveal_reveals_total", **refused) == 1
    call = {"binding": binding, "provider": "mastercard", "result": "ok"}
    assert moved("cardreveal_provider_call_seconds_count", **call) == 1
    assert moved("cardreveal_provider_call_seconds_bucket", **call, le="+Inf") == 1
    assert value(after, "cardreveal_provider_call_seconds_sum", **call) > value(
        before, "cardreveal_provider_call_seconds_sum", **call
    )
    closed = {"binding": binding, "provider": "mastercard", "state": "closed"}
    assert value(after, "cardreveal_breaker_state", **closed) == 1
    assert value(after, "cardreveal_metrics_source_up", source="database") == 1
    assert value(after, "cardreveal_metrics_source_up", source="cache") == 1


@override_settings(
    CARDREVEAL_METRICS_TOKEN=TOKEN, CARDREVEAL_LOCKOUT_THRESHOLD=3, CARDREVEAL_OTP_FREE_FAILURES=3
)
def test_a_lockout_shows_as_a_lock_counted_and_an_account_locked_now(
    signed_in, alice, make_card, clock, client_key
):
    card = make_card(alice.user)
    before = scrape()
    statuses = [reveal(signed_in, card, wrong_code(alice, clock), client_key) for _ in range(3)]
    assert statuses[-1] in (403, 423)
    after = scrape()
    assert (
        value(after, "cardreveal_lockouts_total") - value(before, "cardreveal_lockouts_total") == 1
    )
    assert value(before, "cardreveal_accounts_locked") == 0
    assert value(after, "cardreveal_accounts_locked") == 1


@override_settings(
    CARDREVEAL_METRICS_TOKEN=TOKEN,
    CARDREVEAL_BREAKER_THRESHOLD=2,
    CARDREVEAL_BREAKER_COOLDOWN_SECONDS=60,
)
def test_an_open_breaker_shows_with_its_failures_and_fast_failures(
    signed_in, alice, make_card, clock, client_key, sandbox
):
    card = make_card(alice.user)
    labels = {"binding": str(card.binding_id), "provider": "mastercard"}
    sandbox.faults.set(Fault(status=503), kind="mastercard")
    try:
        for _ in range(3):  # two failures open it; the third is refused without a call
            assert reveal(signed_in, card, totp_code(alice.device, clock), client_key) >= 500
            clock.advance(30)
    finally:
        sandbox.faults.clear()
    samples = scrape()
    assert value(samples, "cardreveal_breaker_state", **labels, state="open") == 1
    assert value(samples, "cardreveal_breaker_state", **labels, state="closed") == 0
    assert value(samples, "cardreveal_breaker_fast_failures", **labels) == 1
    refused = {"outcome": "failed", "reason": "provider_circuit_open", "provider": "mastercard"}
    assert value(samples, "cardreveal_reveals_total", **refused) >= 1


@override_settings(
    CARDREVEAL_METRICS_TOKEN=TOKEN,
    EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    EMAIL_HOST="127.0.0.1",
    EMAIL_PORT=free_port(),  # nothing listens: the receipt waits in the queue
    EMAIL_TIMEOUT=2,
)
def test_a_receipt_the_relay_refused_shows_in_the_queue_depth_and_age(
    signed_in, alice, make_card, clock, client_key
):
    card = make_card(alice.user)
    assert value(scrape(), "cardreveal_receipts_waiting") == 0
    assert reveal(signed_in, card, totp_code(alice.device, clock), client_key) == 200
    samples = scrape()
    assert value(samples, "cardreveal_receipts_waiting") == 1
    assert value(samples, "cardreveal_receipts_retrying") == 1
    assert value(samples, "cardreveal_receipts_oldest_age_seconds") > 0


@override_settings(
    CARDREVEAL_METRICS_TOKEN=TOKEN,
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    },
)
def test_a_scrape_while_redis_is_down_says_so_and_still_answers(make_card, alice):
    make_card(alice.user)
    samples = scrape()
    assert value(samples, "cardreveal_metrics_source_up", source="cache") == 0
    assert value(samples, "cardreveal_metrics_source_up", source="database") == 1
    assert not any(name == "cardreveal_breaker_state" for name, _ in samples)


@pytest.mark.parametrize("token", ["too-short-a-token", f"{TOKEN} with spaces"])
def test_manage_py_check_refuses_a_weak_metrics_token_without_showing_it(token):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with (
        override_settings(CARDREVEAL_METRICS_TOKEN=token),
        pytest.raises(SystemCheckError) as caught,
    ):
        call_command("check")
    assert "cardreveal.E101" in str(caught.value)
    assert token not in str(caught.value)


def test_manage_py_check_accepts_a_long_metrics_token_or_none():
    from django.core.management import call_command

    for token in (TOKEN, ""):
        with override_settings(CARDREVEAL_METRICS_TOKEN=token):
            call_command("check")
