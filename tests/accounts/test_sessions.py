"""Session lifetime (T-IDLE-1): 15 minutes idle, 12 hours absolute however active, a fresh session
key after the password and after the code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.receivers import SESSION_SIGNED_IN_AT
from tests.conftest import sign_in, totp_code


@pytest.fixture
def browser(client, alice, clock, wall_clock):
    """alice signed in and verified at 10:00:00 UTC (the wall clock)."""
    sign_in(client, alice, clock)
    assert client.get("/").status_code == 200
    return client


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_an_idle_session_lasts_15_minutes_and_no_longer(browser, wall_clock):
    wall_clock.advance(minutes=14, seconds=59)
    assert signed_in(browser)  # and this request pushes the expiry out again
    wall_clock.advance(minutes=15, seconds=1)
    assert not signed_in(browser)
    assert browser.get("/").url.startswith("/accounts/login/")


def stored_expiry(client):
    return Session.objects.get(session_key=client.cookies["sessionid"].value).expire_date


def session_writes(client, path="/") -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return sum('UPDATE "django_session"' in q["sql"] for q in queries.captured_queries)


def test_an_unchanged_session_is_written_back_at_most_once_a_minute(browser, wall_clock):
    signed_in_expiry = stored_expiry(browser)
    wall_clock.advance(seconds=59)
    assert session_writes(browser) == 0
    assert stored_expiry(browser) == signed_in_expiry
    wall_clock.advance(seconds=1)
    assert session_writes(browser) == 1
    assert stored_expiry(browser) == wall_clock.now + timedelta(minutes=15)
    assert session_writes(browser) == 0


def test_an_idle_session_ends_within_15_minutes_of_its_last_request(browser, wall_clock):
    # The request at +30 s does not move the expiry (the session was saved less than a minute
    # before), so the session ends 15 minutes after sign-in: 14:30 after its last request. The
    # refresh interval can only shorten the idle timeout, never lengthen it.
    wall_clock.advance(seconds=30)
    assert signed_in(browser)
    wall_clock.advance(minutes=14, seconds=29)
    assert stored_expiry(browser) > wall_clock.now
    wall_clock.advance(seconds=1)
    assert not signed_in(browser)


def test_activity_cannot_keep_a_session_past_12_hours(browser, wall_clock):
    for _ in range(12 * 6 - 1):  # a request every 10 minutes up to 11:50 after sign-in
        wall_clock.advance(minutes=10)
        assert signed_in(browser)
    wall_clock.advance(minutes=9, seconds=59)
    assert signed_in(browser)
    wall_clock.advance(seconds=1)  # 12:00:00 after sign-in
    response = browser.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert b"signed out 12 hours after signing in" in response.content
    assert SESSION_KEY not in browser.session


def test_the_cap_counts_from_the_password_not_the_code(client, alice, clock, wall_clock):
    client.post("/accounts/login/", {"username": "alice", "password": alice.password})
    wall_clock.advance(minutes=10)
    client.post("/accounts/verify/", {"code": totp_code(alice.device, clock)})
    assert client.session[SESSION_SIGNED_IN_AT] == int(wall_clock.now.timestamp()) - 600


def test_a_signed_in_session_without_a_sign_in_time_is_ended(browser):
    session = browser.session
    del session[SESSION_SIGNED_IN_AT]
    session.save()
    assert not signed_in(browser)


def test_the_session_key_changes_after_the_password_and_after_the_code(client, alice, clock):
    session = client.session
    session["visited"] = True
    session.save()
    before = session.session_key
    client.post("/accounts/login/", {"username": "alice", "password": alice.password})
    after_password = client.session.session_key
    assert after_password != before
    client.post("/accounts/verify/", {"code": totp_code(alice.device, clock)})
    assert client.session.session_key not in (before, after_password)


@pytest.mark.parametrize("tampered", ["bob's device", "not a number", "unknown kind", "deleted"])
def test_a_session_is_verified_only_by_a_device_that_is_still_the_users(
    browser, bob, alice, tampered
):
    session = browser.session
    device_id = {
        "bob's device": bob.device.persistent_id,
        "not a number": "otp_totp.totpdevice/1x",
        "unknown kind": "otp_email.emaildevice/1",
        "deleted": alice.device.persistent_id,
    }[tampered]
    if tampered == "deleted":
        alice.device.delete()
    session[DEVICE_ID_SESSION_KEY] = device_id
    session.save()
    response = browser.get("/")
    assert response.status_code == 302
    # without her only authenticator, she is sent to set one up; otherwise, to enter a code
    expected = "/accounts/enrol/" if tampered == "deleted" else "/accounts/verify/"
    assert response["Location"].startswith(expected)


def test_an_unconfirmed_device_ends_the_sessions_verification_for_good(browser, alice):
    TOTPDevice.objects.filter(pk=alice.device.pk).update(confirmed=False)
    assert browser.get("/")["Location"].startswith("/accounts/enrol/")
    TOTPDevice.objects.filter(pk=alice.device.pk).update(confirmed=True)
    assert browser.get("/")["Location"].startswith("/accounts/verify/")  # a new code is needed


def test_a_deactivated_account_is_signed_out_at_its_next_request(browser, alice):
    type(alice.user).objects.filter(pk=alice.user.pk).update(is_active=False)
    assert browser.get("/")["Location"].startswith("/accounts/login/")
