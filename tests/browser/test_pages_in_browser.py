"""Every cardholder page in Chromium, light, dark and on a 390 px phone: no axe-core violation, no
sideways scrolling, a header that fits; and what each look promises (dark colours, local times,
whole labels, "Press Esc" only with a keyboard, the code field ready on the reveal page)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from cardreveal.audit.disown import disown_token_make
from cardreveal.audit.models import RevealEvent
from tests.browser.axe import axe_violations
from tests.browser.conftest import PHONE, WAIT_MS, BrowserRun
from tests.conftest import totp_code

pytestmark = pytest.mark.browser

# Set CARDREVEAL_SCREENSHOTS to a folder (docs/screenshots) to refresh the README's screenshots.
SCREENSHOTS = os.environ.get("CARDREVEAL_SCREENSHOTS", "")

LOOKS: dict[str, dict[str, Any]] = {
    "light": {},
    "dark": {"color_scheme": "dark"},
    "phone": {**PHONE},
    "phone-dark": {**PHONE, "color_scheme": "dark"},
}
REVEALED = "reveal page with the CVV shown"
# The README's screenshots: (look, page) -> file in CARDREVEAL_SCREENSHOTS.
SCREENSHOT_FILES = {
    ("light", "card list"): "card-list.png",
    ("light", REVEALED): "reveal.png",
    ("dark", "card list"): "card-list-dark.png",
    ("dark", REVEALED): "reveal-dark.png",
    ("phone", "card list"): "card-list-390.png",
    ("phone", "activity"): "activity-390.png",
    ("phone-dark", REVEALED): "reveal-390-dark.png",
}

LONG_LABEL = "Online shopping and subscriptions (virtual card)"

SIDEWAYS = """() => ({
  page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  header: Math.max(...[...document.querySelectorAll(".topbar, .topbar *")]
    .map((e) => e.getBoundingClientRect().right)) - document.documentElement.clientWidth,
})"""


@pytest.fixture
def wallet(alice, make_canary_card):
    """alice's cards as a person would have them: three, one long-named, one expired, all from
    Northwind Bank."""
    everyday = make_canary_card(alice.user, label="Everyday debit")
    binding = everyday.card.binding
    binding.issuer_name = "Northwind Bank"
    binding.save()
    online = make_canary_card(alice.user, binding=binding, label=LONG_LABEL)
    online.card.brand = "visa"
    online.card.save()
    old = make_canary_card(alice.user, binding=binding, label="Old travel card")
    old.card.expiry_month, old.card.expiry_year = 3, 2024
    old.card.save()
    return everyday


@pytest.fixture
def newcomer(db):
    """Someone whose first sign-in is ahead: a password, no authenticator yet."""
    user = get_user_model().objects.create_user("newcomer", password="pw-newcomer-long-enough")
    return user, "pw-newcomer-long-enough"


def walk_cardholder_pages(
    run: BrowserRun, alice, clock, card, newcomer_run: BrowserRun, newcomer
) -> Callable[[Callable[[str, BrowserRun], None]], None]:
    """walk(visit): every cardholder page, visit(name, run) called on each as a person sees it."""

    def walk(visit: Callable[[str, BrowserRun], None]) -> None:
        page = run.page
        page.goto(run.url("/accounts/login/"))
        visit("sign-in", run)
        page.get_by_label("Username").fill(alice.user.username)
        page.get_by_label("Password").fill(alice.password)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(re.compile(r"/accounts/verify/"))
        visit("code step", run)
        page.get_by_label("Code").fill(totp_code(alice.device, clock))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_url(run.url("/"))
        clock.advance(30)
        visit("card list", run)
        page.goto(run.url(f"/cards/{card.pk}/"))
        run.reveal(totp_code(alice.device, clock))
        visit(REVEALED, run)
        page.goto(run.url("/activity/"))
        visit("activity", run)
        event = RevealEvent.objects.filter(outcome=RevealEvent.Outcome.REVEALED).latest("seq")
        page.goto(run.url(reverse("audit:disown", args=[disown_token_make(event=event)])))
        visit("this wasn't me", run)

        user, password = newcomer
        other = newcomer_run.page
        other.goto(newcomer_run.url("/accounts/login/"))
        other.get_by_label("Username").fill(user.username)
        other.get_by_label("Password").fill(password)
        other.get_by_role("button", name="Continue").click()
        other.wait_for_url(re.compile(r"/accounts/enrol/"))
        visit("enrolment", newcomer_run)

    return walk


def screenshot_whole_page(page: Any, name: str) -> None:
    """The whole page as a window as tall as the page shows it. (Playwright's full_page capture
    drops the phone's touch emulation while it captures: "Press Esc" would show.)"""
    Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
    window = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": window["width"], "height": max(height, window["height"])})
    page.screenshot(path=str(Path(SCREENSHOTS) / name))
    page.set_viewport_size(window)


@pytest.mark.parametrize("look", LOOKS)
def test_every_cardholder_page_passes_axe_and_never_scrolls_sideways(
    look, open_browser, axe, alice, wallet, newcomer, clock
):
    run = open_browser(**LOOKS[look])
    walk = walk_cardholder_pages(
        run, alice, clock, wallet.card, open_browser(**LOOKS[look]), newcomer
    )
    violations: dict[str, list[str]] = {}
    sideways: dict[str, dict[str, float]] = {}
    seen: list[str] = []

    def visit(name: str, on: BrowserRun) -> None:
        seen.append(name)
        found = axe_violations(on.page, axe)
        if found:
            violations[name] = found
        overflow = on.page.evaluate(SIDEWAYS)
        if overflow["page"] > 0 or overflow["header"] > 0:
            sideways[name] = overflow
        if SCREENSHOTS and (look, name) in SCREENSHOT_FILES:
            screenshot_whole_page(on.page, SCREENSHOT_FILES[look, name])

    walk(visit)

    assert len(seen) == 7, seen
    assert violations == {}
    assert sideways == {}
    assert run.csp_violations == []
    assert run.console_errors == []


def test_dark_mode_follows_the_device_setting(open_browser, alice, wallet, clock):
    colours = {}
    for scheme in ("light", "dark"):
        run = open_browser(color_scheme=scheme)
        run.sign_in(alice, clock)
        colours[scheme] = run.page.evaluate(
            """() => [document.body, document.querySelector("h1")].map((e) =>
                 getComputedStyle(e)[e === document.body ? "backgroundColor" : "color"])"""
        )
    light_background, light_text = colours["light"]
    dark_background, dark_text = colours["dark"]
    assert brightness(light_background) > 200
    assert brightness(light_text) < 80
    assert brightness(dark_background) < 40
    assert brightness(dark_text) > 200


def brightness(css_colour: str) -> float:
    red, green, blue = (int(n) for n in re.findall(r"\d+", css_colour)[:3])
    return 0.299 * red + 0.587 * green + 0.114 * blue


def test_on_a_390px_phone_the_header_keeps_every_link_in_view(open_browser, alice, wallet, clock):
    run = open_browser(**PHONE)
    run.sign_in(alice, clock)
    for name in ("Cards", "Activity", "Password"):
        box = run.page.locator(".topbar").get_by_role("link", name=name).bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390
    sign_out = run.page.get_by_role("button", name="Sign out").bounding_box()
    assert sign_out["x"] + sign_out["width"] <= 390
    assert run.page.locator(".topbar").bounding_box()["height"] < 110  # two lines at most


def test_card_labels_show_whole_on_a_phone(open_browser, alice, wallet, clock):
    run = open_browser(**PHONE)
    run.sign_in(alice, clock)
    label = run.page.locator(".card-label", has_text=LONG_LABEL)
    assert label.inner_text() == LONG_LABEL
    clipped = label.evaluate(
        "(e) => e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight"
    )
    assert not clipped
    card = run.page.locator(".card", has=label).bounding_box()
    box = label.bounding_box()
    assert box["x"] + box["width"] <= card["x"] + card["width"]
    assert run.page.get_by_text("Issued by Northwind Bank").first.is_visible()
    assert run.page.locator(".badge-expired").inner_text() == "Expired"


def test_times_read_in_the_viewers_time_zone_and_in_utc_without_script(
    open_browser, alice, wallet, clock
):
    run = open_browser(timezone_id="Asia/Tokyo", locale="en-GB")
    run.sign_in(alice, clock)
    run.page.goto(run.url("/activity/"))
    first = run.page.locator("time[data-local-time]").first
    instant = first.get_attribute("datetime")  # 2026-12-06T23:50:55Z
    utc_text = first.get_attribute("title")
    assert utc_text == instant.replace("T", " ").replace("Z", " UTC")
    tokyo = run.page.evaluate(
        """(instant) => new Date(instant).toLocaleString("en-GB", {
             timeZone: "Asia/Tokyo", dateStyle: "medium", timeStyle: "medium" })""",
        instant,
    )
    assert first.inner_text() == tokyo
    assert "UTC" not in first.inner_text()
    assert run.page.get_by_text("Times are in this device's time zone (Asia/Tokyo).").is_visible()

    plain = open_browser(java_script_enabled=False, timezone_id="Asia/Tokyo")
    plain.page.context.add_cookies(run.page.context.cookies())
    plain.page.goto(plain.url("/activity/"))
    assert plain.page.locator("time[data-local-time]").first.inner_text() == utc_text
    assert plain.page.get_by_text("Times are UTC.").is_visible()


def test_the_code_field_is_ready_on_arrival_and_press_esc_shows_only_with_a_keyboard(
    open_browser, alice, wallet, clock
):
    hints = {}
    for look, options in (("desktop", {}), ("phone", PHONE)):
        run = open_browser(**options)
        run.sign_in(alice, clock)
        run.page.goto(run.url(f"/cards/{wallet.card.pk}/"))
        run.page.wait_for_function("document.activeElement.id === 'otp-code'", timeout=WAIT_MS)
        run.page.keyboard.type(totp_code(alice.device, clock))  # straight in, no click or Tab
        run.page.keyboard.press("Enter")
        run.page.locator("#cvv-value").wait_for(state="visible", timeout=WAIT_MS)
        assert run.page.locator("#cvv-value").inner_text() == wallet.cvv
        hints[look] = run.page.locator("#cvv-box .hint").inner_text()
        clock.advance(30)
    assert hints["desktop"] == "Press Esc to hide it at once. It is hidden when you switch tabs."
    assert hints["phone"] == "It is hidden when you switch tabs."
