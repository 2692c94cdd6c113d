"""Races on the real PostgreSQL (T-STEP-2, T-LOCK-1): one code sent by many requests at once
reveals once; simultaneous failures are each counted and lock the account exactly once. And the
commit order that lets a reveal's code check skip its own disk flush.

Skipped unless DATABASE_URL points at PostgreSQL (CI runs the suite again that way); SQLite has
no row locks to prove anything with.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.db import connection, connections

from cardreveal.accounts import otp, signals
from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.otp import OtpFailure, verify_sign_in_code, verify_totp
from cardreveal.audit.models import RevealEvent
from cardreveal.cards.services import RevealError
from tests.cards.test_reveal_service import reveal
from tests.conftest import totp_code

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="needs DATABASE_URL pointing at PostgreSQL",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8


def run_together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in `count` threads released at the same moment; return results or exceptions."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def body(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as exc:  # collected for the test to inspect
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.fixture
def locks_sent():
    caught: list[dict] = []

    def receiver(sender, **kwargs):
        caught.append(kwargs)

    signals.account_locked.connect(receiver)
    yield caught
    signals.account_locked.disconnect(receiver)


def test_one_code_sent_by_many_requests_at_once_reveals_exactly_once(
    alice, make_card, clock, client_key, provider_calls
):
    card = make_card(alice.user)
    # An account seen before: no first-row insert race to serialize the threads by accident.
    AccountSecurity.objects.create(user=alice.user)
    calls = provider_calls("mastercard")
    code = totp_code(alice.device, clock)

    results = run_together(THREADS, lambda _: reveal(alice, card.pk, code, client_key))

    revealed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, RevealError)]
    assert len(revealed) == 1
    assert client_key.open(revealed[0].sealed) == "347"
    assert len(refused) == THREADS - 1
    assert {r.code for r in refused} <= {"otp_replayed", "otp_throttled"}
    assert calls.count == 1
    assert RevealEvent.objects.filter(outcome="revealed").count() == 1
    # replays are not guesses: the double submit costs the cardholder nothing towards a lock
    assert AccountSecurity.objects.get(user=alice.user).failed_attempts == 0


def test_simultaneous_wrong_codes_are_all_counted_and_lock_once(alice, clock, locks_sent, settings):
    # The back-off would refuse all but the first two unchecked (not guesses, not counted);
    # turned off here so that ten wrong codes are checked at once.
    settings.CARDREVEAL_OTP_FREE_FAILURES = 100
    good = int(totp_code(alice.device, clock))
    wrong = [f"{(good + 1 + i) % 1_000_000:06d}" for i in range(10)]

    results = run_together(10, lambda i: verify_totp(user=alice.user, code=wrong[i]))

    assert all(not r.ok for r in results)
    assert {r.failure for r in results} == {OtpFailure.INVALID}
    security = AccountSecurity.objects.get(user=alice.user)
    assert security.failed_attempts == 10
    assert security.locked_until is not None
    assert len(locks_sent) == 1
    assert sum(r.locked_until is not None for r in results) == 1


def test_simultaneous_wrong_passwords_past_the_threshold_lock_once(alice, locks_sent):
    results = run_together(14, lambda _: authenticate(username="alice", password="wrong"))

    assert results == [None] * 14
    security = AccountSecurity.objects.get(user=alice.user)
    assert security.failed_attempts == 10  # the rest came during the lock and were not counted
    assert security.locked_until is not None
    assert len(locks_sent) == 1
    assert authenticate(username="alice", password=alice.password) is None


def _setting_while_checking(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`synchronous_commit` as each code check's transaction sees it, once its row is locked."""
    seen: list[str] = []
    check = otp._check_totp

    def checking(**kwargs: Any) -> otp.OtpCheck:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])
        return check(**kwargs)

    monkeypatch.setattr(otp, "_check_totp", checking)
    return seen


@pytest.mark.parametrize("right_code", [True, False])
def test_a_reveals_code_check_waits_for_the_disk(
    alice, make_card, clock, client_key, provider_calls, monkeypatch, right_code
):
    # A consumed code, a failure count and the record written with them must survive a crash.
    card = make_card(alice.user)
    provider_calls("mastercard")
    seen = _setting_while_checking(monkeypatch)
    code = totp_code(alice.device, clock) if right_code else "000000"
    refused: list[str] = []
    try:
        reveal(alice, card.pk, code, client_key)
    except RevealError as exc:
        refused.append(exc.code)
    assert refused == ([] if right_code else ["otp_invalid"])
    assert seen == ["on"]
    assert RevealEvent.objects.filter(user=alice.user).count() == 1


def test_a_sign_in_code_check_waits_for_the_disk(alice, clock, monkeypatch):
    seen = _setting_while_checking(monkeypatch)
    assert verify_sign_in_code(user=alice.user, code=totp_code(alice.device, clock)).ok
    assert seen == ["on"]


def test_one_passkey_assertion_sent_by_many_requests_at_once_reveals_exactly_once(
    alice, make_card, client_key, provider_calls, settings
):
    from cardreveal.cards.services import reveal_cvv, reveal_passkey_challenge
    from tests.cards.test_reveal_service import CLIENT
    from tests.passkey_authenticator import (
        SITE_ORIGIN,
        SoftAuthenticator,
        enrol_directly,
        passkey_settings,
    )

    passkey_settings(settings)
    phone = SoftAuthenticator(origin=SITE_ORIGIN)
    enrol_directly(alice.user, phone)
    card = make_card(alice.user)
    AccountSecurity.objects.create(user=alice.user)
    calls = provider_calls("mastercard")
    options = reveal_passkey_challenge(
        user=alice.user, card_id=card.pk, client_public_key=client_key.public_b64
    )
    assertion = phone.get(options)

    results = run_together(
        THREADS,
        lambda _: reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=None,
            client_public_key=client_key.public_b64,
            client=CLIENT,
            passkey_assertion=assertion,
        ),
    )

    revealed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, RevealError)]
    assert len(revealed) == 1
    assert client_key.open(revealed[0].sealed) == "347"
    assert {r.code for r in refused} == {"passkey_replayed"}
    assert len(refused) == THREADS - 1
    assert calls.count == 1
    assert RevealEvent.objects.filter(outcome="revealed").count() == 1
