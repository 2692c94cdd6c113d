"""Browser fixtures: the system Chromium driven by Playwright against the live server and the sandbox,
with every response body, console error and CSP violation of the run recorded."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from providers.sandbox.core import SandboxCard
from tests.conftest import Cardholder, Clock, totp_code

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Generous ceilings for waits on a loaded 2-core machine; waits end as soon as the page is ready.
WAIT_MS = 20_000

# Reports securitypolicyviolation events to the test before any page script runs.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCsp(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless system Chromium per module; skipped (with the reason) when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed; .ci/run installs it with apt-get")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running on this thread while it is started, and
    # Django refuses ORM calls on a thread with a running loop. The loop only serves Playwright and
    # never runs while the test's own code does, so the guard is lifted for these modules only.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield launched
            launched.close()


@dataclass
class Recorded:
    """A response as the browser received it."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Sent:
    """A request as the browser sent it."""

    url: str
    method: str
    post_data: str
    headers: dict[str, str]


@dataclass
class BrowserRun:
    """A page in a fresh browser context, and everything it received or complained about."""

    page: Any
    base_url: str
    requests: list[Sent] = field(default_factory=list)
    responses: list[Recorded] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def sign_in(self, holder: Cardholder, clock: Clock) -> None:
        """Password, then the TOTP code of this step; leaves the clock one step on, so the next
        code (the reveal's) is a different one."""
        page = self.page
        page.goto(self.url("/accounts/login/"))
        page.get_by_label("Username").fill(holder.user.username)  # type: ignore[attr-defined]
        page.get_by_label("Password").fill(holder.password)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(re.compile(r"/accounts/verify/"))
        page.get_by_label("Code").fill(totp_code(holder.device, clock))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_url(self.url("/"))
        clock.advance(30)

    def reveal(self, code: str) -> str:
        """Type the code, press Show CVV, and return the CVV the page shows."""
        page = self.page
        page.locator("#otp-code").fill(code)
        page.locator("#reveal-button").click()
        page.locator("#cvv-value").wait_for(state="visible", timeout=WAIT_MS)
        return str(page.locator("#cvv-value").inner_text()).strip()

    def response_for(self, path_suffix: str) -> list[Recorded]:
        return [r for r in self.responses if r.url.endswith(path_suffix)]


# A phone-sized browser: 390 px wide, touch, no hover (open_browser(**PHONE)).
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture
def open_browser(browser: Any, live_server: Any) -> Iterator[Callable[..., BrowserRun]]:
    """open_browser(java_script_enabled=True, **context_options) -> a BrowserRun on the live
    server, recording. context_options are Playwright's new_context ones (color_scheme="dark",
    timezone_id, **PHONE); the default is a 1100 x 820 desktop window."""
    contexts: list[Any] = []

    def make(*, java_script_enabled: bool = True, **context_options: Any) -> BrowserRun:
        context = browser.new_context(
            java_script_enabled=java_script_enabled,
            **{"viewport": {"width": 1100, "height": 820}, **context_options},
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        run = BrowserRun(page=page, base_url=live_server.url)

        def record(response: Any) -> None:
            try:
                body = response.body()
            except Exception:  # redirects and aborted loads have no body to read
                body = b""
            run.responses.append(
                Recorded(response.url, response.status, dict(response.headers), body)
            )

        context.on("response", record)
        context.on(
            "request",
            lambda request: run.requests.append(
                Sent(request.url, request.method, request.post_data or "", dict(request.headers))
            ),
        )

        def report_csp(violation: str) -> None:
            run.csp_violations.append(violation)

        context.expose_function("__reportCsp", report_csp)
        context.add_init_script(CSP_LISTENER)
        page.on(
            "console",
            lambda message: (
                run.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: run.console_errors.append(str(error)))
        return run

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def axe() -> str:
    """axe-core's axe.min.js (tests/browser/axe.py), for axe_violations(page, axe)."""
    from tests.browser.axe import axe_script

    return axe_script()


@pytest.fixture
def short_display(settings: Any) -> int:
    """The CVV stays on screen 5 seconds (the least CARDREVEAL_REVEAL_SECONDS allows)."""
    settings.CARDREVEAL_REVEAL_SECONDS = 5
    return 5


@dataclass
class CanaryCard:
    """A card whose sandbox CVV is an unusual 4-digit value, to be searched for everywhere."""

    card: Any
    cvv: str


@pytest.fixture
def make_canary_card(sandbox: Any, make_card: Callable[..., Any]) -> Callable[..., CanaryCard]:
    """make_canary_card(owner, binding=None, label=...) -> a Mastercard sandbox card with a fresh CVV."""

    def make(owner: Any, *, binding: Any = None, label: str = "Everyday") -> CanaryCard:
        emulator = sandbox.emulator("mastercard")
        cvv = f"{random.randint(1000, 9999)}"
        contract = f"{random.randint(900000, 999999)}"
        emulator.add_card(
            SandboxCard(
                reference={"card_contract_id": contract},
                cvv=cvv,
                expiry_month=4,
                expiry_year=2030,
                label=label,
            )
        )
        card = make_card(
            owner, binding=binding, reference={"card_contract_id": contract}, label=label
        )
        return CanaryCard(card=card, cvv=cvv)

    return make


def holds_cvv(text: str | bytes, cvv: str) -> bool:
    """True when `cvv` appears as a value of its own: not as a run inside longer hex, base64 or
    decimal text (a 4-digit run occurs by chance in a ciphertext, a uuid or a token). "=" is a
    boundary: base64 has it only as trailing padding, and "name=7931" must count."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return re.search(rf"(?<![0-9A-Za-z+/_-]){re.escape(cvv)}(?![0-9A-Za-z+/_-])", text) is not None
