"""A reveal authorised by one passkey assertion: bound to the card and the sealing key, single
use, two minutes, user verification required; every refusal audited and counted like a wrong
code; the step-up policy."""

from __future__ import annotations

import pytest

from cardreveal.accounts.models import AccountSecurity, PasskeyChallenge, StepUpPolicy
from cardreveal.audit.models import AuthEvent, RevealEvent
from cardreveal.cards.services import RevealError, reveal_cvv, reveal_passkey_challenge
from cardreveal.client_info import ClientInfo
from tests.conftest import make_client_key, totp_code
from tests.passkey_authenticator import (
    SITE_ORIGIN,
    SoftAuthenticator,
    challenge_bytes,
    enrol_directly,
    passkey_settings,
)

CLIENT = ClientInfo(ip="198.51.100.7", user_agent="pytest", request_id="req-1", channel="api")


@pytest.fixture
def phone(settings):
    passkey_settings(settings)
    return SoftAuthenticator(origin=SITE_ORIGIN)


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user)


@pytest.fixture
def passkey(alice, phone):
    return enrol_directly(alice.user, phone)


def challenge(holder, card, key):
    return reveal_passkey_challenge(
        user=holder.user, card_id=card.pk, client_public_key=key.public_b64
    )


def reveal_with(holder, card, key, assertion):
    return reveal_cvv(
        user=holder.user,
        card_id=card.pk,
        otp_code=None,
        client_public_key=key.public_b64,
        client=CLIENT,
        passkey_assertion=assertion,
    )


def refusal(holder, card, key, assertion) -> RevealError:
    with pytest.raises(RevealError) as caught:
        reveal_with(holder, card, key, assertion)
    return caught.value


def failures(holder) -> int:
    return AccountSecurity.objects.get(user=holder.user).failed_attempts


def last_reveal() -> RevealEvent:
    return RevealEvent.objects.order_by("-id").first()


def test_a_passkey_assertion_for_this_card_and_key_reveals_the_cvv(
    alice, card, passkey, phone, client_key
):
    options = challenge(alice, card, client_key)
    assert options["userVerification"] == "required"
    assert [c["id"] for c in options["allowCredentials"]]  # the user's passkeys are offered
    assert len(challenge_bytes(options)) == 64  # 32 random bytes, then the binding

    result = reveal_with(alice, card, client_key, phone.get(options))

    assert client_key.open(result.sealed) == "347"
    event = last_reveal()
    assert (event.outcome, event.reason) == ("revealed", "ok")
    passkey.refresh_from_db()
    assert passkey.sign_count == 1  # the counter moved on with the assertion


def test_the_same_assertion_a_second_time_is_refused_as_replayed_and_counted(
    alice, card, passkey, phone, client_key
):
    assertion = phone.get(challenge(alice, card, client_key))
    reveal_with(alice, card, client_key, assertion)

    error = refusal(alice, card, client_key, assertion)

    assert error.code == "passkey_replayed"
    assert "already been used" in error.message
    assert (last_reveal().outcome, last_reveal().reason) == ("refused", "passkey_replayed")
    assert failures(alice) == 1
    audit = AuthEvent.objects.filter(reason="passkey_replayed").get()
    assert audit.resource == "step:reveal"


def test_an_assertion_made_for_another_card_is_refused_and_spent(
    alice, card, make_card, passkey, phone, client_key
):
    other = make_card(alice.user, label="Other card")
    assertion = phone.get(challenge(alice, other, client_key))

    error = refusal(alice, card, client_key, assertion)

    assert error.code == "passkey_wrong_binding"
    assert "another card" in error.message
    assert failures(alice) == 1
    # The challenge was spent by the attempt: the other card cannot use it either.
    assert refusal(alice, other, client_key, assertion).code == "passkey_replayed"


def test_an_assertion_made_for_another_sealing_key_is_refused(
    alice, card, passkey, phone, client_key
):
    assertion = phone.get(challenge(alice, card, client_key))
    attacker_key = make_client_key()

    assert refusal(alice, card, attacker_key, assertion).code == "passkey_wrong_binding"


def test_an_assertion_naming_another_origin_is_refused_as_phishing(
    alice, card, passkey, phone, client_key
):
    assertion = phone.get(challenge(alice, card, client_key), origin="https://cards-example.co")

    error = refusal(alice, card, client_key, assertion)

    assert error.code == "passkey_wrong_origin"
    assert "fake site" in error.message
    assert failures(alice) == 1


def test_an_assertion_after_two_minutes_is_refused_as_expired(
    alice, card, passkey, phone, client_key, wall_clock
):
    options = challenge(alice, card, client_key)
    wall_clock.advance(seconds=121)

    error = refusal(alice, card, client_key, phone.get(options))

    assert error.code == "passkey_expired"
    assert "2 minutes" in error.message


def test_an_assertion_without_user_verification_is_refused(alice, card, passkey, phone, client_key):
    phone.user_verified = False
    error = refusal(alice, card, client_key, phone.get(challenge(alice, card, client_key)))
    assert error.code == "passkey_no_user_verification"


def test_a_counter_that_goes_backwards_is_refused_as_a_possible_copy(
    alice, card, passkey, phone, client_key
):
    reveal_with(alice, card, client_key, phone.get(challenge(alice, card, client_key)))
    phone.credentials[0].sign_count = 0  # a clone of the key, with its own count

    error = refusal(alice, card, client_key, phone.get(challenge(alice, card, client_key)))

    assert error.code == "passkey_counter"


def test_another_users_passkey_is_refused(alice, bob, card, passkey, client_key, settings):
    bobs_phone = SoftAuthenticator(origin=SITE_ORIGIN)
    enrol_directly(bob.user, bobs_phone)
    options = challenge(alice, card, client_key)
    options["allowCredentials"] = []  # bob's phone answers alice's challenge

    error = refusal(alice, card, client_key, bobs_phone.get(options))

    assert error.code == "passkey_unknown"


def test_a_garbled_assertion_is_refused_without_counting(alice, card, passkey, client_key):
    error = refusal(alice, card, client_key, {"id": "x"})
    assert (error.code, error.status_code) == ("passkey_malformed", 400)
    assert not AccountSecurity.objects.filter(user=alice.user, failed_attempts__gt=0).exists()


def test_refused_assertions_lock_the_account_like_wrong_codes(
    alice, card, passkey, phone, client_key, settings
):
    settings.CARDREVEAL_LOCKOUT_THRESHOLD = 3
    for _ in range(2):
        opts = challenge(alice, card, client_key)
        refusal(alice, card, client_key, phone.get(opts, origin="https://evil.example"))
    opts = challenge(alice, card, client_key)

    error = refusal(alice, card, client_key, phone.get(opts, origin="https://evil.example"))

    assert (error.code, error.status_code) == ("account_locked", 423)
    # Locked: even a right assertion is not asked for.
    with pytest.raises(RevealError) as caught:
        challenge(alice, card, client_key)
    assert caught.value.code == "account_locked"


def test_challenges_live_in_the_database_single_use(alice, card, passkey, phone, client_key):
    options = challenge(alice, card, client_key)
    stored = PasskeyChallenge.objects.get(user=alice.user)
    assert stored.used_at is None
    reveal_with(alice, card, client_key, phone.get(options))
    stored.refresh_from_db()
    assert stored.used_at is not None


def test_blockers_are_told_before_a_passkey_is_asked_for(alice, card, passkey, client_key):
    card.reveal_enabled = False
    card.save()
    with pytest.raises(RevealError) as caught:
        challenge(alice, card, client_key)
    assert caught.value.code == "card_disabled"
    assert not PasskeyChallenge.objects.exists()


def test_no_passkey_no_challenge(alice, card, client_key, settings):
    passkey_settings(settings)
    with pytest.raises(RevealError) as caught:
        challenge(alice, card, client_key)
    assert caught.value.code == "passkey_no_device"
    assert "Add one" in caught.value.message


def test_when_a_passkey_is_required_a_code_is_refused(
    alice, card, passkey, client_key, clock, settings
):
    settings.CARDREVEAL_STEP_UP_POLICY = "passkey_required"
    with pytest.raises(RevealError) as caught:
        reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=totp_code(alice.device, clock),
            client_public_key=client_key.public_b64,
            client=CLIENT,
        )
    assert caught.value.code == "passkey_required"
    assert "passkey" in caught.value.message
    assert (last_reveal().outcome, last_reveal().reason) == ("refused", "passkey_required")


def test_a_per_user_switch_overrides_the_setting(alice, card, passkey, phone, client_key, clock):
    StepUpPolicy.objects.create(user=alice.user, policy="totp_only")
    with pytest.raises(RevealError) as caught:
        challenge(alice, card, client_key)
    assert caught.value.code == "passkey_not_allowed"
    # ... and the code still works.
    result = reveal_cvv(
        user=alice.user,
        card_id=card.pk,
        otp_code=totp_code(alice.device, clock),
        client_public_key=client_key.public_b64,
        client=CLIENT,
    )
    assert client_key.open(result.sealed) == "347"


def test_passkey_preferred_still_takes_a_code(alice, card, passkey, client_key, clock):
    result = reveal_cvv(
        user=alice.user,
        card_id=card.pk,
        otp_code=totp_code(alice.device, clock),
        client_public_key=client_key.public_b64,
        client=CLIENT,
    )
    assert client_key.open(result.sealed) == "347"


def test_the_activity_page_says_a_passkey_was_used_on_another_website(
    signed_in, alice, card, passkey, phone, client_key
):
    options = challenge(alice, card, client_key)
    refusal(alice, card, client_key, phone.get(options, origin="https://cards-example.co"))

    page = signed_in.get("/activity/").content.decode()

    assert "A passkey used on another website (possibly a fake site)" in page


def test_an_assertion_signed_for_another_rp_id_is_refused(alice, card, passkey, phone, client_key):
    options = challenge(alice, card, client_key)
    error = refusal(alice, card, client_key, phone.get(options, rp_id="cards-example.co"))
    assert error.code == "passkey_invalid"
    assert failures(alice) == 1


def test_an_assertion_with_a_forged_signature_is_refused(alice, card, passkey, phone, client_key):
    assertion = phone.get(challenge(alice, card, client_key))
    assertion["response"]["signature"] = phone.get(challenge(alice, card, client_key))["response"][
        "signature"
    ]
    assert refusal(alice, card, client_key, assertion).code == "passkey_invalid"
