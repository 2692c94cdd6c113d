"""The receipt's "This wasn't me" link: GET only asks, POST stops the card's reveals and signs the
holder out everywhere (sessions and API tokens), once; expired, tampered and mismatched links do
nothing. Every use and refusal is audited. The pages, the receipt and the confirmation say exactly
what was done and whom to call; the bank's fraud staff are alerted."""

from __future__ import annotations

import html
import re
import time
import types
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core import mail, signing
from django.test import Client

from cardreveal.audit import disown
from cardreveal.audit.models import AuthEvent, RevealEvent, UsedLink
from tests.audit.conftest import web_reveal
from tests.conftest import sign_in

LINK_RE = re.compile(r"https?://[^/\s]+(?P<path>/receipts/not-me/[^/\s]+/)")


@pytest.fixture
def link(signed_in, alice, card, clock, client_key):
    """The path of the link in the receipt of one of alice's reveals."""
    assert web_reveal(signed_in, card, alice, clock, client_key).status_code == 200
    (message,) = mail.outbox
    return LINK_RE.search(message.body)["path"]


def sessions_of(user) -> int:
    return sum(
        1 for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)
    )


def disowned(outcome: str) -> list[AuthEvent]:
    return list(AuthEvent.objects.filter(event=AuthEvent.Event.REVEAL_DISOWNED, outcome=outcome))


def test_opening_the_link_only_asks_and_changes_nothing(link, card, alice):
    page = Client().get(link)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Everyday •••• 0001" in body
    assert 'method="post"' in body
    assert "no-store" in page["Cache-Control"]
    card.refresh_from_db()
    assert card.reveal_enabled
    assert sessions_of(alice.user) == 1
    assert UsedLink.objects.count() == 0
    assert disowned("success") == []


def test_the_confirmation_page_names_the_device_in_words_and_the_time_for_the_viewer(
    signed_in, alice, card, clock, client_key
):
    chrome = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36"
    )
    web_reveal(signed_in, card, alice, clock, client_key, user_agent=chrome)
    (message,) = mail.outbox
    body = Client().get(LINK_RE.search(message.body)["path"]).content.decode()
    assert "Chrome 120 on Windows" in body
    assert chrome not in body  # never the raw string
    assert "data-local-time" in body  # the viewer's script shows it in their own time


@pytest.fixture(params=["db", "cached_db"])
def session_engine(request, settings):
    """Both engines production may use: with cached_db a session's Redis copy must go too."""
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{request.param}"
    return request.param


def test_confirming_stops_the_cards_reveals_and_signs_out_every_session(
    session_engine, link, signed_in, alice, card, make_card, clock
):
    other_card = make_card(alice.user, label="Other")
    phone = Client()
    sign_in(phone, alice, clock)
    assert sessions_of(alice.user) == 2
    response = Client().post(link)  # from a browser that is not signed in
    assert response.status_code == 200
    assert "security code is turned off" in response.content.decode()
    card.refresh_from_db()
    other_card.refresh_from_db()
    assert card.reveal_enabled is False
    assert other_card.reveal_enabled is True  # only the card named in the receipt
    assert sessions_of(alice.user) == 0
    assert signed_in.get("/").status_code == 302  # both browsers are signed out
    assert phone.get("/").status_code == 302
    (event,) = disowned("success")
    assert (event.user, event.resource) == (alice.user, f"card:{card.pk}")
    assert "sessions ended=2" in event.detail
    assert "card frozen=1" in event.detail


def test_confirming_revokes_the_holders_api_tokens(link, alice, bob):
    from django.apps import apps
    from django.conf import settings

    if not apps.is_installed("knox"):
        pytest.skip("no API tokens in this build")
    token_model = apps.get_model(settings.KNOX_TOKEN_MODEL)
    token_model.objects.create(user=alice.user)
    token_model.objects.create(user=alice.user)
    token_model.objects.create(user=bob.user)
    Client().post(link)
    assert token_model.objects.filter(user=alice.user).count() == 0
    assert token_model.objects.filter(user=bob.user).count() == 1
    assert "api tokens revoked=2" in disowned("success")[0].detail


def test_confirming_in_the_holders_own_browser_signs_it_out_cleanly(link, signed_in, alice, card):
    response = signed_in.post(link)
    assert response.status_code == 200
    assert "_auth_user_id" not in signed_in.session
    card.refresh_from_db()
    assert card.reveal_enabled is False


def test_a_frozen_card_refuses_the_next_reveal(link, alice, card, clock, client_key):
    Client().post(link)
    browser = Client()
    sign_in(browser, alice, clock)
    assert web_reveal(browser, card, alice, clock, client_key).json()["error"]["code"] == (
        "card_disabled"
    )


def test_the_link_works_once(link, alice):
    assert Client().post(link).status_code == 200
    again = Client().post(link)
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert Client().get(link).status_code == 410
    (refusal,) = disowned("failure")
    assert (refusal.user, refusal.reason) == (alice.user, "link_used")
    assert len(disowned("success")) == 1


def test_an_expired_link_does_nothing(link, alice, card, monkeypatch, settings):
    later = time.time() + settings.CARDREVEAL_RECEIPT_LINK_MAX_AGE + 60
    monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=lambda: later))
    response = Client().post(link)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    card.refresh_from_db()
    assert card.reveal_enabled
    (refusal,) = disowned("failure")
    assert (refusal.user, refusal.reason) == (alice.user, "link_expired")


def test_a_link_still_works_just_before_it_expires(link, card, monkeypatch, settings):
    later = time.time() + settings.CARDREVEAL_RECEIPT_LINK_MAX_AGE - 60
    monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=lambda: later))
    assert Client().post(link).status_code == 200
    card.refresh_from_db()
    assert card.reveal_enabled is False


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature
        lambda token: "x" + token,  # payload
        lambda token: "not-a-token",
    ],
)
def test_a_tampered_link_does_nothing(link, card, tamper):
    token = link.split("/")[-2]
    response = Client().post(f"/receipts/not-me/{tamper(token)}/")
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    card.refresh_from_db()
    assert card.reveal_enabled
    (refusal,) = disowned("failure")
    assert (refusal.user, refusal.reason) == (None, "link_invalid")


def test_another_signed_in_user_using_the_link_acts_on_its_holder_only(
    link, alice, bob, card, make_card, clock
):
    bobs_card = make_card(bob.user)
    bobs_browser = Client()
    sign_in(bobs_browser, bob, clock)
    assert bobs_browser.post(link).status_code == 200
    card.refresh_from_db()
    bobs_card.refresh_from_db()
    assert card.reveal_enabled is False
    assert bobs_card.reveal_enabled is True
    assert sessions_of(bob.user) == 1
    assert bobs_browser.get("/").status_code == 200  # bob stays signed in
    assert disowned("success")[0].user == alice.user


def test_a_link_naming_another_users_reveal_does_nothing(link, alice, bob, card, make_card):
    """Even with a valid signature (only the server can make one), the reveal must be the named
    holder's own successful reveal of the named card."""
    event = RevealEvent.objects.get(outcome="revealed")
    forged = signing.dumps(
        {"j": "f" * 32, "e": event.pk, "u": bob.user.pk, "c": str(event.card_id)},
        salt=disown.SALT,
    )
    response = Client().post(f"/receipts/not-me/{forged}/")
    assert response.status_code == 400
    card.refresh_from_db()
    assert card.reveal_enabled


def test_a_link_for_a_refused_reveal_does_nothing(signed_in, alice, card, client_key):
    signed_in.post(f"/cards/{card.pk}/reveal", {"otp_code": "000000", "public_key": "x"})
    event = RevealEvent.objects.get()
    assert event.outcome != "revealed"
    token = signing.dumps(
        {"j": "e" * 32, "e": event.pk, "u": alice.user.pk, "c": str(card.pk)}, salt=disown.SALT
    )
    assert Client().post(f"/receipts/not-me/{token}/").status_code == 400


def test_only_get_and_post_are_allowed(link):
    assert Client().put(link).status_code == 405


def test_the_link_lasts_seven_days_by_default(settings):
    assert timedelta(days=7).total_seconds() == settings.CARDREVEAL_RECEIPT_LINK_MAX_AGE


# ---------------------------------------------------------------------------------- what it says


def text(response) -> str:
    """The page's words, with the markup and runs of whitespace gone."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def mail_to(address: str) -> list:
    return [message for message in mail.outbox if address in message.to]


def test_the_receipt_names_the_banks_contact_and_does_not_promise_a_blocked_card(link):
    (receipt,) = mail.outbox
    assert "Example Bank on +44 20 7946 0000" in receipt.body
    assert "https://bank.example/lost-card" in receipt.body
    assert "freeze" not in receipt.body
    assert "To be sure the card itself is blocked for payments, call Example Bank" in receipt.body


def test_the_confirmation_page_says_what_the_button_does_and_whom_to_call(link):
    page = text(Client().get(link))
    assert "This wasn't me: turn off the security code and sign me out" in page
    assert "freeze" not in page.lower()
    assert "To block the card, call Example Bank" in page
    assert "+44 20 7946 0000" in page
    assert 'href="tel:+442079460000"' in Client().get(link).content.decode()


def test_the_done_page_says_the_card_still_works_for_payments_and_whom_to_call(link):
    page = text(Client().post(link))
    assert (
        "Showing the security code of Everyday •••• 0001 is now turned off, and you have been "
        "signed out on every device and app." in page
    )
    assert (
        "The card itself still works for payments. Call Example Bank on +44 20 7946 0000 to "
        "block it." in page
    )
    assert "frozen" not in page
    assert "We have emailed you a confirmation" in page


def test_a_used_link_says_what_was_done_and_whom_to_call(link):
    Client().post(link)
    page = text(Client().get(link))
    assert "showing this card's security code was turned off" in page
    assert "frozen" not in page
    assert "To block the card, call Example Bank +44 20 7946 0000" in page


def test_the_bank_contact_comes_from_the_settings(link, settings):
    settings.CARDREVEAL_BANK_CONTACT = {"name": "Northwind", "phone": "0800 123 456", "url": ""}
    page = text(Client().post(link))
    assert "Call Northwind on 0800 123 456 to block it." in page
    assert "More help from your bank" not in page  # no URL configured, none shown


def test_the_cardholder_is_emailed_a_confirmation_without_any_secret(link, alice):
    token = link.split("/")[-2]
    Client().post(link)
    (confirmation,) = mail_to(alice.user.email)[1:]  # the first is the receipt
    assert confirmation.subject == (
        "You reported that a security code shown for Everyday •••• 0001 wasn't you"
    )
    body = confirmation.body
    assert "Showing this card's security code is now turned off." in body
    assert "You were signed out on every device and app." in body
    assert "The card itself still works for payments: call Example Bank on +44 20 7946 0000" in body
    assert token not in body
    assert "/receipts/not-me/" not in body
    assert "347" not in body  # the sandbox CVV of the card that was shown


def test_the_fraud_staff_are_alerted_with_who_what_and_where(link, alice, card, settings):
    Client().post(link, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Reporter/1.0")
    (alert,) = mail_to(settings.CARDREVEAL_FRAUD_ALERT_EMAIL)
    assert alert.subject == "Reported as not me: alice, card Everyday •••• 0001 (card NOT blocked)"
    body = alert.body
    assert f"Cardholder: alice (user id {alice.user.pk})" in body
    assert f"Card: Everyday •••• 0001 (card id {card.pk})" in body
    assert "from 203.0.113.9, Reporter/1.0" in body
    assert "1 web session and 0 app sign-ins ended" in body
    assert "Lock at the card's provider: not asked" in body
    assert "/admin/audit/authevent/?event__exact=reveal_disowned" in body
    assert link.split("/")[-2] not in body


def test_a_mail_outage_does_not_undo_the_report(link, card, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("relay down")

    monkeypatch.setattr("cardreveal.audit.notifications.send_mail", refuse)
    response = Client().post(link)
    assert response.status_code == 200
    assert "We have emailed you a confirmation" not in response.content.decode()
    card.refresh_from_db()
    assert card.reveal_enabled is False
    assert len(disowned("success")) == 1


def test_the_activity_page_says_what_the_report_did(link, alice, card, clock):
    Client().post(link)
    browser = Client()
    sign_in(browser, alice, clock)
    page = text(browser.get("/activity/"))
    assert "Reveal reported as not you" in page
    assert (
        "Showing the security code turned off, signed out everywhere. The card itself still "
        "works for payments: call your bank to block it" in page
    )


def test_a_fault_building_the_emails_still_shows_what_the_report_did(link, card, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("template fault")

    monkeypatch.setattr("cardreveal.audit.notifications.disown_alert_send", broken)
    response = Client().post(link)
    assert response.status_code == 200
    assert "The card itself still works for payments." in text(response)
    card.refresh_from_db()
    assert card.reveal_enabled is False
    assert len(disowned("success")) == 1
