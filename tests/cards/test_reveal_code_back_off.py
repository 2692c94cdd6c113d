"""The back-off after wrong codes: a typo never blocks the right code typed next; from the third
wrong code in a row a code waits, and everyone (service, web JSON, API, sign-in page, activity
page) is told the real wait; only wrong codes that were checked count towards the lockout."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.models import AccountSecurity
from cardreveal.audit.models import RevealEvent
from cardreveal.cards.services import RevealError, reveal_cvv
from cardreveal.client_info import ClientInfo
from tests.conftest import totp_code

CLIENT = ClientInfo(
    ip="198.51.100.7", user_agent="pytest", request_id="req-12345678", channel="web"
)


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user)


def reveal(holder, card, code, key):
    return reveal_cvv(
        user=holder.user,
        card_id=card.pk,
        otp_code=code,
        client_public_key=key.public_b64,
        client=CLIENT,
    )


def wrong(holder, clock) -> str:
    return f"{(int(totp_code(holder.device, clock)) + 1) % 1_000_000:06d}"


def refused(holder, card, code, key) -> RevealError:
    with pytest.raises(RevealError) as info:
        reveal(holder, card, code, key)
    return info.value


def failures(holder) -> int:
    return AccountSecurity.objects.get(user=holder.user).failed_attempts


def test_the_right_code_typed_a_second_after_a_wrong_one_reveals(
    alice, card, clock, wall_clock, client_key
):
    assert refused(alice, card, wrong(alice, clock), client_key).code == "otp_invalid"
    wall_clock.advance(seconds=1)

    result = reveal(alice, card, totp_code(alice.device, clock), client_key)

    assert client_key.open(result.sealed) == "347"
    assert failures(alice) == 0  # the success resets the count


def test_two_wrong_codes_in_a_row_still_let_the_right_one_through_at_once(
    alice, card, clock, wall_clock, client_key
):
    for _ in range(2):
        assert refused(alice, card, wrong(alice, clock), client_key).code == "otp_invalid"
    result = reveal(alice, card, totp_code(alice.device, clock), client_key)
    assert client_key.open(result.sealed) == "347"


def test_after_three_wrong_codes_the_next_waits_and_is_told_the_real_wait(
    alice, card, clock, wall_clock, client_key, provider_calls
):
    calls = provider_calls("mastercard")
    for _ in range(3):
        assert refused(alice, card, wrong(alice, clock), client_key).code == "otp_invalid"

    throttled = refused(alice, card, totp_code(alice.device, clock), client_key)

    assert (throttled.code, throttled.status_code) == ("otp_throttled", 429)
    assert throttled.retry_after == 4  # django-otp's 2^(3-1) seconds with the factor 1
    assert "Wait 4 seconds" in throttled.message
    assert calls.count == 0
    event = RevealEvent.objects.order_by("-id").first()
    assert (event.outcome, event.reason) == ("refused", "otp_throttled")

    wall_clock.advance(seconds=2)
    assert refused(alice, card, totp_code(alice.device, clock), client_key).retry_after == 2
    wall_clock.advance(seconds=2)
    result = reveal(alice, card, totp_code(alice.device, clock), client_key)
    assert client_key.open(result.sealed) == "347"


def test_the_wait_doubles_with_each_further_wrong_code(alice, card, clock, wall_clock, client_key):
    for _ in range(3):
        refused(alice, card, wrong(alice, clock), client_key)
    wall_clock.advance(seconds=4)
    assert refused(alice, card, wrong(alice, clock), client_key).code == "otp_invalid"

    fifth = refused(alice, card, wrong(alice, clock), client_key)

    assert (fifth.code, fifth.retry_after) == ("otp_throttled", 8)
    assert "Wait 8 seconds, then try again." in fifth.message


def test_codes_refused_by_the_wait_are_not_counted_towards_the_lockout(
    alice, card, clock, wall_clock, client_key
):
    for _ in range(3):
        refused(alice, card, wrong(alice, clock), client_key)
    for _ in range(20):
        assert refused(alice, card, wrong(alice, clock), client_key).code == "otp_throttled"
    assert failures(alice) == 3
    assert RevealEvent.objects.filter(reason="otp_invalid").count() == 3


def test_the_lockout_still_comes_after_ten_checked_wrong_codes(
    alice, card, clock, wall_clock, client_key
):
    for _ in range(9):
        assert refused(alice, card, wrong(alice, clock), client_key).code == "otp_invalid"
        wall_clock.advance(minutes=5)  # past each wait
    tenth = refused(alice, card, wrong(alice, clock), client_key)
    assert (tenth.code, tenth.status_code) == ("account_locked", 423)


def test_while_one_authenticator_waits_no_other_checks_the_code(
    alice, card, clock, wall_clock, client_key
):
    # A second phone: were it asked while the first waits, its wrong answers would be guesses that
    # the lockout does not count.
    second = TOTPDevice.objects.create(user=alice.user, name="tablet", confirmed=True)
    for _ in range(3):
        refused(alice, card, wrong(alice, clock), client_key)
    second.refresh_from_db()
    TOTPDevice.objects.filter(pk=second.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )

    throttled = refused(alice, card, totp_code(second, clock), client_key)

    assert throttled.code == "otp_throttled"
    second.refresh_from_db()
    assert second.last_t == -1  # its code was not used up
    assert failures(alice) == 3


def test_web_reveal_answers_a_wait_with_retry_after(
    wall_clock, signed_in, alice, card, clock, client_key
):
    def post(code):
        return signed_in.post(
            f"/cards/{card.pk}/reveal", {"otp_code": code, "public_key": client_key.public_b64}
        )

    for _ in range(3):
        assert post(wrong(alice, clock)).status_code == 403
    response = post(totp_code(alice.device, clock))

    assert response.status_code == 429
    assert response["Retry-After"] == "4"
    error = response.json()["error"]
    assert error["code"] == "otp_throttled"
    assert "Wait 4 seconds" in error["message"]


def sign_in_password(client, holder):
    response = client.post(
        "/accounts/login/", {"username": holder.user.username, "password": holder.password}
    )
    assert response.status_code == 302


def test_sign_in_accepts_the_right_code_right_after_a_wrong_one(client, alice, clock, wall_clock):
    sign_in_password(client, alice)
    response = client.post("/accounts/verify/", {"code": wrong(alice, clock)})
    assert "That code is not correct" in response.content.decode()

    response = client.post("/accounts/verify/", {"code": totp_code(alice.device, clock)})

    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_sign_in_page_tells_the_wait_as_the_activity_page_records_it(
    client, alice, clock, wall_clock
):
    sign_in_password(client, alice)
    for _ in range(3):
        client.post("/accounts/verify/", {"code": wrong(alice, clock)})

    body = client.post("/accounts/verify/", {"code": totp_code(alice.device, clock)}).content
    text = body.decode()

    assert "Too many wrong attempts in a row: this code was not checked. Wait 4 seconds" in text
    assert "not correct" not in text
    wall_clock.advance(seconds=4)
    response = client.post("/accounts/verify/", {"code": totp_code(alice.device, clock)})
    assert response.status_code == 302
    activity = client.get("/activity/").content.decode()
    assert "Too many wrong attempts in a row: not checked, asked to wait" in activity
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 0


def test_sign_in_page_says_a_reused_code_was_used_not_that_it_was_wrong(
    client, alice, clock, wall_clock
):
    sign_in_password(client, alice)
    code = totp_code(alice.device, clock)
    assert client.post("/accounts/verify/", {"code": code}).status_code == 302
    client.post("/accounts/logout/")
    sign_in_password(client, alice)

    text = client.post("/accounts/verify/", {"code": code}).content.decode()

    assert "That code has already been used" in text
