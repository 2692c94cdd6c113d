"""Whether a card's CVV can be shown now and, if not, why and until when: what the card list, the
reveal page and the API tell a cardholder before they spend a code.

Reads only. It tells ahead what the reveal service (`services.reveal_cvv`) would refuse, with the
same codes and words, in the service's order; the service's own checks stay the authority (a
blocker can start between the page load and the code: the service still refuses).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from cardreveal.accounts.cooloff import cooloff_from
from cardreveal.accounts.lockout import lock_end, lock_message, seconds_until, utc_clock
from cardreveal.accounts.models import AccountSecurity
from cardreveal.cards.models import Card
from cardreveal.cards.quotas import (
    QUOTAS_UNAVAILABLE_MESSAGE,
    QuotasUsedUp,
    RevealQuotaUnavailable,
    reveal_quotas_used_up,
)
from cardreveal.cards.reveal_switch import reveals_paused_expression
from cardreveal.cards.selectors import LISTED_FIELDS, card_for_reveal

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The service's refusals for these, word for word.
REVEALS_PAUSED_MESSAGE = "Showing security codes is paused for everyone right now. Try again later."
CARD_DISABLED_MESSAGE = "Security code display is turned off for this card. Contact support."
BINDING_DISABLED_MESSAGE = (
    "Security codes for this card are unavailable right now. Try again later."
)

# Every code a blocker can have, in the order the reveal service checks them.
BLOCKER_CODES = (
    "account_locked",
    "reveals_paused",
    "card_disabled",
    "binding_disabled",
    "reveal_cooloff",
    "quotas_unavailable",
    "quota_user_hour",
    "quota_card_day",
)


@dataclass(frozen=True)
class RevealBlocker:
    """One reason a reveal would be refused now.

    `code` is the reveal service's refusal code; `message` a sentence for the cardholder, with
    the end time where there is one; `label` a few words for a pill; `until` when it ends (None
    when nobody knows: a switch turned off); `account_wide` when it holds for every card of the
    user rather than this one.
    """

    code: str
    message: str
    label: str
    until: datetime | None
    account_wide: bool

    @property
    def seconds_left(self) -> int | None:
        """Whole seconds until it ends (at least 1), or None without an end."""
        return seconds_until(self.until) if self.until is not None else None


@dataclass(frozen=True)
class CardAvailability:
    """A card and what stops its CVV from being shown now (nothing: it can be)."""

    card: Card
    blockers: tuple[RevealBlocker, ...]

    @property
    def available(self) -> bool:
        return not self.blockers

    @property
    def blocker(self) -> RevealBlocker | None:
        """The one a reveal would be refused with now (the first the service checks)."""
        return self.blockers[0] if self.blockers else None

    @property
    def card_blockers(self) -> tuple[RevealBlocker, ...]:
        """The blockers of this card alone (the account-wide ones are said once per page)."""
        return tuple(b for b in self.blockers if not b.account_wide)

    @property
    def until(self) -> datetime | None:
        """When every blocker in force now has ended, if each of them has an end; else None."""
        ends = [b.until for b in self.blockers]
        if not ends or any(end is None for end in ends):
            return None
        return max(end for end in ends if end is not None)


@dataclass(frozen=True)
class CardListAvailability:
    """The user's cards, each with its availability, and the blockers that hold for all of them
    (empty when the user has no card: there is nothing to reveal)."""

    cards: list[CardAvailability]
    account_blockers: tuple[RevealBlocker, ...]


def reveal_availability(*, user: User, card_id: uuid.UUID) -> CardAvailability | None:
    """The user's card with this id and what stops a reveal of it now; None when it is missing or
    someone else's. One query (`card_for_reveal`) and one cache read."""
    target = card_for_reveal(user=user, card_id=card_id)
    if target is None:
        return None
    quotas = reveal_quotas_used_up(user=user, cards=[target.card])
    blockers = _blockers(
        card=target.card,
        reveals_paused=target.reveals_paused,
        security=target.security,
        quotas=quotas,
    )
    return CardAvailability(card=target.card, blockers=blockers)


def card_list_availability(*, user: User) -> CardListAvailability:
    """The user's cards, as `cards_for_user` loads them, each with what stops a reveal now: one
    query for them all (the global switch and the user's lock and cool-off ride along) and one
    cache read. Never loads a card's reference or a binding's secrets."""
    cards = list(
        Card.objects.filter(owner_id=user.pk)
        .annotate(reveals_paused=reveals_paused_expression())
        # Through the owner: a LEFT JOIN, so a user without a security row still lists cards.
        .select_related("binding", "owner__account_security")
        .only(*LISTED_FIELDS, *(f"owner__account_security__{f}" for f in _SECURITY_FIELDS))
    )
    if not cards:
        return CardListAvailability(cards=[], account_blockers=())
    reveals_paused = bool(getattr(cards[0], "reveals_paused"))  # noqa: B009 (an annotation)
    try:
        security: AccountSecurity | None = cards[0].owner.account_security
    except AccountSecurity.DoesNotExist:
        security = None
    for card in cards:
        card.owner = user  # the filter proved it; no second query when the owner is needed
    quotas = reveal_quotas_used_up(user=user, cards=cards)
    listed = [
        CardAvailability(
            card=card,
            blockers=_blockers(
                card=card, reveals_paused=reveals_paused, security=security, quotas=quotas
            ),
        )
        for card in cards
    ]
    account_blockers = tuple(b for b in listed[0].blockers if b.account_wide)
    return CardListAvailability(cards=listed, account_blockers=account_blockers)


# What `lock_end` and `cooloff_from` read of the user's row.
_SECURITY_FIELDS = ("locked_until", "password_changed_at", "authenticator_added_at")


def _blockers(
    *,
    card: Card,
    reveals_paused: bool,
    security: AccountSecurity | None,
    quotas: QuotasUsedUp,
) -> tuple[RevealBlocker, ...]:
    """Every refusal `reveal_cvv` would make before it asks for the code, in its order."""
    found = list(standing_blockers(card=card, reveals_paused=reveals_paused, security=security))
    found += _quota_blockers(card=card, quotas=quotas)
    return tuple(found)


def _quota_blockers(*, card: Card, quotas: QuotasUsedUp) -> list[RevealBlocker]:
    found: list[RevealBlocker] = []
    if quotas.unavailable:
        found.append(
            RevealBlocker(
                "quotas_unavailable",
                QUOTAS_UNAVAILABLE_MESSAGE,
                "Paused for a moment",
                timezone.now() + timedelta(seconds=RevealQuotaUnavailable.retry_after),
                account_wide=True,
            )
        )
    if quotas.user_hour is not None:
        found.append(
            RevealBlocker(
                quotas.user_hour.code,
                quotas.user_hour.message,
                f"Hourly limit reached until {utc_clock(quotas.user_hour.until)}",
                quotas.user_hour.until,
                account_wide=True,
            )
        )
    card_day = quotas.card_day.get(card.pk)
    if card_day is not None:
        found.append(
            RevealBlocker(
                card_day.code,
                card_day.message,
                f"Daily limit reached until {utc_clock(card_day.until)}",
                card_day.until,
                account_wide=False,
            )
        )
    return found


def standing_blockers(
    *, card: Card, reveals_paused: bool, security: AccountSecurity | None
) -> tuple[RevealBlocker, ...]:
    """What stops a reveal of `card` now, apart from its quotas, in the order the reveal service
    refuses (the service refuses with the first): the account's lock, the global pause, the card
    and its binding turned off, the cool-off. `security` is the owner's row (None: none yet)."""
    found: list[RevealBlocker] = []
    locked_until = lock_end(security)
    if locked_until is not None:
        found.append(
            RevealBlocker(
                "account_locked",
                lock_message(locked_until),
                f"Account locked until {utc_clock(locked_until)}",
                locked_until,
                account_wide=True,
            )
        )
    if reveals_paused:
        found.append(
            RevealBlocker(
                "reveals_paused",
                REVEALS_PAUSED_MESSAGE,
                "Paused for everyone",
                None,
                account_wide=True,
            )
        )
    if not card.reveal_enabled:
        found.append(
            RevealBlocker(
                "card_disabled", CARD_DISABLED_MESSAGE, "Reveal off", None, account_wide=False
            )
        )
    if not card.binding.enabled:
        found.append(
            RevealBlocker(
                "binding_disabled",
                BINDING_DISABLED_MESSAGE,
                "Unavailable",
                None,
                account_wide=False,
            )
        )
    cooloff = cooloff_from(security)
    if cooloff is not None:
        found.append(
            RevealBlocker(
                "reveal_cooloff",
                cooloff.message,
                f"On hold until {utc_clock(cooloff.until)}",
                cooloff.until,
                account_wide=True,
            )
        )
    return tuple(found)
