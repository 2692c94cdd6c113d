"""Audit-trail signals, for the apps above audit to act on; this app only sends them.

Sent synchronously, inside the transaction that records the event, so whatever a receiver changes
commits or rolls back with the audit record, and a receiver that raises undoes both.
`sender` is always `RevealEvent`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from django.dispatch import Signal

# A cardholder used a receipt's "This wasn't me" link: the reveal was not theirs. kwargs: user
# (the cardholder), card_id (uuid.UUID, the card the reveal was of), event (the RevealEvent).
# The cards app stops that card's reveals; a receiver answers with a `DisownedCard`, and the
# audit record counts and says what it did.
reveal_disowned = Signal()


class BankLock(StrEnum):
    """Whether a disowned card was also locked at its provider (the bank's card processor)."""

    OFF = "off"  # the card's bank connection is not set to lock cards on a report
    UNSUPPORTED = "unsupported"  # the provider's API has no documented card lock
    ASKED = "asked"  # the provider will be asked once the report has committed
    ALREADY_LOCKED = "already_locked"  # an earlier report locked it
    LOCKED = "locked"
    FAILED = "failed"  # asked, and the provider call failed: the card may still work


@dataclass(frozen=True)
class BankLockAnswer:
    """How asking the provider to lock the card went: LOCKED, or FAILED with the error's code."""

    outcome: BankLock
    error_code: str = ""


@dataclass(frozen=True)
class DisownedCard:
    """A `reveal_disowned` receiver's answer: how many cards it stopped (0 or 1), whether the
    card will be locked at its provider, and, when `bank_lock` is ASKED, the call that does it.

    `lock_at_bank` is called once, after the report has committed and outside any transaction
    (it makes a network call); it never raises for a provider failure, it answers FAILED.
    """

    frozen: int
    bank_lock: BankLock = BankLock.OFF
    lock_at_bank: Callable[[], BankLockAnswer] | None = None
