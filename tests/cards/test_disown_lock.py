"""A "This wasn't me" report locks the card at its provider where the binding is set to and the
provider's API can (Thredd, NetXD), end to end from the receipt link over the sandboxes; a failed
lock loses nothing of the report and says to call the bank; staff find reported cards in the admin."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from django.core import mail
from django.test import Client

from cardreveal.audit.models import AuthEvent
from cardreveal.cards.models import Card
from providers.sandbox.core import SandboxCard
from tests.audit.conftest import web_reveal
from tests.conftest import sign_in

LINK_RE = re.compile(r"https?://[^/\s]+(?P<path>/receipts/not-me/[^/\s]+/)")


def text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def locking_card(sandbox, make_binding, make_card, alice):
    """locking_card("thredd" | "netxd", behaviour="ok", lock=True) -> (card, its sandbox card):
    a card of its own at that emulator (the sandbox is shared), on a binding that locks cards
    on a report (or not, with lock=False)."""

    def make(kind: str, *, behaviour: str = "ok", lock: bool = True):
        suffix = uuid.uuid4().hex[:10]
        if kind == "thredd":
            reference = {"public_token": str(700_000_000 + uuid.uuid4().int % 100_000_000)}
        else:
            reference = {
                "customer_id": f"NXD-{suffix}",
                "account_number": f"4{uuid.uuid4().int % 10**11:011d}",
                "card_id": f"nxd-{suffix}",
            }
        seeded = sandbox.emulator(kind).add_card(
            SandboxCard(dict(reference), "512", 7, 2031, behaviour=behaviour)
        )
        binding = make_binding(kind)
        binding.lock_card_on_disown = lock
        binding.full_clean()
        binding.save()
        card = make_card(
            alice.user, binding=binding, reference=reference, expiry=(7, 2031), label="Travel"
        )
        return card, seeded

    return make


def receipt_link(browser, card, holder, clock, key) -> str:
    """Reveal `card` and return the path of the link in its receipt."""
    assert web_reveal(browser, card, holder, clock, key).status_code == 200
    return LINK_RE.search(mail.outbox[-1].body)["path"]


def lock_events(outcome: str) -> list[AuthEvent]:
    return list(AuthEvent.objects.filter(event=AuthEvent.Event.CARD_LOCKED, outcome=outcome))


@pytest.mark.parametrize(
    ("kind", "locked_status"), [("thredd", "59"), ("netxd", "TEMPRORY_BLOCKED_BY_CLIENT")]
)
def test_a_report_locks_the_card_at_the_provider_and_says_so(
    kind, locked_status, locking_card, sandbox, signed_in, alice, clock, client_key, settings
):
    card, seeded = locking_card(kind)
    link = receipt_link(signed_in, card, alice, clock, client_key)

    page = text(Client().post(link))

    assert "Example Bank has also locked the card: it is refused for payments" in page
    assert "still works for payments" not in page
    assert sandbox.emulator(kind).card_status_of(seeded) == locked_status
    card.refresh_from_db()
    assert (card.reveal_enabled, card.bank_lock) == (False, Card.BankLock.LOCKED)
    assert card.bank_lock_at is not None
    (report,) = AuthEvent.objects.filter(event=AuthEvent.Event.REVEAL_DISOWNED, outcome="success")
    assert report.reason == "reveals_stopped_lock_asked"
    assert "bank lock=asked" in report.detail
    (locked,) = lock_events("success")
    assert (locked.user, locked.resource, locked.reason) == (
        alice.user,
        f"card:{card.pk}",
        "locked",
    )
    assert locked.seq > report.seq  # the report was on record before the provider was asked
    (confirmation,) = [m for m in mail.outbox if m.subject.startswith("You reported")]
    assert "Example Bank has locked the card" in confirmation.body
    (alert,) = [m for m in mail.outbox if settings.CARDREVEAL_FRAUD_ALERT_EMAIL in m.to]
    assert "NOT blocked" not in alert.subject
    assert "Lock at the card's provider: done" in alert.body


@pytest.mark.parametrize("kind", ["thredd", "netxd"])
def test_a_lock_the_provider_refuses_keeps_the_report_and_says_to_call(
    kind, locking_card, signed_in, alice, clock, client_key, settings, sandbox
):
    card, seeded = locking_card(kind)
    link = receipt_link(signed_in, card, alice, clock, client_key)
    seeded.behaviour = "server_error"  # the provider fails from now on

    response = Client().post(link)

    assert response.status_code == 200
    page = text(response)
    assert (
        "We asked Example Bank to lock the card, but that did not go through: the card may "
        "still work for payments. Call Example Bank on +44 20 7946 0000 now to block it." in page
    )
    card.refresh_from_db()
    assert (card.reveal_enabled, card.bank_lock) == (False, Card.BankLock.FAILED)
    assert AuthEvent.objects.filter(event=AuthEvent.Event.REVEAL_DISOWNED, outcome="success")
    (failed,) = lock_events("failure")
    assert failed.reason == "provider_server_error"
    (alert,) = [m for m in mail.outbox if settings.CARDREVEAL_FRAUD_ALERT_EMAIL in m.to]
    assert alert.subject.endswith("(card NOT blocked)")
    assert "FAILED (provider_server_error): block the card in the provider's own tools" in (
        alert.body
    )
    (confirmation,) = [m for m in mail.outbox if m.subject.startswith("You reported")]
    assert "that did not go through" in confirmation.body
    assert "call Example Bank on +44 20 7946 0000 now to block it" in confirmation.body


def test_an_unreachable_provider_is_a_failed_lock_not_an_error_page(
    locking_card, signed_in, alice, clock, client_key, sandbox
):
    card, _ = locking_card("thredd")
    link = receipt_link(signed_in, card, alice, clock, client_key)
    card.binding.base_url = "http://127.0.0.1:9/thredd"  # nothing listens on the discard port
    card.binding.save()

    page = text(Client().post(link))

    assert "did not go through" in page
    (failed,) = lock_events("failure")
    assert failed.reason in ("provider_unavailable", "provider_connection_lost")


def test_a_second_report_of_a_locked_card_does_not_lock_it_again(
    locking_card, signed_in, alice, clock, client_key, provider_calls
):
    card, _ = locking_card("netxd")
    first = receipt_link(signed_in, card, alice, clock, client_key)
    second = receipt_link(signed_in, card, alice, clock, client_key)
    Client().post(first)
    netxd = provider_calls("netxd")

    page = text(Client().post(second))

    assert netxd.count == 0
    assert "The card was already locked at Example Bank after an earlier report" in page
    assert len(lock_events("success")) == 1


def test_a_binding_not_set_to_lock_leaves_the_card_usable_and_says_so(
    locking_card, signed_in, alice, clock, client_key, provider_calls, sandbox
):
    card, seeded = locking_card("thredd", lock=False)
    link = receipt_link(signed_in, card, alice, clock, client_key)
    thredd = provider_calls("thredd")

    page = text(Client().post(link))

    assert thredd.count == 0
    assert sandbox.emulator("thredd").card_status_of(seeded) == "00"
    assert "The card itself still works for payments. Call Example Bank" in page
    assert lock_events("success") == lock_events("failure") == []


def test_the_activity_page_shows_the_lock_at_the_bank(
    locking_card, signed_in, alice, clock, client_key
):
    card, _ = locking_card("thredd")
    link = receipt_link(signed_in, card, alice, clock, client_key)
    Client().post(link)
    browser = Client()
    sign_in(browser, alice, clock)

    page = text(browser.get("/activity/"))

    assert "Card lock at your bank Travel •••• 0001" in page
    assert "Locked: the card is refused for payments until your bank lifts the lock" in page
    assert "your bank was asked to lock the card" in page


def test_the_activity_page_says_a_failed_lock_did_not_go_through(
    locking_card, signed_in, alice, clock, client_key
):
    card, seeded = locking_card("thredd")
    link = receipt_link(signed_in, card, alice, clock, client_key)
    seeded.behaviour = "server_error"
    Client().post(link)
    browser = Client()
    sign_in(browser, alice, clock)

    page = text(browser.get("/activity/"))

    assert "Did not go through: call your bank to block the card" in page


# ---------------------------------------------------------------------------------- the admin


def test_staff_find_reported_cards_and_those_still_usable_in_the_admin(
    admin_client, alice, make_card
):
    reported = make_card(alice.user, label="Alpha card")
    locked = make_card(alice.user, label="Bravo card")
    make_card(alice.user, label="Charlie card")  # never reported
    Card.objects.filter(pk__in=[reported.pk, locked.pk]).update(
        reported_not_me_at="2030-01-01T00:00:00Z", reveal_enabled=False
    )
    Card.objects.filter(pk=locked.pk).update(bank_lock=Card.BankLock.LOCKED)

    every = admin_client.get("/admin/cards/card/?reported=yes").content.decode()
    usable = admin_client.get("/admin/cards/card/?reported=unblocked").content.decode()

    assert "Reported as not me" in admin_client.get("/admin/cards/card/").content.decode()
    assert "Alpha card" in every
    assert "Bravo card" in every
    assert "Charlie card" not in every
    assert "Alpha card" in usable
    assert "Bravo card" not in usable
    assert "Charlie card" not in usable
    assert "Locked at the provider" in every


def test_the_binding_admin_offers_the_lock_and_refuses_it_where_the_provider_cannot(
    admin_client, make_binding
):
    thredd = make_binding("thredd")
    page = admin_client.get(f"/admin/cards/providerbinding/{thredd.pk}/change/").content.decode()
    assert "Also lock the card at the provider when the cardholder reports a reveal" in page

    mastercard = make_binding("mastercard")
    from tests.cards.test_admin import mastercard_change_form

    response = admin_client.post(
        f"/admin/cards/providerbinding/{mastercard.pk}/change/",
        mastercard_change_form(mastercard, lock_card_on_disown="on"),
    )
    assert response.status_code == 200
    assert "has no documented way to lock a card" in html.unescape(response.content.decode())
    mastercard.refresh_from_db()
    assert mastercard.lock_card_on_disown is False
