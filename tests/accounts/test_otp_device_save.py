"""A code check saves the device as django-otp's own save would, in one statement of its own.

`otp._verify_token` runs django-otp's `verify_token` with the device's save replaced by an UPDATE
of `otp.VERIFICATION_FIELDS`. These tests run both against the installed django-otp from the
same row and compare the rows they leave, so an upgrade that changes another field on
verification fails here instead of losing that change.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts import otp
from tests.conftest import totp_code

pytestmark = pytest.mark.django_db


def _row(pk: int) -> dict[str, object]:
    return TOTPDevice.objects.filter(pk=pk).values().get()


def _both_ways(device: TOTPDevice, code: str) -> tuple[dict[str, object], dict[str, object]]:
    """The row after our check and after django-otp's own, each from the same starting row."""
    before = _row(device.pk)
    ours = TOTPDevice.objects.get(pk=device.pk)
    ours_result = otp._verify_token(ours, code)
    after_ours = _row(device.pk)
    TOTPDevice.objects.filter(pk=device.pk).update(**before)
    theirs = TOTPDevice.objects.get(pk=device.pk)
    assert theirs.verify_token(code) == ours_result
    return after_ours, _row(device.pk)


def _changed(before: dict[str, object], after: dict[str, object]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


@pytest.mark.parametrize(
    "case", ["right code", "wrong code", "right code after failures", "wrong code after failures"]
)
def test_the_row_ends_as_django_otps_own_save_leaves_it(alice, clock, wall_clock, case):
    device = alice.device
    if "after failures" in case:
        TOTPDevice.objects.filter(pk=device.pk).update(
            throttling_failure_count=1,
            throttling_failure_timestamp=wall_clock.now - timedelta(minutes=5),
        )
    code = totp_code(device, clock) if case.startswith("right") else "000000"
    before = _row(device.pk)
    ours, theirs = _both_ways(device, code)
    assert ours == theirs
    changed = _changed(before, theirs)
    assert changed  # every check changes something: the step, or the throttling
    assert changed <= set(otp.VERIFICATION_FIELDS)


def test_a_right_code_is_consumed_and_cannot_be_used_again(alice, clock, wall_clock):
    device = TOTPDevice.objects.get(pk=alice.device.pk)
    code = totp_code(device, clock)
    with CaptureQueriesContext(connection) as queries:
        assert otp._verify_token(device, code)
    [update] = [q["sql"] for q in queries.captured_queries]
    assert update.startswith('UPDATE "otp_totp_totpdevice" SET "last_t"')
    again = TOTPDevice.objects.get(pk=alice.device.pk)
    assert again.last_t == device.last_t >= 0
    assert again.last_used_at == wall_clock.now
    assert not otp._verify_token(again, code)  # the same step again: refused
    assert "save" not in vars(device)  # the instance's own save is back


def test_a_wrong_code_is_counted_towards_django_otps_throttling(alice, clock, wall_clock):
    device = TOTPDevice.objects.get(pk=alice.device.pk)
    assert not otp._verify_token(device, "000000")
    stored = TOTPDevice.objects.get(pk=alice.device.pk)
    assert stored.throttling_failure_count == 1
    assert stored.throttling_failure_timestamp == wall_clock.now
    # django-otp's back-off now refuses an immediate retry, even with the right code
    assert not otp._verify_token(stored, totp_code(stored, clock))
    assert TOTPDevice.objects.get(pk=alice.device.pk).last_t == device.last_t
