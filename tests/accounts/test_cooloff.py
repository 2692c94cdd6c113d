"""Cool-off: a password change or a new authenticator pauses reveals for an hour and emails the
cardholder; the password change page; what does not start a cool-off."""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts import signals
from cardreveal.accounts.cooloff import reveal_cooloff
from cardreveal.accounts.lockout import account_locked_until
from tests.conftest import Cardholder, sign_in, totp_code

NEW_PASSWORD = "a-brand-new-passphrase-42"


@pytest.fixture
def card(alice, make_card):
    return make_card(alice.user)


@pytest.fixture
def browser(client, alice, clock, wall_clock):
    sign_in(client, alice, clock)
    return client


def reveal(client, holder, card, clock, key):
    clock.advance(30)
    return client.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(holder.device, clock), "public_key": key.public_b64},
    )


def change_password(client, old: str, new: str = NEW_PASSWORD):
    return client.post(
        "/accounts/password/",
        {"old_password": old, "new_password1": new, "new_password2": new},
    )


# ---------------------------------------------------------------------------------- password


def test_password_change_pauses_reveals_for_an_hour_and_emails(
    browser, alice, card, clock, wall_clock, client_key, django_capture_on_commit_callbacks
):
    assert browser.get("/accounts/password/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = change_password(browser, alice.password)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/done/"
    done = browser.get("/accounts/password/done/").content.decode()
    assert "cannot be shown until 11:00 UTC because your password was changed" in done

    (email,) = mail.outbox
    assert email.to == ["alice@example.com"]
    assert email.subject == "Your cardreveal password was changed"
    assert "cannot be shown until 11:00 UTC" in email.body
    assert NEW_PASSWORD not in email.body

    wall_clock.advance(minutes=14)  # keep the session alive, then try inside the cool-off
    refused = reveal(browser, alice, card, clock, client_key)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "reveal_cooloff"
    assert refused["Retry-After"] == str(46 * 60)


def test_reveals_resume_when_the_cool_off_ends(alice, card, clock, wall_clock, client_key):
    from cardreveal.cards.services import RevealError, reveal_cvv
    from cardreveal.client_info import ClientInfo

    user = get_user_model().objects.get(pk=alice.user.pk)
    user.last_login = wall_clock.now
    user.set_password(NEW_PASSWORD)
    user.save()
    client = ClientInfo(ip="198.51.100.1", user_agent="t", request_id="r-00000000", channel="web")

    def attempt():
        clock.advance(30)
        return reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=totp_code(alice.device, clock),
            client_public_key=client_key.public_b64,
            client=client,
        )

    wall_clock.advance(minutes=59, seconds=59)
    with pytest.raises(RevealError) as info:
        attempt()
    assert (info.value.code, info.value.retry_after) == ("reveal_cooloff", 1)
    wall_clock.advance(seconds=1)
    assert client_key.open(attempt().sealed) == "347"


def test_password_change_needs_a_verified_session(client, alice):
    client.post("/accounts/login/", {"username": "alice", "password": alice.password})
    response = client.get("/accounts/password/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/verify/")


def test_password_change_signs_out_other_sessions_but_not_this_one(
    browser, alice, clock, wall_clock
):
    from django.test import Client

    other = Client()
    clock.advance(30)
    sign_in(other, alice, clock)
    change_password(browser, alice.password)
    assert browser.get("/").status_code == 200
    assert other.get("/").status_code == 302


def test_a_wrong_current_password_changes_nothing_and_counts_towards_the_lock(
    browser, alice, wall_clock
):
    for _ in range(9):
        response = change_password(browser, "not-my-password")
        assert b"Your old password was entered incorrectly" in response.content
    response = change_password(browser, "not-my-password")
    assert b"locked until 10:30 UTC" in response.content
    assert account_locked_until(user=alice.user) is not None
    # locked: even the right current password is refused now
    assert b"locked until" in change_password(browser, alice.password).content
    assert get_user_model().objects.get(pk=alice.user.pk).check_password(alice.password)
    assert mail.outbox == []


def test_an_admin_password_reset_also_starts_the_cool_off(
    alice, wall_clock, django_capture_on_commit_callbacks
):
    user = get_user_model().objects.get(pk=alice.user.pk)
    user.last_login = wall_clock.now
    with django_capture_on_commit_callbacks(execute=True):
        user.set_password(NEW_PASSWORD)  # as the admin's form and changepassword do
        user.save()
    assert reveal_cooloff(user=user).reason == "password_changed"
    assert len(mail.outbox) == 1


def test_an_account_that_never_signed_in_gets_its_first_password_without_cool_off(
    db, wall_clock, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        user = get_user_model().objects.create_user(
            "dora", "dora@example.com", "pw-dora-long-enough"
        )
    assert reveal_cooloff(user=user) is None
    assert mail.outbox == []


def test_password_changed_signal_is_sent(browser, alice, wall_clock):
    caught = []

    def receiver(sender, **kwargs):
        caught.append(kwargs)

    signals.password_changed.connect(receiver)
    try:
        change_password(browser, alice.password)
    finally:
        signals.password_changed.disconnect(receiver)
    assert [c["user"].pk for c in caught] == [alice.user.pk]
    assert caught[0]["cooloff_until"].hour == 11


def test_a_zero_cool_off_setting_turns_it_off(browser, alice, card, clock, settings, client_key):
    settings.CARDREVEAL_REVEAL_COOLOFF_SECONDS = 0
    change_password(browser, alice.password)
    assert reveal(browser, alice, card, clock, client_key).status_code == 200


# ---------------------------------------------------------------------------------- authenticators


def code_for_secret(secret: str, clock) -> str:
    totp = TOTP(b32decode(secret), 30, 0, 6, 0)
    totp.time = clock.now
    return f"{totp.token():06d}"


def test_enrolling_an_authenticator_pauses_reveals_and_emails(
    client, db, make_card, clock, wall_clock, client_key, django_capture_on_commit_callbacks
):
    user = get_user_model().objects.create_user("erin", "erin@example.com", "pw-erin-long-enough")
    card = make_card(user)
    client.post("/accounts/login/", {"username": "erin", "password": "pw-erin-long-enough"})
    body = client.get("/accounts/enrol/").content.decode()
    secret = "".join(re.findall(r"<span>([A-Z2-7]{1,4})</span>", body))
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post("/accounts/enrol/", {"code": code_for_secret(secret, clock)})
    assert b"cannot be shown until 11:00 UTC because a new authenticator app" in page.content
    (email,) = mail.outbox
    assert email.to == ["erin@example.com"]
    assert "A new authenticator app" in email.body
    assert secret not in email.body
    holder = Cardholder(user, TOTPDevice.objects.get(user=user), "pw-erin-long-enough")
    response = reveal(client, holder, card, clock, client_key)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "reveal_cooloff"


@pytest.fixture
def admin_client(db, clock, wall_clock):
    from django.test import Client

    root = get_user_model().objects.create_superuser(
        "root", "root@example.com", "pw-root-long-enough"
    )
    device = TOTPDevice.objects.create(user=root, name="admin phone", confirmed=True)
    browser = Client()
    sign_in(browser, Cardholder(root, device, "pw-root-long-enough"), clock)
    return browser


def test_an_authenticator_added_in_the_admin_starts_the_cool_off(
    admin_client, alice, wall_clock, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/otp_totp/totpdevice/add/",
            {
                "user": str(alice.user.pk),
                "name": "second phone",
                "confirmed": "on",
                "key": "3132333435363738393031323334353637383930",
                "step": "30",
                "t0": "0",
                "digits": "6",
                "tolerance": "1",
                "drift": "0",
                "throttling_failure_count": "0",
            },
        )
    assert response.status_code == 302, response.content[:2000]
    assert reveal_cooloff(user=alice.user).reason == "authenticator_added"
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]


def test_devices_made_outside_enrolment_and_admin_start_nothing(alice, wall_clock):
    # fixtures and load_demo make confirmed devices directly: no cool-off, no email
    assert reveal_cooloff(user=alice.user) is None
    assert mail.outbox == []
