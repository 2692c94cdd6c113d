"""The reveal in a real browser (T-SAD-7, T-SAD-8, T-HDR-1): sealed on the wire, brief on screen,
gone from the page, storage and history, and usable with the keyboard and without inline code."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qs

import pytest

from tests.browser.conftest import WAIT_MS, holds_cvv
from tests.conftest import totp_code

pytestmark = pytest.mark.browser

# Everything a page can keep about itself: the markup with every attribute, the text, both web
# storages, the IndexedDB database names and the cookies script can read.
PAGE_TRACES = """async () => {
  const attributes = [];
  for (const element of document.querySelectorAll("*")) {
    for (const attribute of element.attributes) attributes.push([attribute.name, attribute.value]);
  }
  const storage = (store) => Object.keys(store).map((key) => [key, store.getItem(key)]);
  const databases = indexedDB.databases ? (await indexedDB.databases()).map((db) => db.name) : [];
  return {
    html: document.documentElement.outerHTML,
    text: document.body.innerText,
    attributes: attributes,
    localStorage: storage(localStorage),
    sessionStorage: storage(sessionStorage),
    indexedDB: databases,
    cookies: document.cookie,
  };
}"""


def page_traces(run) -> dict[str, object]:
    return run.page.evaluate(PAGE_TRACES)


def assert_no_trace(run, cvv: str, *, on_screen: bool = False) -> None:
    """Nothing the page keeps holds the CVV; with `on_screen`, only its one element may."""
    traces = page_traces(run)
    if on_screen:
        assert run.page.locator("#cvv-value").inner_text() == cvv
        assert [h for h in re.findall(r">[^<]*<", traces["html"]) if holds_cvv(h, cvv)] == [
            f">{cvv}<"
        ]
    else:
        assert not holds_cvv(traces["html"], cvv), "the CVV is still in the page's markup"
        assert not holds_cvv(traces["text"], cvv), "the CVV is still in the page's text"
    assert [a for a in traces["attributes"] if holds_cvv(json.dumps(a), cvv)] == []
    # The page uses no web storage at all, and its cookies are the server's, HttpOnly.
    assert traces["localStorage"] == traces["sessionStorage"] == traces["indexedDB"] == []
    assert not holds_cvv(traces["cookies"], cvv)
    assert [c["name"] for c in run.page.context.cookies() if holds_cvv(c["value"], cvv)] == []


def assert_cvv_not_on_page(run, cvv: str) -> None:
    assert run.page.locator("#cvv-box").is_hidden()
    assert_no_trace(run, cvv)


def assert_clean_run(run) -> None:
    assert run.csp_violations == []
    assert run.console_errors == []


@pytest.fixture
def everyday(alice, make_canary_card):
    return make_canary_card(alice.user, label="Everyday")


def test_cvv_shown_sealed_then_gone_from_page_storage_history_and_wire(
    open_browser, alice, everyday, clock, sandbox, short_display, make_canary_card
):
    travel = make_canary_card(alice.user, binding=everyday.card.binding, label="Travel")
    travel.card.brand = "visa"  # a second card, and a second look, for the card list
    travel.card.save()
    run = open_browser()
    run.sign_in(alice, clock)
    run.page.get_by_role("link", name="Show CVV for Everyday").click()
    run.page.wait_for_url(f"**/cards/{everyday.card.pk}/")
    assert_no_trace(run, everyday.cvv)

    shown = run.reveal(totp_code(alice.device, clock))

    sandbox_cvv = (
        sandbox.emulator("mastercard")
        .find_card(card_contract_id=everyday.card.reference["card_contract_id"])
        .cvv
    )
    assert shown == sandbox_cvv == everyday.cvv
    # While shown, the CVV is the text of one element and nowhere else: no attribute, no storage.
    assert_no_trace(run, shown, on_screen=True)
    assert run.page.locator("#reveal-status").inner_text() == "Security code shown for 5 seconds."

    # The shortened timer runs out by itself and takes the CVV out of the DOM.
    run.page.locator("#cvv-box").wait_for(state="hidden", timeout=WAIT_MS)
    assert_cvv_not_on_page(run, shown)
    assert "Time is up" in run.page.locator("#reveal-status").inner_text()

    # Away and back through history, then a reload: the reveal page comes back without it.
    run.page.get_by_role("link", name="All cards").click()
    run.page.wait_for_url(run.url("/"))
    run.page.go_back()
    run.page.wait_for_url(f"**/cards/{everyday.card.pk}/")
    assert_cvv_not_on_page(run, shown)
    run.page.reload()
    assert_cvv_not_on_page(run, shown)
    run.page.go_forward()
    run.page.go_back()
    assert_cvv_not_on_page(run, shown)

    # Every response of the run, pages, script, style and the reveal itself: no plaintext CVV.
    reveals = run.response_for(f"/cards/{everyday.card.pk}/reveal")
    assert len(reveals) == 1
    # Posted as a plain form (cheaper for the server to parse than multipart), code and key only.
    (posted,) = [r for r in run.requests if r.url.endswith("/reveal")]
    assert posted.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert sorted(parse_qs(posted.post_data)) == ["otp_code", "public_key"]
    answer = json.loads(reveals[0].body)
    assert answer["scheme"] == "jwe-rsa-oaep-256-a256gcm"
    assert answer["sealed"].count(".") == 4
    assert "no-store" in reveals[0].headers["cache-control"]
    seen = {r.url.removeprefix(run.base_url) for r in run.responses}
    assert {"/accounts/login/", "/", f"/cards/{everyday.card.pk}/"} <= seen
    assert any(url.endswith("/reveal.js") for url in seen)
    carrying = [r.url for r in run.responses if holds_cvv(r.body, shown)]
    assert carrying == []
    assert_clean_run(run)


def test_cvv_left_on_screen_does_not_survive_going_back(
    open_browser, alice, everyday, clock, short_display
):
    run = open_browser()
    run.sign_in(alice, clock)
    run.page.goto(run.url(f"/cards/{everyday.card.pk}/"))
    shown = run.reveal(totp_code(alice.device, clock))
    assert shown == everyday.cvv

    run.page.get_by_role("link", name="All cards").click()
    run.page.wait_for_url(run.url("/"))
    run.page.go_back()
    run.page.wait_for_url(f"**/cards/{everyday.card.pk}/")
    assert_cvv_not_on_page(run, shown)
    assert run.page.locator("#reveal-form").is_visible()
    assert_clean_run(run)


def test_hide_button_escape_and_leaving_the_tab_each_hide_the_cvv_at_once(
    open_browser, alice, everyday, clock
):
    run = open_browser()
    run.sign_in(alice, clock)
    run.page.goto(run.url(f"/cards/{everyday.card.pk}/"))

    shown = run.reveal(totp_code(alice.device, clock))
    assert run.page.locator("#reveal-status").inner_text() == "Security code shown for 30 seconds."
    run.page.get_by_role("button", name="Hide now").click()
    assert_cvv_not_on_page(run, shown)
    assert run.page.locator("#reveal-status").inner_text() == "The security code is hidden."

    clock.advance(30)
    run.reveal(totp_code(alice.device, clock))
    run.page.keyboard.press("Escape")
    assert_cvv_not_on_page(run, shown)

    clock.advance(30)
    run.reveal(totp_code(alice.device, clock))
    # Headless Chromium keeps every page visible (switching tabs or minimising does not change
    # document.visibilityState), so the page is told it is hidden the way a tab switch tells it.
    run.page.evaluate(
        """() => {
          Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
          Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
          document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    assert_cvv_not_on_page(run, shown)
    assert "left the page" in run.page.locator("#reveal-status").inner_text()
    assert_clean_run(run)


def test_reveal_works_from_the_keyboard_alone(open_browser, alice, everyday, clock):
    run = open_browser()
    run.sign_in(alice, clock)
    page = run.page
    page.goto(run.url("/"))
    # Tab from the top of the page to the card's link, then follow it with Enter.
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").startswith("Show CVV"):
            break
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/cards/{everyday.card.pk}/")
    # The code field has the focus on arrival: type the code straight away.
    page.wait_for_function("document.activeElement.id === 'otp-code'", timeout=WAIT_MS)
    page.keyboard.type(totp_code(alice.device, clock))
    page.keyboard.press("Enter")
    page.locator("#cvv-value").wait_for(state="visible", timeout=WAIT_MS)

    # Focus lands on the code itself, so a screen reader reads it out; the status says how long.
    assert page.evaluate("document.activeElement.id") == "cvv-value"
    assert page.locator("#cvv-value").inner_text() == everyday.cvv
    assert page.locator("#reveal-status").get_attribute("role") == "status"
    assert "shown for 30 seconds" in page.locator("#reveal-status").inner_text()
    # Tab reaches the three controls in order; Enter on "Hide now" hides it and focus goes back
    # to the code field.
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    assert order == ["cvv-copy", "cvv-extend", "cvv-hide"]
    page.keyboard.press("Enter")
    assert_cvv_not_on_page(run, everyday.cvv)
    assert page.evaluate("document.activeElement.id") == "otp-code"
    assert_clean_run(run)


def test_more_time_restarts_the_countdown_at_least_ten_times_up_to_the_cap(
    open_browser, alice, everyday, clock
):
    run = open_browser()
    run.sign_in(alice, clock)
    page = run.page
    page.clock.install()
    page.goto(run.url(f"/cards/{everyday.card.pk}/"))
    assert page.locator("#reveal").get_attribute("data-max-display-seconds") == "330"
    # The page's clock stands still from here and moves only when the test moves it.
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)
    run.reveal(totp_code(alice.device, clock))
    more = page.get_by_role("button", name="More time")

    page.clock.run_for(25_000)
    assert page.locator("#cvv-countdown").inner_text() == "5"
    assert "Choose More time" in page.locator("#reveal-status").inner_text()
    presses = 0
    while presses < 20:
        more.click()
        presses += 1
        if more.is_disabled():
            break
        assert page.locator("#cvv-countdown").inner_text() == "30"
        page.clock.run_for(29_000)
        assert page.locator("#cvv-box").is_visible()
    # Ten full extensions and a last one up to the cap of 11 x 30 s; then time runs out.
    assert presses == 11
    assert page.locator("#cvv-box").is_visible()
    page.clock.run_for(16_000)
    assert_cvv_not_on_page(run, everyday.cvv)
    assert_clean_run(run)


def test_without_javascript_a_clear_message_and_no_reveal_form(
    open_browser, alice, everyday, clock
):
    run = open_browser()
    run.sign_in(alice, clock)
    no_script = open_browser(java_script_enabled=False)
    no_script.page.context.add_cookies(run.page.context.cookies())
    no_script.page.goto(no_script.url(f"/cards/{everyday.card.pk}/"))

    message = no_script.page.locator("#reveal-noscript")
    assert message.is_visible()
    assert "needs JavaScript" in message.inner_text()
    assert no_script.page.locator("#reveal-form").is_hidden()
    assert no_script.page.get_by_role("button", name="Show CVV").count() == 0
    assert no_script.page.get_by_text(
        "We will never ask you to read your security code"
    ).is_visible()


def test_card_with_reveal_off_says_so_and_disables_the_form(open_browser, alice, everyday, clock):
    everyday.card.reveal_enabled = False
    everyday.card.save()
    run = open_browser()
    run.sign_in(alice, clock)
    run.page.goto(run.url(f"/cards/{everyday.card.pk}/"))
    assert "turned off for this card" in run.page.locator("#reveal-blockers").inner_text()
    assert run.page.locator("#otp-code").is_disabled()
    assert run.page.locator("#reveal-button").is_disabled()
    assert_clean_run(run)


def test_wrong_code_shows_an_error_and_keeps_the_form(
    open_browser, alice, everyday, clock, provider_calls
):
    calls = provider_calls("mastercard")
    run = open_browser()
    run.sign_in(alice, clock)
    run.page.goto(run.url(f"/cards/{everyday.card.pk}/"))
    good = totp_code(alice.device, clock)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"

    run.page.locator("#otp-code").fill("12")
    run.page.locator("#reveal-button").click()
    assert "6 digits" in run.page.locator("#reveal-error").inner_text()
    assert run.page.locator("#otp-code").get_attribute("aria-invalid") == "true"

    run.page.locator("#otp-code").fill(wrong)
    run.page.locator("#reveal-button").click()
    error = run.page.locator("#reveal-error")
    error.wait_for(state="visible")
    run.page.wait_for_function(
        "!document.getElementById('reveal-error').textContent.includes('6 digits')"
    )
    assert error.get_attribute("role") == "alert"
    assert "not correct" in error.inner_text()
    assert run.page.locator("#reveal-form").is_visible()
    assert run.page.locator("#cvv-box").is_hidden()
    assert calls.count == 0
    # The failure's console entry is the browser noting the 403; nothing else went wrong.
    assert run.csp_violations == []
    assert [e for e in run.console_errors if "403" not in e] == []


def test_loading_state_while_waiting_then_locked_state_until_retry_after(
    open_browser, alice, everyday, clock
):
    run = open_browser()
    run.sign_in(alice, clock)
    page = run.page
    page.clock.install()
    page.goto(run.url(f"/cards/{everyday.card.pk}/"))
    held = []
    page.route("**/reveal", lambda route: held.append(route))

    page.locator("#otp-code").fill(totp_code(alice.device, clock))
    page.locator("#reveal-button").click()
    page.wait_for_function(
        "() => document.getElementById('reveal').getAttribute('aria-busy') === 'true'"
    )
    assert page.locator("#reveal-button").is_disabled()
    assert page.locator("#reveal-button").inner_text() == "Checking…"
    assert "asking your bank" in page.locator("#reveal-status").inner_text()
    for _ in range(200):  # the handler runs once Playwright has intercepted the request
        if held:
            break
        page.wait_for_timeout(50)
    (request,) = held
    request.continue_()  # the real answer: the page leaves the loading state and shows the code
    page.locator("#cvv-value").wait_for(state="visible")
    assert page.locator("#reveal").get_attribute("aria-busy") == "false"
    page.get_by_role("button", name="Hide now").click()

    # Too many attempts (the server's 429 with Retry-After): the form is locked for that long.
    page.unroute("**/reveal")
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)
    page.route(
        "**/reveal",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "30"},
            json={"error": {"code": "otp_throttled", "message": "Too many wrong codes. Wait."}},
        ),
    )
    page.locator("#otp-code").fill("123456")
    page.locator("#reveal-button").click()
    error = page.locator("#reveal-error")
    error.wait_for(state="visible")
    assert error.get_attribute("data-kind") == "locked"
    assert error.inner_text() == "Too many wrong codes. Wait."
    assert page.locator("#otp-code").is_disabled()
    assert page.locator("#reveal-button").is_disabled()
    page.clock.run_for(29_000)
    assert page.locator("#reveal-button").is_disabled()
    page.clock.run_for(2_000)
    assert page.locator("#reveal-button").is_enabled()
    assert page.locator("#otp-code").is_enabled()
    assert page.locator("#reveal-status").inner_text() == "You can try again now."
    assert run.csp_violations == []
    assert [e for e in run.console_errors if "429" not in e] == []


def test_mastercard_pass_through_with_oaep_sha1_opens_with_the_pages_sha1_key(
    open_browser, alice, clock, make_binding, make_canary_card, sandbox, monkeypatch
):
    # Mastercard may encrypt the CVC with RSA-OAEP SHA-1: the page then makes a SHA-1 key.
    monkeypatch.setattr(sandbox.emulator("mastercard"), "client_key_padding", "oaep-sha1")
    binding = make_binding("mastercard", pass_client_key=True, client_key_padding="oaep-sha1")
    passthrough = make_canary_card(alice.user, binding=binding, label="Pass-through SHA-1")
    run = open_browser()
    run.sign_in(alice, clock)
    run.page.goto(run.url(f"/cards/{passthrough.card.pk}/"))
    assert run.page.locator("#reveal").get_attribute("data-key-hash") == "SHA-1"

    assert run.reveal(totp_code(alice.device, clock)) == passthrough.cvv
    (answer,) = run.response_for(f"/cards/{passthrough.card.pk}/reveal")
    assert json.loads(answer.body)["scheme"] == "rsa-oaep-sha1-hex"
    assert not holds_cvv(answer.body, passthrough.cvv)
    assert run.csp_violations == []


def test_mastercard_pass_through_reveals_in_the_browser_without_plaintext_on_our_server(
    open_browser, alice, clock, make_binding, make_canary_card, provider_calls
):
    binding = make_binding("mastercard", pass_client_key=True)
    passthrough = make_canary_card(alice.user, binding=binding, label="Pass-through")
    calls = provider_calls("mastercard")
    run = open_browser()
    run.sign_in(alice, clock)
    run.page.goto(run.url(f"/cards/{passthrough.card.pk}/"))

    assert run.reveal(totp_code(alice.device, clock)) == passthrough.cvv
    (answer,) = run.response_for(f"/cards/{passthrough.card.pk}/reveal")
    data = json.loads(answer.body)
    assert data["scheme"] == "rsa-oaep-256-hex"
    # The key Mastercard encrypted to is the page's own: the header carried the SPKI it sent.
    (posted,) = [r for r in run.requests if r.url.endswith("/reveal")]
    (sent_key,) = parse_qs(posted.post_data)["public_key"]
    header = calls.requests[-1].header("Customer-Public-Rsa-Key")
    assert header == base64.b64decode(sent_key).hex().upper()
    assert not holds_cvv(answer.body, passthrough.cvv)
    run.page.get_by_role("button", name="Hide now").click()

    # The same ciphertext in base64 (the other form Mastercard may use) opens too.
    def as_base64(route) -> None:
        response = route.fetch()
        body = response.json()
        if "sealed" in body:
            body["sealed"] = base64.b64encode(bytes.fromhex(body["sealed"])).decode()
            body["scheme"] = "rsa-oaep-256-base64"
        route.fulfill(response=response, json=body)

    run.page.route("**/reveal", as_base64)
    clock.advance(30)
    assert run.reveal(totp_code(alice.device, clock)) == passthrough.cvv
    run.page.get_by_role("button", name="Hide now").click()

    # A scheme the page cannot open gets a clear error, not a blank or a guess.
    def as_pkcs1(route) -> None:
        response = route.fetch()
        body = response.json()
        body["scheme"] = "rsa-pkcs1v15-hex"
        route.fulfill(response=response, json=body)

    run.page.unroute("**/reveal")
    run.page.route("**/reveal", as_pkcs1)
    clock.advance(30)
    run.page.locator("#otp-code").fill(totp_code(alice.device, clock))
    run.page.locator("#reveal-button").click()
    run.page.locator("#reveal-error").wait_for(state="visible")
    assert "cannot open" in run.page.locator("#reveal-error").inner_text()
    assert run.page.locator("#cvv-box").is_hidden()
    assert_clean_run(run)


def test_every_page_carries_a_strict_policy_and_loads_nothing_from_elsewhere(
    open_browser, alice, everyday, clock
):
    run = open_browser()
    run.sign_in(alice, clock)
    run.page.goto(run.url(f"/cards/{everyday.card.pk}/"))
    run.page.goto(run.url("/activity/"))
    pages = [
        r for r in run.responses if r.status == 200 and "text/html" in r.headers["content-type"]
    ]
    assert len(pages) >= 4
    for response in pages:
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["cross-origin-opener-policy"] == "same-origin"
        assert response.headers["referrer-policy"]
        assert response.headers["permissions-policy"]
    elsewhere = [r.url for r in run.responses if not r.url.startswith((run.base_url, "data:"))]
    assert elsewhere == []
    assert_clean_run(run)
