"""Onboarding in Chromium: an invitation's link to a password and the authenticator set-up, a
password reset by email, and sign-in with the bank's identity provider (a real OpenID provider
process); each page without axe-core violations, console errors or CSP violations."""

from __future__ import annotations

import re
from base64 import b32decode
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.invitations import invitation_send
from cardreveal.accounts.models import ExternalIdentity
from tests.accounts.test_bank_sign_in import BACKEND, configure
from tests.browser.axe import axe_violations
from tests.browser.conftest import BrowserRun
from tests.conftest import totp_code
from tests.oidc_provider.server import BankUser, RunningProvider, running_provider

pytestmark = pytest.mark.browser

PASSPHRASE = "my-own-first-passphrase-21"
BANK_PERSON = BankUser("BANK-0777", "online-banking-secret", "CN-0777")


def clean(run: BrowserRun, axe: str, what: str, *, status: int = 200) -> None:
    """No axe violation, CSP violation or console error; a page answered with an error `status`
    on purpose logs that status, and nothing else."""
    assert axe_violations(run.page, axe) == [], what
    expected = f"the server responded with a status of {status}"
    assert [e for e in run.console_errors if expected not in e] == [], what
    assert run.csp_violations == [], what


def enrol_with_the_shown_key(run: BrowserRun, clock: Any) -> None:
    page = run.page
    page.wait_for_url(re.compile(r"/accounts/enrol/$"))
    secret = "".join(page.locator(".secret span").all_inner_texts()).replace(" ", "")
    totp = TOTP(b32decode(secret), 30, 0, 6, 0)
    totp.time = clock.now
    page.get_by_label("Enter the 6-digit code the app shows").fill(f"{totp.token():06d}")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("backup codes", exact=False).first.wait_for()


def test_invitation_link_to_a_password_and_the_authenticator(
    open_browser, axe, live_server, settings, clock, transactional_db
):
    settings.CARDREVEAL_SITE_URL = live_server.url
    user = get_user_model().objects.create_user(username="ivy", email="ivy@example.com")
    invitation_send(user=user, by=None)
    link = re.search(r"http://\S+/accounts/invitation/\?token=\S+", mail.outbox[-1].body).group(0)

    run = open_browser()
    page = run.page
    page.goto(link)
    page.get_by_role("heading", name="Choose your password").wait_for()
    assert "ivy" in page.locator("main").inner_text()
    clean(run, axe, "invitation page")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Set password and continue").click()
    page.get_by_text("This password is too short").wait_for()
    page.get_by_label("New password", exact=True).fill(PASSPHRASE)
    page.get_by_label("New password again").fill(PASSPHRASE)
    page.get_by_role("button", name="Set password and continue").click()
    page.wait_for_url(re.compile(r"/accounts/enrol/$"))
    assert "Your password is set. Now set up your authenticator app." in page.inner_text("main")
    clean(run, axe, "enrolment after the invitation")
    enrol_with_the_shown_key(run, clock)
    page.goto(run.url("/"))
    assert page.url == run.url("/")

    # The same link in another browser: used, and the page says what to do.
    other = open_browser()
    other.page.goto(link)
    other.page.get_by_role("heading", name="This invitation link can't be used").wait_for()
    assert "already been used to set a password" in other.page.inner_text("main")
    assert other.page.get_by_role("link", name="+44 20 7946 0000").is_visible()
    clean(other, axe, "used invitation page", status=410)


def test_password_reset_by_email_then_sign_in_with_the_new_password(
    open_browser, axe, alice, clock
):
    run = open_browser()
    page = run.page
    page.goto(run.url("/accounts/login/"))
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address").fill("alice@example.com")
    clean(run, axe, "reset request page")
    page.get_by_role("button", name="Email me a link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    clean(run, axe, "reset sent page")

    (message,) = mail.outbox
    link = re.search(r"http://\S+/accounts/password/reset/\S+/\S+/", message.body).group(0)
    assert link.startswith(run.base_url)
    page.goto(link)
    page.get_by_role("heading", name="Choose a new password").wait_for()
    page.get_by_label("New password", exact=True).fill(PASSPHRASE)
    page.get_by_label("New password again").fill(PASSPHRASE)
    page.get_by_role("button", name="Set new password").click()
    page.get_by_role("heading", name="Your password has been reset").wait_for()
    clean(run, axe, "reset complete page")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSPHRASE)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/accounts/verify/"))
    page.get_by_label("Code").fill(totp_code(alice.device, clock))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(run.url("/"))
    assert "password was changed" in " ".join(m.subject for m in mail.outbox)

    # The emailed link is spent.
    page.goto(link)
    page.get_by_role("heading", name="This reset link can't be used").wait_for()


@pytest.fixture(scope="module")
def provider(tmp_path_factory, live_server) -> Iterator[RunningProvider]:
    with running_provider(
        workdir=tmp_path_factory.mktemp("op"),
        redirect_uris=[f"{live_server.url}/accounts/bank/callback/"],
        users=[BANK_PERSON],
    ) as running:
        yield running


def test_sign_in_with_the_bank_then_our_code(
    open_browser, axe, provider, settings, clock, transactional_db
):
    configure(settings, provider)
    assert BACKEND in settings.AUTHENTICATION_BACKENDS
    user = get_user_model().objects.create_user(username="jun", email="jun@example.com")
    ExternalIdentity.objects.create(user=user, external_id=BANK_PERSON.username)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)

    run = open_browser()
    page = run.page
    page.goto(run.url("/accounts/login/"))
    clean(run, axe, "sign-in page with the bank's button")
    page.get_by_role("link", name="Sign in with Example Bank").click()
    page.wait_for_url(re.compile(re.escape(provider.url) + r"/login/"))
    page.get_by_label("Customer number").fill(BANK_PERSON.username)
    page.get_by_label("Password").fill(BANK_PERSON.password)
    page.get_by_role("button", name="Sign in to the bank").click()
    page.wait_for_url(re.compile(r"/accounts/verify/"))
    page.get_by_label("Code").fill(totp_code(device, clock))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(run.url("/"))
