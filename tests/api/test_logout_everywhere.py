"""POST /api/v1/auth/logout-all signs the cardholder out everywhere: every API token and every web
session, with either session engine production may use; other people stay signed in."""

from __future__ import annotations

import pytest
from django.test import Client

from cardreveal.audit.models import AuthEvent
from tests.api.conftest import assert_error, client_with, token_for
from tests.conftest import sign_in


@pytest.fixture(params=["db", "cached_db"])
def session_engine(request, settings):
    """With cached_db a session's cached copy must go too, or the browser stays signed in."""
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{request.param}"
    return request.param


def browser_of(holder, clock) -> Client:
    browser = Client()
    sign_in(browser, holder, clock)
    assert browser.get("/").status_code == 200
    return browser


def is_signed_out(browser: Client) -> bool:
    response = browser.get("/")
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_logout_all_signs_every_browser_out_at_its_next_request(
    session_engine, alice, bob, clock, no_throttles
):
    laptop, phone_browser = browser_of(alice, clock), browser_of(alice, clock)
    bobs_browser = browser_of(bob, clock)
    phone_app, tablet_app = token_for(alice, clock), token_for(alice, clock)

    response = client_with(phone_app).post("/api/v1/auth/logout-all")

    assert response.status_code == 204
    assert is_signed_out(laptop)
    assert is_signed_out(phone_browser)
    for token in (phone_app, tablet_app):
        assert_error(client_with(token).get("/api/v1/cards"), 401, "authentication_failed")
    assert bobs_browser.get("/").status_code == 200


def test_a_browser_signed_out_everywhere_must_sign_in_again_with_a_code(
    session_engine, alice, clock, no_throttles
):
    laptop = browser_of(alice, clock)
    client_with(token_for(alice, clock)).post("/api/v1/auth/logout-all")
    assert is_signed_out(laptop)
    assert_error(laptop.get("/api/v1/cards"), 401, "not_authenticated")
    sign_in(laptop, alice, clock)
    assert laptop.get("/").status_code == 200


def test_logout_all_sent_with_the_users_own_session_cookie_answers_and_ends_it(
    time_machine, session_engine, alice, clock, no_throttles
):
    # An app's web view may carry the session cookie with the token: that session is one of
    # those ended, and the answer must not fail trying to save it back (as the session
    # middleware does once its idle expiry is due to move, a minute on).
    webview = browser_of(alice, clock)
    token = token_for(alice, clock)
    time_machine.advance(seconds=61)
    response = webview.post("/api/v1/auth/logout-all", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 204
    assert is_signed_out(webview)


def test_logout_all_is_audited_once_as_a_sign_out(alice, clock, no_throttles):
    browser_of(alice, clock)
    before = AuthEvent.objects.filter(event=AuthEvent.Event.LOGOUT).count()
    client_with(token_for(alice, clock)).post("/api/v1/auth/logout-all")
    assert AuthEvent.objects.filter(event=AuthEvent.Event.LOGOUT).count() == before + 1
