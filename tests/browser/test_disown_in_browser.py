"""The receipt's "This wasn't me" page in a real browser: it asks before acting, says what it did
and whom to call, and the phone number can be dialled; no script errors, no CSP violations."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.core import mail

from tests.conftest import totp_code

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("CARDREVEAL_SCREENSHOTS", "")
LINK_RE = re.compile(r"https?://[^/\s]+(?P<path>/receipts/not-me/[^/\s]+/)")


def screenshot(run, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        run.page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def test_not_me_page_asks_then_says_what_was_done_and_whom_to_call(
    open_browser, alice, make_canary_card, clock
):
    everyday = make_canary_card(alice.user, label="Everyday")
    holder = open_browser()
    holder.sign_in(alice, clock)
    holder.page.goto(holder.url(f"/cards/{everyday.card.pk}/"))
    holder.reveal(totp_code(alice.device, clock))
    link = LINK_RE.search(mail.outbox[-1].body)["path"]

    reader = open_browser()  # the mail is opened in another browser, signed in nowhere
    reader.page.set_viewport_size({"width": 390, "height": 844})
    reader.page.goto(reader.url(link))
    page = reader.page
    assert page.get_by_role("heading", name="Wasn't you?").is_visible()
    call = page.get_by_role("link", name="+44 20 7946 0000")
    assert call.get_attribute("href") == "tel:+442079460000"
    screenshot(reader, "not-me-confirm.png")

    page.get_by_role(
        "button", name="This wasn't me: turn off the security code and sign me out"
    ).click()

    page.get_by_role(
        "heading", name="Done: showing this card's security code is turned off"
    ).wait_for()
    status = page.get_by_role("status").inner_text()
    assert "now turned off" in status
    assert "The card itself still works for payments." in status
    assert "Call Example Bank on +44 20 7946 0000 to block it." in status
    # The page fits a 390 px phone: nothing sticks out sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(reader, "not-me-done.png")
    assert reader.console_errors == holder.console_errors == []
    assert reader.csp_violations == holder.csp_violations == []
