"""In a real Chromium: a cardholder sees what stops a reveal before typing any code (and the form
comes back by itself when it ends), a right code typed after a wrong one shows the CVV, and a code
refused by the back-off says the real wait."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cardreveal.accounts.models import AccountSecurity
from tests.api.conftest import wrong_code
from tests.browser.conftest import WAIT_MS
from tests.conftest import totp_code

pytestmark = pytest.mark.browser


@pytest.fixture
def everyday(alice, make_canary_card):
    return make_canary_card(alice.user, label="Everyday")


def start_cooloff(holder, *, seconds_left: float) -> None:
    """A new authenticator as if added so long ago that `seconds_left` of the hour remain."""
    added = timezone.now() - timedelta(seconds=3600 - seconds_left)
    AccountSecurity.objects.update_or_create(
        user=holder.user, defaults={"authenticator_added_at": added}
    )


def assert_no_code_sent(run) -> None:
    assert [r for r in run.requests if r.url.endswith("/reveal")] == []


def test_a_cardholder_in_cool_off_sees_why_and_a_disabled_form_before_typing_a_code(
    open_browser, alice, everyday, clock
):
    run = open_browser()
    run.sign_in(alice, clock)
    start_cooloff(alice, seconds_left=3600)
    page = run.page

    page.goto(run.url("/"))
    banner = page.locator("#account-blockers")
    assert banner.is_visible()
    assert re.search(
        r"cannot be shown until \d\d:\d\d UTC because a new authenticator app or passkey was added",
        banner.inner_text(),
    )
    assert page.get_by_role("link", name="Show CVV for Everyday").count() == 0
    details = page.get_by_role("link", name="Details of Everyday")
    assert "account-blockers" in details.get_attribute("aria-describedby")

    details.click()
    page.wait_for_url(f"**/cards/{everyday.card.pk}/")
    reasons = page.locator("#reveal-blockers")
    assert reasons.is_visible()
    assert "The security code cannot be shown right now" in reasons.inner_text()
    assert re.search(r"You can show it from \d\d:\d\d UTC", reasons.inner_text())
    code_field = page.get_by_label("Code from your authenticator app")
    assert code_field.is_disabled()
    assert page.get_by_role("button", name="Show CVV").is_disabled()
    assert page.evaluate("document.activeElement.id") != "otp-code"
    assert "No code now" in page.locator("#otp-hint").inner_text()
    # The reason is what assistive technology reads with the field and the button.
    assert "reveal-blockers" in code_field.get_attribute("aria-describedby")
    assert page.locator("#reveal-button").get_attribute("aria-describedby") == "reveal-blockers"
    assert_no_code_sent(run)
    assert run.csp_violations == []
    assert run.console_errors == []


def test_the_form_comes_back_by_itself_when_the_cool_off_ends_and_then_reveals(
    open_browser, alice, everyday, clock
):
    run = open_browser()
    run.sign_in(alice, clock)
    start_cooloff(alice, seconds_left=2)
    page = run.page
    page.goto(run.url(f"/cards/{everyday.card.pk}/"))
    assert page.locator("#otp-code").is_disabled()

    expect(page.locator("#otp-code")).to_be_enabled(timeout=WAIT_MS)

    assert page.locator("#reveal-blockers").is_hidden()
    assert page.locator("#reveal-button").is_enabled()
    assert "You can show the security code now" in page.locator("#reveal-status").inner_text()
    assert "Enter a new 6-digit code" in page.locator("#otp-hint").inner_text()
    assert run.reveal(totp_code(alice.device, clock)) == everyday.cvv
    assert run.csp_violations == []


def test_a_correct_code_right_after_a_wrong_one_reveals_the_cvv(
    open_browser, alice, everyday, clock
):
    run = open_browser()
    run.sign_in(alice, clock)
    page = run.page
    page.goto(run.url(f"/cards/{everyday.card.pk}/"))

    page.locator("#otp-code").fill(wrong_code(alice.device, clock))
    page.locator("#reveal-button").click()
    error = page.locator("#reveal-error")
    error.wait_for(state="visible")
    assert "not correct" in error.inner_text()
    assert page.locator("#reveal-button").is_enabled()

    assert run.reveal(totp_code(alice.device, clock)) == everyday.cvv
    assert run.csp_violations == []


def test_a_code_refused_by_the_back_off_shows_the_real_wait_then_the_form_returns(
    open_browser, alice, everyday, clock
):
    run = open_browser()
    run.sign_in(alice, clock)
    page = run.page
    page.goto(run.url(f"/cards/{everyday.card.pk}/"))
    error = page.locator("#reveal-error")
    for _ in range(3):
        page.locator("#otp-code").fill(wrong_code(alice.device, clock))
        with page.expect_response(lambda r: r.url.endswith("/reveal")) as answer:
            page.locator("#reveal-button").click()
        assert answer.value.status == 403
        expect(page.locator("#reveal")).to_have_attribute("aria-busy", "false")
    assert "not correct" in error.inner_text()

    page.locator("#otp-code").fill(totp_code(alice.device, clock))
    with page.expect_response(lambda r: r.url.endswith("/reveal")) as answer:
        page.locator("#reveal-button").click()
    expect(error).to_have_attribute("data-kind", "locked", timeout=WAIT_MS)

    throttled = answer.value  # this click's own answer, not the last one recorded so far
    assert throttled.status == 429
    wait = int(throttled.headers["retry-after"])
    assert 1 <= wait <= 4
    assert re.search(r"Wait [1-4] seconds?, then try again\.", error.inner_text())
    assert page.locator("#reveal-button").is_disabled()
    assert page.locator("#otp-code").is_disabled()

    expect(page.locator("#reveal-button")).to_be_enabled(timeout=(wait + 5) * 1000)
    assert page.locator("#reveal-status").inner_text() == "You can try again now."
    assert run.reveal(totp_code(alice.device, clock)) == everyday.cvv
    assert run.csp_violations == []
