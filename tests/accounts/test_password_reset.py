"""Password reset by email (Django's views, our pages): the same answer whether or not the address
has an account, limits per address and per client, the emailed link works once, and the new
password pauses reveals and is emailed; audited."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from cardreveal.accounts.cooloff import reveal_cooloff
from cardreveal.audit.models import AuthEvent
from tests.conftest import totp_code

NEW_PASSWORD = "reset-to-this-passphrase-88"
LINK_RE = re.compile(r"https?://[^\s]+(/accounts/password/reset/[^\s/]+/[^\s/]+/)")


def ask(client: Client, email: str, **extra):
    return client.post("/accounts/password/reset/", {"email": email}, **extra)


def link_from_outbox() -> str:
    match = LINK_RE.search(mail.outbox[-1].body)
    assert match is not None, mail.outbox[-1].body
    return match.group(1)


def signed_in_before(holder):
    """A cardholder who has signed in before (a first password starts no cool-off)."""
    from django.utils import timezone

    holder.user.last_login = timezone.now()
    holder.user.save(update_fields=["last_login"])
    return holder


def test_login_page_links_to_the_reset(client, db):
    assert b'href="/accounts/password/reset/"' in client.get("/accounts/login/").content


def test_known_and_unknown_addresses_get_the_same_answer(client, alice):
    known = ask(client, "alice@example.com")
    unknown = ask(client, "nobody-here@example.com")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/accounts/password/reset/sent/"
    page = client.get("/accounts/password/reset/sent/")
    assert b"If that address belongs to an account" in page.content
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]


def test_the_email_links_to_a_page_that_sets_a_new_password_once(
    client, alice, settings, django_capture_on_commit_callbacks
):
    settings.CARDREVEAL_SITE_URL = "https://cards.bank.example"
    signed_in_before(alice)
    ask(client, "alice@example.com")
    (message,) = mail.outbox
    assert message.subject == "Reset your cardreveal password"
    assert "https://cards.bank.example/accounts/password/reset/" in message.body
    assert "60 minutes" in message.body
    link = link_from_outbox()
    form = client.get(link, follow=True)
    assert b"Choose a new password" in form.content
    set_url = form.redirect_chain[-1][0]
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert done["Location"] == "/accounts/password/reset/complete/"
    alice.user.refresh_from_db()
    assert alice.user.check_password(NEW_PASSWORD)
    # The link is spent: the same link now says so.
    again = Client().get(link, follow=True)
    assert b"This reset link can't be used" in again.content


def test_a_reset_pauses_reveals_emails_a_notice_and_is_audited(
    client, alice, clock, django_capture_on_commit_callbacks
):
    signed_in_before(alice)
    ask(client, "alice@example.com")
    form = client.get(link_from_outbox(), follow=True)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            form.redirect_chain[-1][0],
            {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )
    cooloff = reveal_cooloff(user=alice.user)
    assert cooloff is not None
    assert cooloff.reason == "password_changed"
    notices = [m for m in mail.outbox if m.subject == "Your cardreveal password was changed"]
    assert [m.to for m in notices] == [["alice@example.com"]]
    kinds = list(
        AuthEvent.objects.filter(user=alice.user).order_by("seq").values_list("event", flat=True)
    )
    assert kinds[-3:] == [
        AuthEvent.Event.PASSWORD_RESET_REQUESTED,
        AuthEvent.Event.PASSWORD_CHANGED,
        AuthEvent.Event.PASSWORD_RESET,
    ]
    page = client.get("/accounts/password/reset/complete/")
    assert b"security codes stay hidden for 60 minutes" in page.content
    # The cardholder sees both on their activity page.
    client.post("/accounts/login/", {"username": "alice", "password": NEW_PASSWORD})
    client.post("/accounts/verify/", {"code": totp_code(alice.device, clock)})
    activity = client.get("/activity/").content.decode()
    assert "Password reset email sent" in activity
    assert "Password reset by email" in activity


def test_a_reset_of_an_account_that_never_signed_in_also_pauses_reveals(
    client, alice, django_capture_on_commit_callbacks
):
    assert alice.user.last_login is None
    ask(client, "alice@example.com")
    form = client.get(link_from_outbox(), follow=True)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            form.redirect_chain[-1][0],
            {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )
    assert reveal_cooloff(user=alice.user) is not None
    assert len([m for m in mail.outbox if "password was changed" in m.subject]) == 1


def test_a_weak_new_password_is_refused_and_the_old_one_stays(client, alice):
    ask(client, "alice@example.com")
    form = client.get(link_from_outbox(), follow=True)
    response = client.post(
        form.redirect_chain[-1][0], {"new_password1": "abc", "new_password2": "abc"}
    )
    assert response.status_code == 200
    assert b"This password is too short" in response.content
    alice.user.refresh_from_db()
    assert alice.user.check_password(alice.password)


def test_a_tampered_link_is_refused_with_a_way_forward(client, alice):
    ask(client, "alice@example.com")
    link = link_from_outbox()
    tampered = link[:-3] + ("aa/" if not link.endswith("aa/") else "bb/")
    page = Client().get(tampered, follow=True)
    assert b"This reset link can't be used" in page.content
    assert b'href="/accounts/password/reset/"' in page.content


def test_too_many_requests_for_one_address_are_refused_whether_or_not_it_exists(
    client, alice, settings
):
    settings.CARDREVEAL_PASSWORD_RESET_PER_EMAIL_HOUR = 2
    for address in ("alice@example.com", "nobody-here@example.com"):
        for _ in range(2):
            assert ask(client, address).status_code == 302
        refused = ask(client, address)
        assert refused.status_code == 429
        assert b"Too many reset requests" in refused.content
        assert int(refused["Retry-After"]) >= 1
    # Only the two allowed requests for alice sent anything.
    assert len(mail.outbox) == 2
    # The address's own counter: another address is still accepted.
    assert ask(client, "bob@example.com").status_code == 302


def test_too_many_requests_from_one_client_address_are_refused(client, db, settings):
    settings.CARDREVEAL_PASSWORD_RESET_PER_ADDRESS_HOUR = 3
    for n in range(3):
        assert ask(client, f"person{n}@example.com").status_code == 302
    assert ask(client, "person9@example.com").status_code == 429
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert ask(other, "person9@example.com").status_code == 302


def test_the_limits_reset_after_the_hour(client, alice, settings, wall_clock):
    settings.CARDREVEAL_PASSWORD_RESET_PER_EMAIL_HOUR = 1
    assert ask(client, "alice@example.com").status_code == 302
    assert ask(client, "alice@example.com").status_code == 429
    wall_clock.advance(hours=1)
    assert ask(client, "alice@example.com").status_code == 302


@pytest.mark.parametrize("value", ["", "not-an-address", "a" * 300 + "@example.com"])
def test_a_malformed_address_gets_a_field_error(client, db, value):
    response = ask(client, value)
    assert response.status_code == 200
    assert b'class="error"' in response.content
    assert mail.outbox == []
