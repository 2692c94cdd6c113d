"""Reveal receipts: after each successful reveal the cardholder gets an email naming the card, the
time (UTC), the address and the user agent, with a "This wasn't me" link; never the CVV."""

from __future__ import annotations

import random
import re
from datetime import UTC

import pytest
from django.core import mail

from cardreveal.audit.models import RevealEvent
from providers.sandbox.core import SandboxCard
from tests.audit.conftest import UA, web_reveal
from tests.test_no_cvv_traces import dump_database

LINK_RE = re.compile(r"https?://\S+/receipts/not-me/(?P<token>[^/\s]+)/")


def test_a_successful_reveal_sends_one_receipt(signed_in, alice, card, clock, client_key):
    response = web_reveal(signed_in, card, alice, clock, client_key, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    (message,) = mail.outbox
    event = RevealEvent.objects.get(outcome="revealed")
    assert message.to == ["alice@example.com"]
    assert message.subject == "Security code shown for Everyday •••• 0001"
    assert "Everyday •••• 0001" in message.body
    assert event.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") in message.body
    assert "203.0.113.9" in message.body
    assert UA in message.body
    assert "the website" in message.body
    assert LINK_RE.search(message.body)
    assert message.body.count("/receipts/not-me/") == 1


def test_the_link_uses_the_configured_site_url(signed_in, alice, card, clock, client_key, settings):
    settings.CARDREVEAL_SITE_URL = "https://cards.example.com/"
    web_reveal(signed_in, card, alice, clock, client_key)
    assert "https://cards.example.com/receipts/not-me/" in mail.outbox[0].body


def test_without_a_site_url_the_link_uses_the_checked_request_host(
    signed_in, alice, card, clock, client_key, settings
):
    settings.CARDREVEAL_SITE_URL = ""
    web_reveal(signed_in, card, alice, clock, client_key)
    assert "http://testserver/receipts/not-me/" in mail.outbox[0].body


def test_refused_and_failed_reveals_send_no_receipt(signed_in, alice, card, clock, client_key):
    response = signed_in.post(
        f"/cards/{card.pk}/reveal", {"otp_code": "000000", "public_key": client_key.public_b64}
    )
    assert response.status_code == 403
    assert mail.outbox == []


def test_a_cardholder_without_an_email_address_still_gets_the_reveal(
    signed_in, alice, card, clock, client_key
):
    alice.user.email = ""
    alice.user.save(update_fields=["email"])
    assert web_reveal(signed_in, card, alice, clock, client_key).status_code == 200
    assert mail.outbox == []


def test_a_mail_outage_does_not_fail_the_reveal(
    signed_in, alice, card, clock, client_key, settings, caplog
):
    settings.EMAIL_BACKEND = "tests.audit.test_receipts.BrokenBackend"
    response = web_reveal(signed_in, card, alice, clock, client_key)
    assert response.status_code == 200
    assert client_key.open(response.json()["sealed"]) == "347"
    assert "reveal_receipt email not sent: ConnectionRefusedError" in caplog.text


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("smtp down")


@pytest.fixture
def canary_card(sandbox, alice, make_card):
    """A card whose sandbox CVV is a value found nowhere before the reveal."""
    before = dump_database()
    while True:
        value = f"{random.randint(1000, 9999)}"
        if value not in before:
            break
    contract = f"{random.randint(800000, 899999)}"
    sandbox.emulator("mastercard").add_card(
        SandboxCard(
            reference={"card_contract_id": contract},
            cvv=value,
            expiry_month=4,
            expiry_year=2030,
            label="Canary",
        )
    )
    return make_card(alice.user, reference={"card_contract_id": contract}, label="Canary"), value


def test_the_receipt_never_holds_the_cvv(signed_in, alice, canary_card, clock, client_key):
    card, value = canary_card
    response = web_reveal(signed_in, card, alice, clock, client_key)
    assert client_key.open(response.json()["sealed"]) == value  # the canary really flowed
    (message,) = mail.outbox
    assert "Canary" in message.body  # this is the receipt of that reveal
    for text in (message.subject, message.body, message.message().as_string()):
        assert value not in text
