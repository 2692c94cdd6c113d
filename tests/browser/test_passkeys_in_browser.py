"""Passkeys in Chromium, with the DevTools virtual authenticator (the WebAuthn domain of the Chrome
DevTools Protocol, through Playwright's CDP session) as the phone's passkey: enrol one, reveal with
it, the same assertion replayed and an assertion for another card refused; and the phishing test, a
real-time relay on another origin that gets nothing with a passkey and everything with a code."""

from __future__ import annotations

import http.client
import json
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from cardreveal.accounts.models import PasskeyChallenge
from cardreveal.audit.models import AuthEvent, RevealEvent
from tests.browser.axe import axe_violations
from tests.browser.conftest import WAIT_MS, BrowserRun, holds_cvv
from tests.conftest import Cardholder, make_client_key, totp_code

pytestmark = pytest.mark.browser

# Set CARDREVEAL_SCREENSHOTS to a folder (docs/screenshots) to refresh docs/passkeys.md's pictures.
SCREENSHOTS = os.environ.get("CARDREVEAL_SCREENSHOTS", "")


def screenshot(run: BrowserRun, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        run.page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


# ---------------------------------------------------------------------------------- the authenticator


class VirtualAuthenticator:
    """A platform passkey authenticator in one page's browser: CTAP2, built in ("internal"), with
    user verification (the fingerprint) that always succeeds, and presence simulated."""

    def __init__(self, page: Any) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable")
        self.id = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )["authenticatorId"]

    def credentials(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": self.id}
        )["credentials"]
        return found

    def add(self, credential: dict[str, Any]) -> None:
        """The same passkey on this authenticator (as a synced passkey is on every device)."""
        self.cdp.send(
            "WebAuthn.addCredential", {"authenticatorId": self.id, "credential": credential}
        )


@pytest.fixture
def passkeys_here(settings: Any, live_server: Any) -> str:
    """Passkeys for the live server: RP ID "localhost", its origin the only one allowed. Adding a
    passkey starts the usual cool-off; tests turn it off once they have seen it."""
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    return str(live_server.url)


def enrol(run: BrowserRun, name: str) -> None:
    page = run.page
    page.goto(run.url("/accounts/passkeys/"))
    page.get_by_label("Name it after the device it is on").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    page.locator("#passkey-list strong").get_by_text(name, exact=True).wait_for(timeout=WAIT_MS)


def reveal_with_passkey(run: BrowserRun, card: Any) -> str:
    page = run.page
    page.goto(run.url(f"/cards/{card.pk}/"))
    page.locator("#passkey-button").click()
    page.locator("#cvv-value").wait_for(state="visible", timeout=WAIT_MS)
    return str(page.locator("#cvv-value").inner_text()).strip()


def reveal_posts(run: BrowserRun, card: Any) -> list[str]:
    return [
        r.post_data
        for r in run.requests
        if r.method == "POST" and r.url.endswith(f"/cards/{card.pk}/reveal")
    ]


# Sends a form POST from the page itself (same origin, its session and CSRF token), as a script on
# the page could: returns the status and the JSON answer.
POST_FROM_PAGE = """async ([url, body]) => {
  const token = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const response = await fetch(url, {method: "POST", body: body, credentials: "same-origin",
    headers: {"X-CSRFToken": token, "Content-Type": "application/x-www-form-urlencoded"}});
  return [response.status, await response.json()];
}"""

# On one card's page: a fresh key, the challenge for `otherCard`, the passkey's answer to it,
# then that answer sent to reveal `thisCard`.
CROSS_CARD = """async ([challengeUrl, revealUrl]) => {
  const token = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const keys = await crypto.subtle.generateKey({name: "RSA-OAEP", modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256"}, false, ["encrypt", "decrypt"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const key = btoa(String.fromCharCode(...spki));
  const post = (url, fields) => fetch(url, {method: "POST", credentials: "same-origin",
    headers: {"X-CSRFToken": token}, body: new URLSearchParams(fields)});
  const options = (await (await post(challengeUrl, {public_key: key})).json()).request_options;
  const credential = await navigator.credentials.get(
    {publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)});
  const response = await post(revealUrl,
    {public_key: key, passkey_assertion: JSON.stringify(credential.toJSON())});
  return [response.status, await response.json()];
}"""


def test_enrol_a_passkey_then_reveal_with_it_replay_and_cross_card_refused(
    open_browser, alice, make_canary_card, clock, passkeys_here, settings, mailoutbox, axe
):
    everyday = make_canary_card(alice.user, label="Everyday")
    travel = make_canary_card(alice.user, binding=everyday.card.binding, label="Travel")
    run = open_browser()
    phone = VirtualAuthenticator(run.page)
    run.sign_in(alice, clock)

    enrol(run, "Work laptop")

    assert len(phone.credentials()) == 1
    assert 'Passkey "Work laptop" added' in run.page.locator(".messages").inner_text()
    assert any("passkey" in m.subject for m in mailoutbox)
    screenshot(run, "passkeys-list.png")
    assert axe_violations(run.page, axe) == []
    # The first hour after a new passkey: told on the card's page, before anything is asked.
    run.page.goto(run.url(f"/cards/{everyday.card.pk}/"))
    assert "cannot be shown until" in run.page.locator("#reveal-blockers").inner_text()
    assert run.page.locator("#passkey-button").is_disabled()
    settings.CARDREVEAL_REVEAL_COOLOFF_SECONDS = 0

    run.page.goto(run.url(f"/cards/{everyday.card.pk}/"))
    screenshot(run, "reveal-passkey.png")
    assert axe_violations(run.page, axe) == []
    assert reveal_with_passkey(run, everyday.card) == everyday.cvv
    screenshot(run, "reveal-passkey-shown.png")
    assert RevealEvent.objects.filter(outcome="revealed", card=everyday.card).count() == 1

    # The very request the page sent, sent again from the page: the assertion is spent.
    sent = reveal_posts(run, everyday.card)
    assert len(sent) == 1
    assert "passkey_assertion" in sent[0]
    status, answer = run.page.evaluate(
        POST_FROM_PAGE, [run.url(f"/cards/{everyday.card.pk}/reveal"), sent[0]]
    )
    assert (status, answer["error"]["code"]) == (403, "passkey_replayed")
    assert "already been used" in answer["error"]["message"]

    # A passkey answer made for the travel card does not reveal the everyday card.
    status, answer = run.page.evaluate(
        CROSS_CARD,
        [
            run.url(f"/cards/{travel.card.pk}/reveal/challenge"),
            run.url(f"/cards/{everyday.card.pk}/reveal"),
        ],
    )
    assert (status, answer["error"]["code"]) == (403, "passkey_wrong_binding")
    assert not holds_cvv(json.dumps(answer), everyday.cvv)
    refused = RevealEvent.objects.filter(outcome="refused").values_list("reason", flat=True)
    assert sorted(refused) == ["passkey_replayed", "passkey_wrong_binding"]
    assert run.csp_violations == []


def test_sign_in_with_a_passkey_as_the_second_factor(
    open_browser, alice, clock, passkeys_here, settings
):
    run = open_browser()
    phone = VirtualAuthenticator(run.page)
    run.sign_in(alice, clock)
    enrol(run, "Phone")
    run.page.get_by_role("button", name="Sign out").click()
    assert phone.credentials()

    page = run.page
    page.goto(run.url("/accounts/login/"))
    page.get_by_label("Username").fill(alice.user.username)
    page.get_by_label("Password").fill(alice.password)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/accounts/verify/"))
    screenshot(run, "sign-in-passkey.png")
    page.get_by_role("button", name="Use your passkey").click()

    page.wait_for_url(run.url("/"))
    assert page.get_by_role("link", name="Cards").is_visible()
    assert AuthEvent.objects.filter(event="login", user=alice.user).count() == 2


def test_passwordless_sign_in_when_the_bank_turns_it_on(
    open_browser, alice, clock, passkeys_here, settings
):
    settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = True
    run = open_browser()
    phone = VirtualAuthenticator(run.page)
    run.sign_in(alice, clock)
    enrol(run, "Phone")
    assert phone.credentials()[0]["isResidentCredential"]  # discoverable: it names its owner
    run.page.get_by_role("button", name="Sign out").click()

    run.page.goto(run.url("/accounts/login/"))
    run.page.get_by_role("button", name="Sign in with a passkey").click()

    run.page.wait_for_url(run.url("/"))
    assert run.page.get_by_role("link", name="Cards").is_visible()
    assert run.console_errors == []


def test_the_admin_signs_in_with_password_and_a_passkey(
    open_browser, staff, clock, passkeys_here, settings
):
    user, device = staff
    run = open_browser()
    VirtualAuthenticator(run.page)
    run.sign_in(Cardholder(user, device, "pw-root-long-enough"), clock)
    enrol(run, "Admin key")
    run.page.get_by_role("button", name="Sign out").click()

    page = run.page
    page.goto(run.url("/admin/login/?next=/admin/"))
    page.locator("#id_username").fill("root")
    page.locator("#id_password").fill("pw-root-long-enough")
    screenshot(run, "admin-sign-in-passkey.png")
    page.get_by_role("button", name="Use a passkey instead of a code").click()

    page.wait_for_url(run.url("/admin/"))
    assert page.locator(".app-cards").is_visible()
    assert run.csp_violations == []


# ---------------------------------------------------------------------------------- the phishing test


class Relay:
    """A real-time phishing relay: a reverse proxy on its own port that forwards every request to
    the site and every answer back, rewriting Host, Origin and Referer on the way in and Location
    on the way out, as a phishing kit does, so the site sees its own origin in every header. It
    also swaps the page's public key for the kit's own in every request that carries one, and
    opens what comes back sealed to it: `stolen` is what the kit got."""

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.kit_key = make_client_key()
        self.stolen: list[str] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if body and b"public_key=" in body:
                    fields = parse_qs(body.decode(), keep_blank_values=True)
                    fields["public_key"] = [relay.kit_key.public_b64]
                    body = urlencode(fields, doseq=True).encode()
                skip = ("host", "content-length")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                headers["Host"] = relay.target.netloc
                for name in ("Origin", "Referer"):
                    if name in headers:
                        headers[name] = headers[name].replace(relay.url, relay.site)
                upstream = http.client.HTTPConnection(relay.target.netloc, timeout=30)
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                relay.seen.append((self.command, self.path, answer.status, data))
                if b'"sealed"' in data:
                    relay.stolen.append(relay.kit_key.open(json.loads(data)["sealed"]))
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() in ("transfer-encoding", "connection", "content-length"):
                        continue
                    if name.lower() == "location":
                        value = value.replace(relay.site, relay.url)
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.site = f"{self.target.scheme}://{self.target.netloc}"
        # Same host name, another port: another origin, and "localhost" is still a valid RP ID
        # there, so the browser does sign; only the origin in the signed data gives it away.
        self.url = f"http://localhost:{self.server.server_address[1]}"
        self.seen: list[tuple[str, str, int, bytes]] = []
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def relay(live_server: Any) -> Iterator[Relay]:
    running = Relay(live_server.url)
    yield running
    running.stop()


def test_phishing_relay_gets_nothing_with_a_passkey_but_everything_with_a_code(
    open_browser, alice, make_canary_card, clock, passkeys_here, relay, settings
):
    everyday = make_canary_card(alice.user, label="Everyday")
    settings.CARDREVEAL_REVEAL_COOLOFF_SECONDS = 0
    # Alice's passkey, made on the real site.
    real = open_browser()
    phone = VirtualAuthenticator(real.page)
    real.sign_in(alice, clock)
    enrol(real, "Phone")
    (passkey,) = phone.credentials()

    # A lure sends her to the relay. She signs in there (the kit passes password and code on).
    victim = open_browser()
    victim.base_url = relay.url
    VirtualAuthenticator(victim.page).add(passkey)
    victim.sign_in(alice, clock)
    victim.page.goto(victim.url(f"/cards/{everyday.card.pk}/"))
    assert victim.page.url.startswith(relay.url)

    # The passkey: the kit swaps in its own key for the challenge and the reveal alike (so the
    # card and key binding holds), the browser signs, but for the relay's origin: refused.
    victim.page.locator("#passkey-button").click()
    error = victim.page.locator("#reveal-error")
    error.wait_for(state="visible", timeout=WAIT_MS)
    assert "different website" in error.inner_text()
    assert victim.page.locator("#cvv-box").is_hidden()
    screenshot(victim, "passkey-phishing-refused.png")
    refusal = RevealEvent.objects.get(card=everyday.card)
    assert (refusal.outcome, refusal.reason) == ("refused", "passkey_wrong_origin")
    assert PasskeyChallenge.objects.filter(purpose="reveal", used_at__isnull=False).count() == 1
    assert relay.stolen == []

    # The same relay with a code from the authenticator app: the kit passes the code on within
    # its 30 seconds with its own key, and opens the CVV itself. This is why passkeys exist.
    victim.page.locator("#code-fallback summary").click()
    victim.page.locator("#otp-code").fill(totp_code(alice.device, clock))
    victim.page.locator("#reveal-button").click()
    error.wait_for(state="visible", timeout=WAIT_MS)  # the page cannot open what the kit sealed
    assert relay.stolen == [everyday.cvv], "a relayed TOTP code hands the CVV to the phishing kit"
    revealed = RevealEvent.objects.get(card=everyday.card, outcome="revealed")
    assert revealed.reason == "ok"
