"""The sign-in pause in a real browser: after too many failed sign-ins from one address, the
cardholder's and the admin's sign-in pages say so and when to try again, and nothing signs in."""

from __future__ import annotations

import re

import pytest

from tests.conftest import totp_code

pytestmark = pytest.mark.browser

PAUSED = re.compile(
    r"Too many failed sign-ins from this network or for this username: .*Try again after \d\d:\d\d UTC"
)


def test_a_person_is_told_the_sign_in_is_paused_and_until_when(
    open_browser, alice, staff, clock, settings
):
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_ADDRESS = 3
    run = open_browser()
    page = run.page
    for n in range(3):  # typed by the person, in the page
        page.goto(run.url("/accounts/login/"))
        page.get_by_label("Username").fill(f"someone{n}")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Continue").click()
        assert "Please enter a correct username and password" in page.locator("main").inner_text()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(alice.password)
    with page.expect_response(re.compile(r"/accounts/login/$")) as answer:
        page.get_by_role("button", name="Continue").click()
    assert answer.value.status == 429
    assert PAUSED.search(page.get_by_role("alert").inner_text())
    assert "/accounts/login/" in page.url

    _user, device = staff
    page.goto(run.url("/admin/login/?next=/admin/"))
    page.locator("#id_username").fill("root")
    page.locator("#id_password").fill("pw-root-long-enough")
    page.get_by_label("Code").fill(totp_code(device, clock))
    page.get_by_role("button", name="Sign in").click()
    assert PAUSED.search(page.locator("#content-main, #content").first.inner_text())
    assert "/admin/login/" in page.url
    assert run.csp_violations == []
