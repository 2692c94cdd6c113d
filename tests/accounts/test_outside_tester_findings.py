"""What an outside tester did at the web and admin sign-in (issue 25), redone through the same
doors: admin codes locked and audited, stored backup codes useless as codes, two authenticators
that do not fight, a replay after clock drift told as a replay, a locked account answered (and
timed) as an unknown one, and wrong passwords not delaying the right code.
(The API door: tests/api/test_outside_tester_findings_api.py; the limits per address and per
username: tests/accounts/test_sign_in_limits.py.)"""

from __future__ import annotations

import importlib
from io import StringIO
from typing import ClassVar

import pytest
from django.apps import apps
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.management import call_command
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.lockout import account_locked_until
from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.otp import (
    BACKUP_DEVICE_NAME,
    backup_code_digests,
    is_backup_code_digest,
    replace_backup_codes,
)
from cardreveal.audit.models import AuthEvent
from tests.conftest import totp_code

ADMIN_PASSWORD = "pw-root-long-enough"
WEB_WRONG = "Please enter a correct username and password"
ADMIN_WRONG = "Please enter the correct username and password for a staff account"


def admin_sign_in(browser: Client, code: str, *, username: str = "root", password: str = ""):
    return browser.post(
        "/admin/login/?next=/admin/",
        {
            "username": username,
            "password": password or ADMIN_PASSWORD,
            "code": code,
            "next": "/admin/",
        },
    )


def web_password(browser: Client, username: str, password: str):
    return browser.post("/accounts/login/", {"username": username, "password": password})


def web_code(browser: Client, code: str):
    return browser.post("/accounts/verify/", {"code": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def opens_the_admin(browser: Client) -> bool:
    return browser.get("/admin/").status_code == 200


# ------------------------------------------------------ 1. the admin's second factor is locked out


def test_ten_wrong_admin_codes_with_the_right_password_lock_the_account_and_are_audited(
    client, staff, clock, wall_clock
):
    user, device = staff
    for attempt in range(10):
        response = admin_sign_in(client, wrong(totp_code(device, clock)))
        assert response.status_code == 200, attempt
        wall_clock.advance(minutes=5)  # a patient tester: past the back-off, so each is checked
    security = AccountSecurity.objects.get(user=user)
    assert security.failed_attempts == 10
    assert account_locked_until(user=user) is not None
    refused = AuthEvent.objects.filter(event=AuthEvent.Event.OTP_FAILED, user=user)
    assert refused.count() == 10
    assert {(e.reason, e.channel) for e in refused} == {("otp_invalid", "admin")}
    locked = AuthEvent.objects.get(event=AuthEvent.Event.ACCOUNT_LOCKED)
    assert (locked.user, locked.channel) == (user, "admin")
    # and the right password with the right code no longer opens the admin
    browser = Client()
    admin_sign_in(browser, totp_code(device, clock))
    assert not opens_the_admin(browser)


# ------------------------------------------------------ 2. the stored backup-code value is no code


def test_the_stored_backup_code_value_does_not_sign_in_to_the_admin(client, staff, wall_clock):
    user, _device = staff
    codes = replace_backup_codes(user=user)
    stored = StaticToken.objects.filter(device__user=user).values_list("token", flat=True)[0]
    response = admin_sign_in(client, stored)
    assert response.status_code == 200
    assert "That code is not correct" in response.content.decode()
    assert not opens_the_admin(client)
    assert StaticToken.objects.filter(device__user=user).count() == 10  # nothing was spent
    assert admin_sign_in(client, codes[0]).status_code == 302  # while a real one works
    assert opens_the_admin(client)


def test_the_stored_backup_code_value_does_not_sign_in_on_the_web(client, alice, wall_clock):
    codes = replace_backup_codes(user=alice.user)
    stored = StaticToken.objects.filter(device__user=alice.user).values_list("token", flat=True)
    assert web_password(client, "alice", alice.password).status_code == 302
    for value in stored[:3]:
        response = web_code(client, value)
        assert response.status_code == 200
        assert "That code is not correct" in response.content.decode()
        wall_clock.advance(minutes=5)
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 3  # counted as guesses
    assert StaticToken.objects.filter(device__user=alice.user).count() == 10
    assert web_code(client, codes[0]).status_code == 302  # while a real one works


def test_backup_codes_stored_as_typed_before_are_turned_into_digests_by_the_migration(
    client, staff, wall_clock
):
    user, _device = staff
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    # rows as an older release (10 hex digits) or django-otp (8 base-32 letters) wrote them
    StaticToken.objects.bulk_create(
        [
            StaticToken(device=device, token="a1b2c3d4e5"),
            StaticToken(device=device, token="mfrggzdf"),
        ]
    )
    migration = importlib.import_module(
        "cardreveal.accounts.migrations.0003_backup_codes_as_digests"
    )
    migration.backup_codes_to_digests(apps, None)
    stored = sorted(StaticToken.objects.filter(device=device).values_list("token", flat=True))
    assert stored == sorted(backup_code_digests(c)[0] for c in ("a1b2c3d4e5", "mfrggzdf"))
    migration.backup_codes_to_digests(apps, None)  # twice changes nothing
    assert sorted(StaticToken.objects.filter(device=device).values_list("token", flat=True)) == (
        stored
    )
    # the code as its owner has it still works, once; the stored value never did
    assert admin_sign_in(client, stored[0]).status_code == 200
    assert admin_sign_in(client, "A1B2-C3D4-E5").status_code == 302
    again = Client()
    wall_clock.advance(minutes=5)
    assert admin_sign_in(again, "a1b2c3d4e5").status_code == 200
    assert not opens_the_admin(again)


def test_a_backup_code_made_with_django_otps_command_is_stored_only_as_its_digest(client, staff):
    user, _device = staff
    out = StringIO()
    call_command("addstatictoken", "root", stdout=out)
    code = out.getvalue().strip()
    (stored,) = StaticToken.objects.filter(device__user=user).values_list("token", flat=True)
    assert stored != code
    assert is_backup_code_digest(stored)
    assert admin_sign_in(client, code).status_code == 302  # the printed code works
    assert opens_the_admin(client)


# ------------------------------------------------------ 3. two authenticators do not fight


@pytest.fixture
def second_phone(alice) -> TOTPDevice:
    return TOTPDevice.objects.create(user=alice.user, name="tablet", confirmed=True)


def test_right_codes_from_a_second_authenticator_never_count_against_the_first(
    alice, second_phone, clock, wall_clock
):
    for _ in range(6):  # more than the back-off waives, and each checked against the first too
        browser = Client()
        assert web_password(browser, "alice", alice.password).status_code == 302
        assert web_code(browser, totp_code(second_phone, clock)).status_code == 302
        clock.advance(30)
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 0
    assert not AuthEvent.objects.filter(event=AuthEvent.Event.OTP_FAILED).exists()
    browser = Client()
    web_password(browser, "alice", alice.password)
    response = web_code(browser, totp_code(alice.device, clock))  # the first phone's own code
    assert response.status_code == 302
    assert browser.get("/").status_code == 200


def test_a_second_authenticators_right_code_works_after_wrong_ones(
    alice, second_phone, clock, wall_clock
):
    browser = Client()
    web_password(browser, "alice", alice.password)
    for _ in range(2):  # two wrong codes cost no wait, whichever phone they were meant for
        assert web_code(browser, wrong(totp_code(alice.device, clock))).status_code == 200
    assert web_code(browser, totp_code(second_phone, clock)).status_code == 302
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 0


# ------------------------------------------------------ 4. a replay after drift is a replay


@pytest.mark.parametrize("steps_off", [-1, 1])
def test_a_double_submit_after_a_code_one_step_off_is_recorded_as_a_replay(
    alice, clock, wall_clock, steps_off
):
    clock.advance(30 * steps_off)
    off_by_one = totp_code(alice.device, clock)  # the phone's clock is one step off
    clock.advance(-30 * steps_off)
    first = Client()
    web_password(first, "alice", alice.password)
    assert web_code(first, off_by_one).status_code == 302
    alice.device.refresh_from_db()
    assert alice.device.drift == steps_off  # django-otp took up the drift
    second = Client()  # the double submit, from a second tab
    web_password(second, "alice", alice.password)
    response = web_code(second, off_by_one)
    assert "That code has already been used" in response.content.decode()
    replay = AuthEvent.objects.get(event=AuthEvent.Event.OTP_REPLAY_REJECTED)
    assert (replay.user, replay.reason) == (alice.user, "otp_replayed")
    assert not AuthEvent.objects.filter(event=AuthEvent.Event.OTP_FAILED).exists()
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 0


def test_a_double_submit_at_the_admin_after_drift_is_a_replay_not_a_guess(
    client, staff, clock, wall_clock
):
    user, device = staff
    clock.advance(-30)
    late = totp_code(device, clock)
    clock.advance(30)
    assert admin_sign_in(client, late).status_code == 302
    response = admin_sign_in(Client(), late)
    assert "That code was already used" in response.content.decode()
    assert AuthEvent.objects.get(event=AuthEvent.Event.OTP_REPLAY_REJECTED).user == user
    assert not AuthEvent.objects.filter(event=AuthEvent.Event.OTP_FAILED).exists()
    assert AccountSecurity.objects.get(user=user).failed_attempts == 0


# ------------------------------------------------------ 6. a locked account looks like no account


class CountingHasher(MD5PasswordHasher):
    """The test settings' hasher, counting how often a password is hashed (each check of a
    password, and Django's stand-in hash for an unknown username, hash once)."""

    hashed: ClassVar[list[str]] = []

    def encode(self, password: str, salt: str) -> str:
        CountingHasher.hashed.append(salt)
        return super().encode(password, salt)


@pytest.fixture
def hashes(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.hashed.clear()
    return CountingHasher.hashed


def locked(holder_user) -> None:
    from datetime import timedelta

    from django.utils import timezone

    AccountSecurity.objects.update_or_create(
        user=holder_user, defaults={"locked_until": timezone.now() + timedelta(minutes=30)}
    )


def answer(response) -> tuple[int, tuple[str, ...]]:
    return response.status_code, tuple(response.context["form"].non_field_errors())


def test_a_locked_account_gets_the_answer_and_the_work_an_unknown_username_gets(
    alice, wall_clock, hashes
):
    # alice is created before `hashes` starts counting; her lock is set directly
    locked(alice.user)
    seen = {}
    for label, username, password in [
        ("unknown", "nobody", "whatever-it-is"),
        ("locked, wrong password", "alice", "not-her-password"),
        ("locked, right password", "alice", alice.password),
    ]:
        hashes.clear()
        browser = Client()
        response = web_password(browser, username, password)
        seen[label] = (answer(response), len(hashes))
        assert "_auth_user_id" not in browser.session
    assert len(set(seen.values())) == 1, seen
    ((status, errors), hashed) = seen["unknown"]
    assert (status, hashed) == (200, 1)
    assert WEB_WRONG in errors[0]


def test_a_locked_staff_account_gets_the_answer_and_the_work_an_unknown_username_gets(
    staff, clock, wall_clock, hashes
):
    user, device = staff
    locked(user)
    seen = {}
    for label, username, password in [
        ("unknown", "nobody", "whatever-it-is"),
        ("locked, wrong password", "root", "not-the-password"),
        ("locked, right password", "root", ADMIN_PASSWORD),
    ]:
        hashes.clear()
        response = admin_sign_in(
            Client(), totp_code(device, clock), username=username, password=password
        )
        seen[label] = (answer(response), len(hashes))
    assert len(set(seen.values())) == 1, seen
    ((status, errors), hashed) = seen["unknown"]
    assert (status, hashed) == (200, 1)
    assert ADMIN_WRONG in errors[0]
    device.refresh_from_db()
    assert device.last_t == -1  # the code was looked at for none of them


def test_ten_wrong_codes_tell_the_half_signed_in_cardholder_of_the_lock_they_set(
    client, alice, clock, wall_clock, settings
):
    """Who reaches the code step has shown the password: the lock their codes set is told there
    (and emailed); it is the sign-in page that never tells."""
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME = 1000
    web_password(client, "alice", alice.password)
    for _ in range(10):
        response = web_code(client, wrong(totp_code(alice.device, clock)))
        wall_clock.advance(minutes=5)
    assert response["Location"] == "/accounts/login/"
    assert b"this account is locked until" in client.get("/accounts/login/").content
    page = web_password(Client(), "alice", alice.password)
    assert b"locked" not in page.content
    assert WEB_WRONG.encode() in page.content


# ------------------------------------------------------ 7. wrong passwords do not delay the code


def test_wrong_passwords_then_the_right_one_do_not_hold_back_the_right_code(
    client, alice, clock, wall_clock
):
    for _ in range(5):
        assert web_password(client, "alice", "not-her-password").status_code == 200
    assert web_password(client, "alice", alice.password).status_code == 302
    response = web_code(client, totp_code(alice.device, clock))  # at once: no wait
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 0


def test_wrong_codes_still_back_off_and_wrong_passwords_still_count_towards_the_lock(
    client, alice, clock, wall_clock, settings
):
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME = 1000
    for _ in range(7):
        web_password(client, "alice", "not-her-password")
    web_password(client, "alice", alice.password)
    for _ in range(3):
        web_code(client, wrong(totp_code(alice.device, clock)))
    # the third wrong code in a row starts the wait; and 7 + 3 failures lock the account
    assert account_locked_until(user=alice.user) is not None
    security = AccountSecurity.objects.get(user=alice.user)
    assert (security.failed_attempts, security.failed_codes) == (10, 3)
