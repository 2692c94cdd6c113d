"""The interactive API docs really run in Chromium under the strict CSP: every operation is listed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCsp(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def chromium(monkeypatch):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed; .ci/run installs it with apt-get")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an asyncio loop on this thread; Django's ORM guard would refuse
    # the live server's fixtures on it. The loop never runs while Django code does.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_swagger_ui_lists_every_operation_with_no_script_blocked(chromium, live_server, client):
    schema = client.get("/api/v1/schema/?format=json").json()
    operations = sum(len(ops) for ops in schema["paths"].values())

    page = chromium.new_page()
    violations: list[str] = []
    errors: list[str] = []
    outside: list[str] = []
    page.expose_function("__reportCsp", lambda text: violations.append(text))
    page.add_init_script(CSP_LISTENER)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((live_server.url, "data:"))
            else outside.append(request.url)
        ),
    )
    response = page.goto(f"{live_server.url}/api/v1/docs/")
    assert response.status == 200
    assert "script-src 'self' 'nonce-" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() == operations
    assert page.locator(".info .title").inner_text().startswith("cardreveal API")
    if os.environ.get("CARDREVEAL_SCREENSHOTS"):
        page.screenshot(path=os.environ["CARDREVEAL_SCREENSHOTS"], full_page=False)
    assert errors == []
    assert [v for v in violations if v.startswith("script-src")] == []
    assert outside == []  # nothing from a CDN or anywhere else
