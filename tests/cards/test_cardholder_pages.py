"""The cardholder's pages as rendered by the server: whole labels, the bank's name, expired cards,
times a script can localise, readable device names, and activity a page at a time, each event once."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.test import Client

from cardreveal.audit.models import AuthEvent
from cardreveal.audit.selectors import activity_for_user
from cardreveal.audit.services import auth_event_record
from cardreveal.client_info import UNKNOWN_DEVICE, ClientInfo, device_name
from tests.conftest import totp_code

CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)


# ---------------------------------------------------------------------------------- card list


def test_card_list_shows_a_long_label_whole(signed_in, alice, make_card):
    label = "Joint account for the household bills and the car"  # 49 characters
    make_card(alice.user, label=label)
    body = signed_in.get("/").content.decode()
    assert f'<span class="card-label">{label}</span>' in body


def test_card_list_names_the_issuing_bank_never_the_internal_binding(signed_in, alice, make_card):
    card = make_card(alice.user)
    card.binding.issuer_name = "Northwind Bank"
    card.binding.save()
    body = signed_in.get("/").content.decode()
    assert "Issued by Northwind Bank" in body
    assert card.binding.name not in body  # "mastercard test 0"


def test_a_binding_without_an_issuer_name_shows_no_issuer_line(signed_in, alice, make_card):
    card = make_card(alice.user)
    card.binding.issuer_name = ""
    card.binding.save()
    body = signed_in.get("/").content.decode()
    assert "Issued" not in body
    assert card.binding.name not in body


def test_an_expired_card_carries_an_expired_badge_and_a_current_one_does_not(
    signed_in, alice, make_card
):
    today = date.today()
    last_month = (today.month - 2) % 12 + 1, today.year - (1 if today.month == 1 else 0)
    make_card(alice.user, label="Old card", expiry=last_month)
    make_card(alice.user, label="This month", expiry=(today.month, today.year))
    body = signed_in.get("/").content.decode()
    assert body.count(">Expired</span>") == 1
    (old,) = re.findall(r"<li>(?:(?!</li>).)*Old card(?:(?!</li>).)*</li>", body, re.S)
    assert ">Expired</span>" in old
    assert "is-expired" in old  # drawn dimmed
    assert f"Old card, ending 0001, expired {last_month[0]:02d}/" in old  # and read as expired


def test_the_reveal_page_shows_the_issuer_and_the_expired_badge(signed_in, alice, make_card):
    card = make_card(alice.user, expiry=(1, 2020))
    body = signed_in.get(f"/cards/{card.pk}/").content.decode()
    assert "Issued by Test Bank" in body
    assert ">Expired</span>" in body


def test_press_esc_is_marked_for_keyboards_only(signed_in, alice, make_card):
    card = make_card(alice.user)
    body = signed_in.get(f"/cards/{card.pk}/").content.decode()
    assert '<span class="keyboard-only">Press Esc to hide it at once. </span>' in body


# ---------------------------------------------------------------------------------- activity


def record(user, n: int, *, user_agent: str = CHROME_ON_WINDOWS) -> None:
    client = ClientInfo(ip="198.51.100.7", user_agent=user_agent, request_id="", channel="web")
    for _ in range(n):
        auth_event_record(
            event=AuthEvent.Event.PASSWORD_CHANGED,
            outcome=AuthEvent.Outcome.SUCCESS,
            user=user,
            client=client,
        )


def rows(body: str) -> int:
    return body.count('<td data-label="When">')


def test_activity_comes_25_lines_a_page_with_links_between_pages(signed_in, alice):
    before = rows(signed_in.get("/activity/").content.decode())  # the sign-in, the authenticator
    record(alice.user, 60 - before)
    record(alice.user, 1)  # 61 lines: three pages
    first = signed_in.get("/activity/").content.decode()
    assert rows(first) == 25
    assert 'href="?page=2" rel="next"' in first
    assert 'rel="prev"' not in first
    assert "Page 1 of 3" in first
    second = signed_in.get("/activity/?page=2").content.decode()
    assert rows(second) == 25
    assert 'href="?page=1" rel="prev"' in second
    assert 'href="?page=3" rel="next"' in second
    last = signed_in.get("/activity/?page=3").content.decode()
    assert rows(last) == 11
    assert "Signed in" in last  # among the oldest lines, on the last page
    assert 'rel="next"' not in last


@pytest.mark.parametrize(("asked", "shown"), [("abc", 1), ("", 1), ("99", 2)])
def test_activity_answers_a_page_that_does_not_exist_with_the_nearest_one(
    signed_in, alice, asked, shown
):
    record(alice.user, 30)
    response = signed_in.get(f"/activity/?page={asked}")
    assert response.status_code == 200
    assert f"Page {shown} of 2" in response.content.decode()


def test_a_short_activity_has_no_page_links(signed_in):
    body = signed_in.get("/activity/").content.decode()
    assert "Activity pages" not in body


def test_signed_in_appears_once_per_sign_in_and_not_for_a_password_alone(alice, clock):
    browser = Client()
    browser.post("/accounts/login/", {"username": "alice", "password": alice.password})
    browser.post("/accounts/verify/", {"code": totp_code(alice.device, clock)})
    clock.advance(30)
    # Someone else with alice's password but not her phone stops at the code step.
    Client().post("/accounts/login/", {"username": "alice", "password": alice.password})
    body = browser.get("/activity/").content.decode()
    assert body.count("Signed in") == 1
    assert "Password accepted" not in body


def test_a_wrong_code_at_a_reveal_is_one_line(signed_in, alice, make_card, clock, client_key):
    card = make_card(alice.user)
    wrong = f"{(int(totp_code(alice.device, clock)) + 1) % 1_000_000:06d}"
    signed_in.post(
        f"/cards/{card.pk}/reveal", {"otp_code": wrong, "public_key": client_key.public_b64}
    )
    assert AuthEvent.objects.filter(event=AuthEvent.Event.OTP_FAILED).count() == 1  # kept
    body = signed_in.get("/activity/").content.decode()
    assert body.count("Wrong code") == 1
    assert "Code refused" not in body
    assert body.count("Security code requested") == 1


def test_a_wrong_code_at_sign_in_is_still_listed(alice, clock):
    browser = Client()
    browser.post("/accounts/login/", {"username": "alice", "password": alice.password})
    wrong = f"{(int(totp_code(alice.device, clock)) + 1) % 1_000_000:06d}"
    browser.post("/accounts/verify/", {"code": wrong})
    lines = [(item.what, item.result) for item in activity_for_user(user=alice.user)]
    assert ("Code refused", "Wrong code") in lines


def test_activity_names_the_device_not_the_raw_user_agent(signed_in, alice):
    record(alice.user, 1, user_agent=SAFARI_ON_IPHONE)
    body = signed_in.get("/activity/").content.decode()
    assert "Safari 17 on iOS 17 (iPhone)" in body
    assert "AppleWebKit" not in body
    assert "198.51.100.7" in body


def test_activity_times_are_utc_in_the_page_with_a_machine_readable_instant(signed_in, alice):
    body = signed_in.get("/activity/").content.decode()
    (stamp, text) = re.findall(r'<time datetime="([^"]+)" data-local-time>([^<]+)</time>', body)[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    assert text == stamp.replace("T", " ").replace("Z", " UTC")
    assert "Times are UTC." in body


# ---------------------------------------------------------------------------------- device names


@pytest.mark.parametrize(
    ("user_agent", "name"),
    [
        (CHROME_ON_WINDOWS, "Chrome 120 on Windows 10"),
        (SAFARI_ON_IPHONE, "Safari 17 on iOS 17 (iPhone)"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.1 Safari/605.1.15",
            "Safari 17 on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.6099.144 Mobile Safari/537.36",
            "Chrome 120 on Android 14 (Pixel 8)",
        ),
        ("curl/8.5.0", "curl 8"),
        ("", UNKNOWN_DEVICE),
        ('=HYPERLINK("http://evil")', UNKNOWN_DEVICE),
        ("x" * 5000, UNKNOWN_DEVICE),
    ],
)
def test_device_names_are_what_people_call_their_browser(user_agent, name):
    assert device_name(user_agent) == name
