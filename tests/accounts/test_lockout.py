"""Per-user lockout (T-LOCK-1): ten failed passwords or codes lock the user, not the address, for
30 minutes; the sign-in page answers a locked account as a wrong password and the user is
emailed until when; admins see and lift the lock; signals for the audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.test import Client

from cardreveal.accounts import signals
from cardreveal.accounts.lockout import account_locked_until
from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.otp import OtpFailure, verify_sign_in_code, verify_totp
from tests.conftest import sign_in, totp_code

GENERIC = b"Please enter a correct username and password"


@pytest.fixture(autouse=True)
def _sign_in_limits_out_of_the_way(settings):
    """These tests are about the per-user lock: the per-address and per-username sign-in limits
    (tests/accounts/test_sign_in_limits.py) are set too high to step in."""
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_ADDRESS = 1000
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME = 1000


def login(client: Client, holder, password: str | None = None, **extra):
    return client.post(
        "/accounts/login/",
        {"username": holder.user.username, "password": password or holder.password},
        **extra,
    )


def wrong_code(holder, clock) -> str:
    return f"{(int(totp_code(holder.device, clock)) + 1) % 1_000_000:06d}"


def fail_passwords(client: Client, holder, times: int) -> None:
    for _ in range(times):
        response = login(client, holder, "not-the-password")
        assert response.status_code == 200


@pytest.fixture
def sent():
    """Every account_locked / account_unlocked / otp_* signal sent during the test."""
    caught: list[tuple[str, dict]] = []
    names = ["account_locked", "account_unlocked", "otp_failed", "otp_replay_rejected"]
    receivers = {}
    for name in names:

        def receiver(sender, _name=name, **kwargs):
            caught.append((_name, kwargs))

        receivers[name] = receiver
        getattr(signals, name).connect(receiver)
    yield caught
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


def named(caught, name):
    return [kwargs for signal, kwargs in caught if signal == name]


# ---------------------------------------------------------------------------------- passwords


def test_ten_wrong_passwords_lock_the_account_and_email_until_when(
    client, alice, wall_clock, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        fail_passwords(client, alice, 10)
    response = login(client, alice)  # the right password, now refused
    assert response.status_code == 200
    assert GENERIC in response.content  # as for a wrong password: the page tells nobody
    assert b"locked" not in response.content
    assert "_auth_user_id" not in client.session
    (notice,) = [m for m in mailoutbox if m.to == [alice.user.email]]
    assert "locked" in notice.subject
    assert "2030-01-15 10:30:00 UTC" in notice.body


def test_nine_wrong_passwords_do_not_lock(client, alice, wall_clock):
    fail_passwords(client, alice, 9)
    assert account_locked_until(user=alice.user) is None
    assert login(client, alice).status_code == 302


def test_the_lock_holds_at_29_59_and_ends_at_30_00(client, alice, wall_clock):
    fail_passwords(client, alice, 10)
    wall_clock.advance(minutes=29, seconds=59)
    assert GENERIC in login(client, alice).content
    wall_clock.advance(seconds=1)
    assert login(client, alice).status_code == 302


def test_the_lock_is_per_user_not_per_address(client, alice, bob, wall_clock):
    fail_passwords(client, alice, 10)
    elsewhere = Client(REMOTE_ADDR="203.0.113.99")
    assert GENERIC in login(elsewhere, alice).content
    assert "_auth_user_id" not in elsewhere.session
    assert login(client, bob).status_code == 302  # same address as the attacker, other user


def test_a_locked_account_is_refused_by_authenticate_even_with_the_right_password(
    alice, wall_clock
):
    for _ in range(10):
        assert authenticate(username="alice", password="wrong") is None
    assert authenticate(username="alice", password=alice.password) is None


def test_attempts_during_a_lock_neither_count_nor_extend_it(client, alice, wall_clock):
    fail_passwords(client, alice, 10)
    wall_clock.advance(minutes=20)
    fail_passwords(client, alice, 5)
    wall_clock.advance(minutes=10)
    assert login(client, alice).status_code == 302


def test_after_a_lock_ends_the_count_starts_again(client, alice, wall_clock):
    fail_passwords(client, alice, 10)
    wall_clock.advance(minutes=30)
    fail_passwords(client, alice, 9)
    assert account_locked_until(user=alice.user) is None
    fail_passwords(client, alice, 1)
    assert account_locked_until(user=alice.user) == wall_clock.now + timedelta(minutes=30)


def test_unknown_usernames_count_nothing(client, db, wall_clock):
    for _ in range(12):
        response = client.post("/accounts/login/", {"username": "nobody", "password": "x"})
        assert GENERIC in response.content
    assert not AccountSecurity.objects.exists()


def test_a_correct_password_alone_does_not_reset_the_count(client, alice, wall_clock):
    fail_passwords(client, alice, 9)
    assert login(client, alice).status_code == 302
    client.post("/accounts/logout/")
    fail_passwords(client, alice, 1)
    assert account_locked_until(user=alice.user) is not None


# ---------------------------------------------------------------------------------- codes


def test_ten_wrong_sign_in_codes_lock_and_end_the_half_signed_in_session(
    client, alice, clock, wall_clock
):
    assert login(client, alice).status_code == 302
    for attempt in range(10):
        response = client.post("/accounts/verify/", {"code": wrong_code(alice, clock)})
        wall_clock.advance(minutes=5)  # past django-otp's per-device back-off
        if attempt < 9:
            assert b"not correct" in response.content
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    page = client.get("/accounts/login/")
    assert b"Too many failed attempts: this account is locked until" in page.content
    assert "_auth_user_id" not in client.session
    # the next sign-in, right password and all, is answered as a wrong one
    assert GENERIC in login(client, alice).content


def test_a_good_code_is_refused_while_locked(alice, clock, wall_clock):
    for _ in range(10):
        verify_totp(user=alice.user, code=wrong_code(alice, clock))
        wall_clock.advance(minutes=5)
    check = verify_sign_in_code(user=alice.user, code=totp_code(alice.device, clock))
    assert not check.ok
    assert check.failure is OtpFailure.LOCKED
    assert check.locked_until is not None


def test_passwords_and_codes_share_one_count(client, alice, clock, wall_clock):
    fail_passwords(client, alice, 6)
    for _ in range(4):
        wall_clock.advance(minutes=5)  # past the back-off the wrong attempts in a row started
        verify_totp(user=alice.user, code=wrong_code(alice, clock))
    assert account_locked_until(user=alice.user) is not None


def test_a_successful_code_resets_the_count(alice, clock, wall_clock):
    for _ in range(9):
        verify_totp(user=alice.user, code=wrong_code(alice, clock))
        wall_clock.advance(minutes=5)
    assert verify_totp(user=alice.user, code=totp_code(alice.device, clock)).ok
    clock.advance(30)
    for _ in range(9):
        verify_totp(user=alice.user, code=wrong_code(alice, clock))
        wall_clock.advance(minutes=5)
    assert account_locked_until(user=alice.user) is None
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 9


def test_malformed_missing_and_replayed_codes_do_not_count(alice, clock, wall_clock):
    code = totp_code(alice.device, clock)
    assert verify_totp(user=alice.user, code=code).ok
    for _ in range(12):
        assert verify_totp(user=alice.user, code=code).failure is OtpFailure.REPLAYED
        assert verify_totp(user=alice.user, code="12345").failure is OtpFailure.MALFORMED
        assert verify_totp(user=alice.user, code="").failure is OtpFailure.MISSING
        wall_clock.advance(days=1)  # past django-otp's back-off, which replays do feed
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 0


def test_wrong_backup_codes_count_at_sign_in(alice, wall_clock):
    for _ in range(10):
        check = verify_sign_in_code(user=alice.user, code="0123456789")
        wall_clock.advance(minutes=5)
    assert check.failure is OtpFailure.INVALID
    assert account_locked_until(user=alice.user) is not None


def test_django_otp_per_device_back_off_holds_from_the_third_wrong_code_in_a_row(
    alice, clock, wall_clock
):
    for _ in range(3):
        assert verify_totp(user=alice.user, code=wrong_code(alice, clock)).failure is (
            OtpFailure.INVALID
        )
    check = verify_totp(user=alice.user, code=totp_code(alice.device, clock))
    assert check.failure is OtpFailure.THROTTLED
    assert check.wait_until == wall_clock.now + timedelta(seconds=4)
    wall_clock.advance(seconds=4)
    assert verify_totp(user=alice.user, code=totp_code(alice.device, clock)).ok


# ---------------------------------------------------------------------------------- signals


def test_lock_and_each_failure_send_signals_for_the_audit(client, alice, clock, wall_clock, sent):
    code = totp_code(alice.device, clock)
    assert verify_totp(user=alice.user, code=code).ok
    verify_totp(user=alice.user, code=code)
    wall_clock.advance(minutes=5)
    assert len(named(sent, "otp_replay_rejected")) == 1
    assert named(sent, "otp_replay_rejected")[0]["context"] == "reveal"
    fail_passwords(client, alice, 9)
    wall_clock.advance(minutes=9)  # past the back-off of nine wrong attempts in a row
    verify_sign_in_code(user=alice.user, code=wrong_code(alice, clock))
    failed = named(sent, "otp_failed")
    assert [(f["reason"], f["context"]) for f in failed] == [("otp_invalid", "sign_in")]
    locked = named(sent, "account_locked")
    assert len(locked) == 1
    assert locked[0]["user"] == alice.user
    assert locked[0]["trigger"] == "otp"
    assert locked[0]["failures"] == 10
    assert locked[0]["locked_until"] == wall_clock.now + timedelta(minutes=30)
    fail_passwords(client, alice, 3)  # refused while locked: no second lock
    assert len(named(sent, "account_locked")) == 1


def test_a_password_lock_says_so_in_the_signal(client, alice, wall_clock, sent):
    fail_passwords(client, alice, 10)
    (locked,) = named(sent, "account_locked")
    assert locked["trigger"] == "password"
    assert locked["client"].ip == "127.0.0.1"


# ---------------------------------------------------------------------------------- admin


@pytest.fixture
def admin_client(db, clock, wall_clock):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.conftest import Cardholder

    root = User.objects.create_superuser("root", "root@example.com", "pw-root-long-enough")
    device = TOTPDevice.objects.create(user=root, name="admin phone", confirmed=True)
    browser = Client()
    sign_in(browser, Cardholder(root, device, "pw-root-long-enough"), clock)
    return browser


def test_admin_sees_the_lock_and_lifts_it(client, admin_client, alice, wall_clock, sent):
    fail_passwords(client, alice, 10)
    page = admin_client.get("/admin/accounts/accountsecurity/?locked=yes").content.decode()
    assert "alice" in page
    assert "Lift the lock on the selected accounts" in page
    response = admin_client.post(
        "/admin/accounts/accountsecurity/",
        {"action": "lift_lock", "_selected_action": [str(alice.user.pk)]},
        follow=True,
    )
    assert b"Lifted the lock on 1 account(s)." in response.content
    assert account_locked_until(user=alice.user) is None
    (unlocked,) = named(sent, "account_unlocked")
    assert unlocked["user"] == alice.user
    assert unlocked["by"].username == "root"
    assert login(client, alice).status_code == 302


def test_lifting_an_unlocked_account_sends_nothing(admin_client, alice, wall_clock, sent):
    AccountSecurity.objects.create(user=alice.user, failed_attempts=3)
    admin_client.post(
        "/admin/accounts/accountsecurity/",
        {"action": "lift_lock", "_selected_action": [str(alice.user.pk)]},
    )
    assert named(sent, "account_unlocked") == []


def test_admins_cannot_edit_or_delete_lock_state(admin_client, alice, wall_clock):
    AccountSecurity.objects.create(user=alice.user, failed_attempts=3)
    page = admin_client.get(f"/admin/accounts/accountsecurity/{alice.user.pk}/change/")
    assert page.status_code == 200
    assert b"Failed attempts" in page.content
    assert b'name="failed_attempts"' not in page.content
    assert b'name="locked_until' not in page.content
    assert admin_client.get("/admin/accounts/accountsecurity/add/").status_code == 403
