"""Reveal receipts: after each successful reveal the cardholder gets an email naming the card, the
time (UTC), the address and the user agent, with a "This wasn't me" link; never the CVV."""

from __future__ import annotations

import io
import random
import re
import threading
import time
from datetime import UTC

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command

from cardreveal.audit import receipts
from cardreveal.audit.models import ReceiptOutbox, RevealEvent
from cardreveal.audit.receipts import receipts_send_due
from providers.sandbox.core import SandboxCard
from tests.audit.conftest import UA, web_reveal
from tests.conftest import shows, sign_in
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
    assert not ReceiptOutbox.objects.exists()  # sent, so no longer waiting


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


def test_a_mail_outage_does_not_fail_the_reveal_and_the_receipt_waits(
    signed_in, alice, card, clock, client_key, settings, caplog
):
    settings.EMAIL_BACKEND = "tests.audit.test_receipts.BrokenBackend"
    response = web_reveal(signed_in, card, alice, clock, client_key)
    assert response.status_code == 200
    assert client_key.open(response.json()["sealed"]) == "347"
    assert "reveal_receipt email not sent (attempt 1, retried later): ConnectionRefusedError" in (
        caplog.text
    )
    (queued,) = ReceiptOutbox.objects.all()
    assert queued.event == RevealEvent.objects.get(outcome="revealed")
    assert queued.attempts == 1


def test_a_waiting_receipt_is_sent_when_the_relay_is_back_after_its_back_off(
    wall_clock, signed_in, alice, card, clock, client_key, settings
):
    settings.EMAIL_BACKEND = "tests.audit.test_receipts.BrokenBackend"
    web_reveal(signed_in, card, alice, clock, client_key)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    wall_clock.advance(seconds=29)
    assert receipts_send_due() == 0  # backing off: the first retry waits 30 s
    assert mail.outbox == []
    wall_clock.advance(seconds=1)
    assert receipts_send_due() == 1
    (message,) = mail.outbox
    assert "Everyday •••• 0001" in message.body
    assert LINK_RE.search(message.body)
    assert not ReceiptOutbox.objects.exists()


def test_retries_back_off_and_a_receipt_is_dropped_after_the_last_attempt(
    wall_clock, signed_in, alice, card, clock, client_key, settings, caplog
):
    settings.EMAIL_BACKEND = "tests.audit.test_receipts.BrokenBackend"
    web_reveal(signed_in, card, alice, clock, client_key)
    delays = []
    for _ in range(receipts.MAX_ATTEMPTS - 1):
        row = ReceiptOutbox.objects.get()
        delays.append((row.next_attempt_at - wall_clock.now).total_seconds())
        wall_clock.advance(seconds=delays[-1])
        assert receipts_send_due() == 1
    assert delays[:4] == [30, 60, 120, 240]
    assert max(delays) == 3600
    assert not ReceiptOutbox.objects.exists()
    assert f"dropped after {receipts.MAX_ATTEMPTS} attempts: ConnectionRefusedError" in caplog.text


def test_one_connection_sends_a_batch_and_an_outage_stops_it(
    signed_in, alice, card, clock, client_key, settings
):
    settings.CARDREVEAL_RECEIPTS_IN_BACKGROUND = True  # queue only; nothing sends until asked
    for _ in range(3):
        assert web_reveal(signed_in, card, alice, clock, client_key).status_code == 200
    assert ReceiptOutbox.objects.count() == 3
    settings.EMAIL_BACKEND = "tests.audit.test_receipts.BrokenBackend"
    assert receipts_send_due() == 1  # the first failure ends the batch: the rest stay due
    assert ReceiptOutbox.objects.filter(attempts=0).count() == 2
    settings.EMAIL_BACKEND = "tests.audit.test_receipts.CountingBackend"
    CountingBackend.opened = 0
    assert receipts_send_due() == 2
    assert CountingBackend.opened == 1
    assert len(mail.outbox) == 2


def test_a_receipt_queued_for_a_user_who_lost_their_address_is_dropped(
    signed_in, alice, card, clock, client_key, settings
):
    settings.CARDREVEAL_RECEIPTS_IN_BACKGROUND = True
    web_reveal(signed_in, card, alice, clock, client_key)
    alice.user.email = ""
    alice.user.save(update_fields=["email"])
    assert receipts_send_due() == 1
    assert mail.outbox == []
    assert not ReceiptOutbox.objects.exists()


def test_the_send_receipts_command_sends_what_is_waiting(
    signed_in, alice, card, clock, client_key, settings
):
    settings.CARDREVEAL_RECEIPTS_IN_BACKGROUND = True
    web_reveal(signed_in, card, alice, clock, client_key)
    web_reveal(signed_in, card, alice, clock, client_key)
    out = io.StringIO()
    call_command("send_receipts", stdout=out)
    assert len(mail.outbox) == 2
    assert "2 receipts sent or settled; 0 waiting." in out.getvalue()


@pytest.fixture
def background_sender(monkeypatch, settings):
    """Receipts sent by a background sender thread of this test's own, as in the app."""
    settings.CARDREVEAL_RECEIPTS_IN_BACKGROUND = True
    sender = receipts.ReceiptSender(poll_seconds=30)
    monkeypatch.setattr(receipts, "_sender", sender)
    yield sender
    SlowBackend.release.set()
    sender.stop()


@pytest.mark.django_db(transaction=True)
def test_in_the_app_the_reveal_answers_before_a_slow_relay_and_the_receipt_follows(
    sandbox, alice, card, clock, client_key, settings, client, background_sender
):
    settings.EMAIL_BACKEND = "tests.audit.test_receipts.SlowBackend"
    SlowBackend.release.clear()
    sign_in(client, alice, clock)
    response = web_reveal(client, card, alice, clock, client_key)
    assert response.status_code == 200  # answered while the relay is still stuck
    assert client_key.open(response.json()["sealed"]) == "347"
    assert mail.outbox == []
    SlowBackend.release.set()
    deadline = time.monotonic() + 10
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.02)
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"]
    while ReceiptOutbox.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not ReceiptOutbox.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_background_sender_sends_reveals_made_close_together_as_one_batch(
    sandbox, alice, card, clock, client_key, settings, client, monkeypatch
):
    settings.CARDREVEAL_RECEIPTS_IN_BACKGROUND = True
    settings.EMAIL_BACKEND = "tests.audit.test_receipts.CountingBackend"
    CountingBackend.opened = 0
    sender = receipts.ReceiptSender(poll_seconds=30, gather_seconds=3)
    monkeypatch.setattr(receipts, "_sender", sender)
    sign_in(client, alice, clock)
    try:
        for _ in range(3):
            assert web_reveal(client, card, alice, clock, client_key).status_code == 200
        assert mail.outbox == []  # still gathering
        deadline = time.monotonic() + 15
        while len(mail.outbox) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sender.stop()
    assert [m.to for m in mail.outbox] == [["alice@example.com"]] * 3
    assert CountingBackend.opened == 1  # one connection for the three
    assert not ReceiptOutbox.objects.exists()


def test_stopping_the_sender_while_it_gathers_ends_it_at_once(monkeypatch):
    sender = receipts.ReceiptSender(poll_seconds=30, gather_seconds=60)
    sent = []
    monkeypatch.setattr(receipts, "receipts_send_all_due", lambda: sent.append(1))
    sender.wake()
    began = time.monotonic()
    sender.stop(timeout=5)
    assert time.monotonic() - began < 2
    assert sent == []  # nothing was due to it: the rows stay for the next sender


class BrokenBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise ConnectionRefusedError("smtp down")


class CountingBackend(locmem.EmailBackend):
    opened = 0

    def open(self):
        CountingBackend.opened += 1
        return True


class SlowBackend(locmem.EmailBackend):
    release = threading.Event()

    def send_messages(self, messages):
        SlowBackend.release.wait(timeout=10)
        return super().send_messages(messages)


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


def test_admins_see_waiting_receipts_but_cannot_change_them(
    admin_client, signed_in, alice, card, clock, client_key, settings
):
    settings.EMAIL_BACKEND = "tests.audit.test_receipts.BrokenBackend"
    web_reveal(signed_in, card, alice, clock, client_key)
    waiting = ReceiptOutbox.objects.get()
    listing = admin_client.get("/admin/audit/receiptoutbox/")
    assert listing.status_code == 200
    assert b"1 receipt waiting to be sent" in listing.content
    assert admin_client.get("/admin/audit/receiptoutbox/add/").status_code == 403
    admin_client.post(f"/admin/audit/receiptoutbox/{waiting.pk}/delete/", {"post": "yes"})
    assert ReceiptOutbox.objects.filter(pk=waiting.pk).exists()
    assert not shows("347", listing.content)


# ------------------------------------------------------------------ a sender process of its own


@pytest.fixture
def sender_process_mode(settings, monkeypatch):
    """CARDREVEAL_RECEIPTS_SENDER=process: web requests only queue; a sender starts nowhere."""
    settings.CARDREVEAL_RECEIPTS_IN_BACKGROUND = True
    settings.CARDREVEAL_RECEIPTS_SENDER = "process"
    sender = receipts.ReceiptSender(poll_seconds=30)
    monkeypatch.setattr(receipts, "_sender", sender)
    yield sender
    sender.stop()


@pytest.mark.django_db(transaction=True)
def test_with_a_sender_process_the_web_side_only_queues_and_the_follower_sends(
    sandbox, alice, card, clock, client_key, client, sender_process_mode
):
    sign_in(client, alice, clock)
    assert web_reveal(client, card, alice, clock, client_key).status_code == 200
    time.sleep(0.3)
    assert mail.outbox == []
    assert sender_process_mode._thread is None  # no thread was started in the web process
    assert ReceiptOutbox.objects.count() == 1

    # The follower runs while nothing else writes: the in-memory SQLite of the default test run
    # refuses two writers at once without waiting (shared-cache table locks), which a real
    # database file in WAL mode, or PostgreSQL, waits out.
    def follow_until_sent(count: int) -> None:
        stop = threading.Event()
        follower = threading.Thread(
            target=receipts.receipts_follow, args=(stop,), kwargs={"poll_seconds": 0.05}
        )
        follower.start()
        try:
            deadline = time.monotonic() + 10
            while len(mail.outbox) < count and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            stop.set()
            follower.join(timeout=5)
        assert not follower.is_alive()

    follow_until_sent(1)
    assert web_reveal(client, card, alice, clock, client_key).status_code == 200
    follow_until_sent(2)
    assert [m.to for m in mail.outbox] == [["alice@example.com"]] * 2
    assert not ReceiptOutbox.objects.exists()


def test_the_follower_survives_an_outage_and_stops_when_asked(monkeypatch, caplog):
    rounds = []

    def flaky() -> int:
        rounds.append(1)
        if len(rounds) == 1:
            raise ConnectionError("database restarting")
        if len(rounds) == 3:
            stop.set()
        return 0

    stop = threading.Event()
    monkeypatch.setattr(receipts, "receipts_send_all_due", flaky)
    monkeypatch.setattr(receipts, "close_old_connections", lambda: None)
    receipts.receipts_follow(stop, poll_seconds=0.01)
    assert len(rounds) == 3  # went on after the failure, ended at the stop
    assert "sending reveal receipts failed; retrying later" in caplog.text


def test_send_receipts_follow_ends_on_sigterm_and_puts_the_old_handler_back(monkeypatch):
    import os
    import signal

    calls = []

    def follow(stop: threading.Event, *, poll_seconds: float) -> None:
        calls.append(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)  # as the process manager stops the service
        stop.wait(5)
        calls.append(stop.is_set())

    monkeypatch.setattr(
        "cardreveal.audit.management.commands.send_receipts.receipts_follow", follow
    )
    before = signal.getsignal(signal.SIGTERM)
    out = io.StringIO()
    call_command("send_receipts", "--follow", "--poll-ms", "100", stdout=out)
    assert calls == [0.1, True]  # SIGTERM set the stop event
    assert signal.getsignal(signal.SIGTERM) is before
    assert "every 100 ms until stopped" in out.getvalue()
    assert out.getvalue().rstrip().endswith("stopped")


def test_send_receipts_follow_refuses_a_poll_interval_out_of_range():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--poll-ms must be between 50 and 60000; it is 5"):
        call_command("send_receipts", "--follow", "--poll-ms", "5")
