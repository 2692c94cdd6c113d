"""The reveal service: authorise, step-up, provider call, seal, audit; each refusal and failure."""

from __future__ import annotations

import base64
import uuid

import pytest

from cardreveal.accounts.models import AccountSecurity
from cardreveal.audit.models import RevealEvent
from cardreveal.cards.services import RevealError, reveal_cvv
from cardreveal.client_info import ClientInfo
from tests.conftest import make_client_key, shows, totp_code

CLIENT = ClientInfo(
    ip="198.51.100.7", user_agent="pytest", request_id="req-12345678", channel="web"
)


def reveal(holder, card_id, code, key):
    return reveal_cvv(
        user=holder.user,
        card_id=card_id,
        otp_code=code,
        client_public_key=key.public_b64,
        client=CLIENT,
    )


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user)


def last_event() -> RevealEvent:
    return RevealEvent.objects.order_by("-id").first()


def test_reveal_returns_cvv_sealed_to_client_key(alice, card, clock, client_key, provider_calls):
    calls = provider_calls("mastercard")
    result = reveal(alice, card.pk, totp_code(alice.device, clock), client_key)
    assert client_key.open(result.sealed) == "347"
    assert not shows("347", result.sealed)
    assert calls.count == 1
    event = last_event()
    assert (event.outcome, event.reason, event.channel) == ("revealed", "ok", "web")
    assert event.client_ip == "198.51.100.7"
    assert event.provider_latency_ms is not None
    assert event.card == card


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "otp_missing"),
        ("12345", "otp_malformed"),
        ("abcdef", "otp_malformed"),
    ],
)
def test_reveal_refused_without_a_usable_code_and_no_provider_call(
    alice, card, clock, client_key, provider_calls, code, reason
):
    calls = provider_calls("mastercard")
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, code, client_key)
    assert info.value.code == reason
    assert info.value.status_code == 403
    assert calls.count == 0
    assert last_event().reason == reason


def test_wrong_code_refused_without_provider_call(alice, card, clock, client_key, provider_calls):
    calls = provider_calls("mastercard")
    good = totp_code(alice.device, clock)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, wrong, client_key)
    assert info.value.code == "otp_invalid"
    assert "not correct" in info.value.message
    assert calls.count == 0


def test_same_code_twice_reveals_once(alice, card, clock, client_key, provider_calls):
    calls = provider_calls("mastercard")
    code = totp_code(alice.device, clock)
    reveal(alice, card.pk, code, client_key)
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, code, client_key)
    assert info.value.code == "otp_replayed"
    assert "already been used" in info.value.message
    assert calls.count == 1
    assert list(RevealEvent.objects.order_by("id").values_list("reason", flat=True)) == [
        "ok",
        "otp_replayed",
    ]


def test_next_code_after_a_reveal_works(alice, card, clock, client_key):
    reveal(alice, card.pk, totp_code(alice.device, clock), client_key)
    clock.advance(30)
    result = reveal(alice, card.pk, totp_code(alice.device, clock), client_key)
    assert client_key.open(result.sealed) == "347"


def test_other_users_card_is_the_same_not_found_as_a_missing_card(
    alice, bob, make_card, clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    bobs_card = make_card(bob.user)
    with pytest.raises(RevealError) as theirs:
        reveal(alice, bobs_card.pk, totp_code(alice.device, clock), client_key)
    with pytest.raises(RevealError) as missing:
        reveal(alice, uuid.uuid4(), totp_code(alice.device, clock), client_key)
    assert (theirs.value.code, theirs.value.status_code, theirs.value.message) == (
        missing.value.code,
        missing.value.status_code,
        missing.value.message,
    )
    assert theirs.value.status_code == 404
    assert calls.count == 0
    # bob's code was never consumed by alice's attempt
    assert RevealEvent.objects.filter(reason="card_not_found").count() == 2


def test_code_of_another_users_device_does_not_work(
    alice, bob, card, clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, totp_code(bob.device, clock), client_key)
    assert info.value.code == "otp_invalid"
    assert calls.count == 0


def test_disabled_card_refused(alice, card, clock, client_key, provider_calls):
    calls = provider_calls("mastercard")
    card.reveal_enabled = False
    card.save()
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, totp_code(alice.device, clock), client_key)
    assert info.value.code == "card_disabled"
    assert calls.count == 0


def test_disabled_binding_refused(alice, card, clock, client_key, provider_calls):
    calls = provider_calls("mastercard")
    card.binding.enabled = False
    card.binding.save()
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, totp_code(alice.device, clock), client_key)
    assert info.value.code == "binding_disabled"
    assert calls.count == 0


def test_unconfirmed_device_never_satisfies_step_up(alice, card, clock, client_key):
    alice.device.confirmed = False
    alice.device.save()
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, totp_code(alice.device, clock), client_key)
    assert info.value.code == "otp_no_device"


def test_a_code_reused_after_clock_drift_is_called_a_reuse_not_a_guess(
    alice, card, clock, client_key
):
    # A phone whose clock runs one step ahead: its code is accepted and the drift learnt. Sent
    # again, it is a reuse (not counted towards the lockout), not a wrong code.
    clock.advance(30)
    ahead = totp_code(alice.device, clock)
    clock.advance(-30)
    assert reveal(alice, card.pk, ahead, client_key).sealed
    alice.device.refresh_from_db()
    assert alice.device.drift == 1
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, ahead, client_key)
    assert info.value.code == "otp_replayed"
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 0


def _even_exponent_key_b64() -> str:
    """A 2048-bit SPKI whose exponent was changed from 65537 to 65538 (even)."""
    der = base64.b64decode(make_client_key().public_b64)
    assert der.endswith(b"\x02\x03\x01\x00\x01")
    return base64.b64encode(der[:-1] + b"\x02").decode()


def _rsa4096_with_exponent_b64(exponent: int) -> str:
    """A 4096-bit SPKI that parses but whose exponent OpenSSL will not encrypt to."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    modulus = make_client_key(4096).private_key.public_key().public_numbers().n
    key = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.mark.parametrize(
    ("public_b64", "expected"),
    [
        (make_client_key(1024).public_b64, "must be 2048-4096"),
        (_even_exponent_key_b64(), "could not be read"),  # the crypto library refuses it
        (_rsa4096_with_exponent_b64(2**65 + 1), "at most 64 bits"),
        (_rsa4096_with_exponent_b64(2**4095 + 1), "at most 64 bits"),
    ],
    ids=["1024-bit", "even exponent", "66-bit exponent", "4096-bit exponent"],
)
def test_weak_client_key_refused_before_the_code_is_used(
    alice, card, clock, provider_calls, public_b64, expected
):
    calls = provider_calls("mastercard")
    code = totp_code(alice.device, clock)
    with pytest.raises(RevealError) as info:
        reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=code,
            client_public_key=public_b64,
            client=CLIENT,
        )
    assert info.value.code == "client_key_invalid"
    assert expected in info.value.message
    assert calls.count == 0
    # the code was not spent on a request that could not succeed
    assert reveal(alice, card.pk, code, make_client_key()).sealed


def test_garbage_client_key_refused(alice, card, clock):
    with pytest.raises(RevealError) as info:
        reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=totp_code(alice.device, clock),
            client_public_key="not a key",
            client=CLIENT,
        )
    assert info.value.code == "client_key_invalid"
    assert "could not be read" in info.value.message


def test_wrong_expiry_says_card_details_do_not_match(alice, make_card, clock, client_key):
    card = make_card(alice.user, expiry=(1, 2021))
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, totp_code(alice.device, clock), client_key)
    assert info.value.code == "card_details_mismatch"
    assert "do not match" in info.value.message
    event = last_event()
    assert (event.outcome, event.reason) == ("failed", "card_details_mismatch")


def test_provider_server_error_is_a_clear_failure(alice, make_card, sandbox, clock, client_key):
    faulty = next(c for c in sandbox.emulator("mastercard").cards if c.behaviour == "server_error")
    card = make_card(
        alice.user, reference=faulty.reference, expiry=(faulty.expiry_month, faulty.expiry_year)
    )
    with pytest.raises(RevealError) as info:
        reveal(alice, card.pk, totp_code(alice.device, clock), client_key)
    assert info.value.status_code == 502
    assert info.value.code == "provider_server_error"
    assert last_event().outcome == "failed"
