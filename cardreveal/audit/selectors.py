"""Reads of the audit trail: the cardholder's own activity, newest first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from heapq import merge
from typing import TYPE_CHECKING, overload

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from cardreveal.audit.models import AuthEvent, RevealEvent
from cardreveal.audit.texts import reason_text
from cardreveal.client_info import device_name

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Account events a cardholder sees about themselves; admin work and sign-outs are not shown, nor
# a password accepted without the code step ("Signed in" is written once both steps passed).
CARDHOLDER_AUTH_EVENTS = (
    AuthEvent.Event.LOGIN,
    AuthEvent.Event.LOGIN_FAILED,
    AuthEvent.Event.OTP_FAILED,
    AuthEvent.Event.OTP_REPLAY_REJECTED,
    AuthEvent.Event.ACCOUNT_LOCKED,
    AuthEvent.Event.ACCOUNT_UNLOCKED,
    AuthEvent.Event.DEVICE_ADDED,
    AuthEvent.Event.DEVICE_REMOVED,
    AuthEvent.Event.PASSWORD_CHANGED,
    AuthEvent.Event.REVEAL_DISOWNED,
    AuthEvent.Event.CARD_LOCKED,
    AuthEvent.Event.INVITATION_USED,
    AuthEvent.Event.PASSWORD_RESET_REQUESTED,
    AuthEvent.Event.PASSWORD_RESET,
)
# Account events about one card (resource "card:<id>"): the activity page names the card.
_CARD_EVENTS = (AuthEvent.Event.REVEAL_DISOWNED, AuthEvent.Event.CARD_LOCKED)


def reveal_events_for_user(*, user: User, limit: int = 100) -> QuerySet[RevealEvent]:
    """The user's own reveal attempts, newest first."""
    return RevealEvent.objects.filter(user=user).order_by("-created_at", "-seq")[:limit]


# A code refused at a reveal is written twice: as the reveal's own record ("Not shown: Wrong
# code") and as an account event for the lockout's trail. The activity page shows it once.
REVEAL_STEP = "step:reveal"
ACTIVITY_PAGE_SIZE = 25


def _cardholder_auth_events(*, user: User) -> QuerySet[AuthEvent]:
    return (
        AuthEvent.objects.filter(user=user, event__in=CARDHOLDER_AUTH_EVENTS)
        .exclude(
            event__in=(AuthEvent.Event.OTP_FAILED, AuthEvent.Event.OTP_REPLAY_REJECTED),
            resource=REVEAL_STEP,
        )
        .order_by("-created_at", "-seq")
    )


def auth_events_for_user(*, user: User, limit: int = 100) -> QuerySet[AuthEvent]:
    """The user's own sign-ins and account security events, newest first; a code refused at a
    reveal is left to the reveal's own record."""
    return _cardholder_auth_events(user=user)[:limit]


@dataclass(frozen=True)
class ActivityItem:
    """One line of the activity page, in plain language."""

    when: datetime
    what: str
    card: str
    result: str
    ok: bool
    channel: str
    client_ip: str
    user_agent: str
    device: str  # the browser or app, as a person would name it; "" for the bank's own work


def _reveal_item(event: RevealEvent) -> ActivityItem:
    ok = event.outcome == RevealEvent.Outcome.REVEALED
    return ActivityItem(
        when=event.created_at,
        what="Security code shown" if ok else "Security code requested",
        card=event.card_label or "Unknown card",
        result="Shown" if ok else _not_shown(event),
        ok=ok,
        channel=event.get_channel_display(),
        client_ip=event.client_ip or "",
        user_agent=event.user_agent,
        device=device_name(event.user_agent) if event.user_agent else "",
    )


def _not_shown(event: RevealEvent) -> str:
    if event.outcome == RevealEvent.Outcome.PENDING:
        # Asked of the bank, outcome never written: say so rather than guess.
        return "Outcome not recorded (the bank was asked; contact support if that wasn't you)"
    return f"Not shown: {reason_text(event.reason)}"


def _auth_item(event: AuthEvent, card_labels: dict[str, str]) -> ActivityItem:
    ok = event.outcome == AuthEvent.Outcome.SUCCESS
    if event.event == AuthEvent.Event.CARD_LOCKED and not ok:
        # The reason is the provider's error code; what matters to the cardholder is the next step.
        result = reason_text("lock_failed")
    else:
        result = reason_text(event.reason) if event.reason else ("Done" if ok else "Refused")
    return ActivityItem(
        when=event.created_at,
        what=event.get_event_display(),
        card=card_labels.get(event.resource.removeprefix("card:"), "")
        if event.event in _CARD_EVENTS
        else "",
        result=result,
        ok=ok,
        channel=event.get_channel_display(),
        client_ip=event.client_ip or "",
        user_agent=event.user_agent,
        device=device_name(event.user_agent) if event.user_agent else "",
    )


class _MergedActivity:
    """The user's reveal records and account events as one newest-first sequence that a
    `Paginator` can count and slice: a slice reads only the newest rows of each table it needs."""

    def __init__(self, *, user: User) -> None:
        self.user = user
        self.reveals = RevealEvent.objects.filter(user=user).order_by("-created_at", "-seq")
        self.account = _cardholder_auth_events(user=user)

    def count(self) -> int:
        return self.reveals.count() + self.account.count()

    @overload
    def __getitem__(self, index: int) -> ActivityItem: ...
    @overload
    def __getitem__(self, index: slice) -> list[ActivityItem]: ...
    def __getitem__(self, index: int | slice) -> ActivityItem | list[ActivityItem]:
        if isinstance(index, int):
            return self[index : index + 1][0]
        stop = index.stop if index.stop is not None else self.count()
        account = list(self.account[:stop])
        labels = _card_labels(user=self.user, events=account)
        merged = merge(
            (_reveal_item(e) for e in self.reveals[:stop]),
            (_auth_item(e, labels) for e in account),
            key=lambda item: item.when,
            reverse=True,
        )
        return list(merged)[index]


def activity_page_for_user(
    *, user: User, page: int | str | None = 1, per_page: int = ACTIVITY_PAGE_SIZE
) -> Page:  # type: ignore[type-arg]
    """One page of the user's reveals, sign-ins and account security events, newest first, each
    event once. `page` is taken as Django's `Paginator.get_page` takes it: anything that is not
    a page number gives the first page, a number past the end the last."""
    return Paginator(_MergedActivity(user=user), per_page).get_page(page)  # type: ignore[arg-type]


def activity_for_user(*, user: User, limit: int = 100) -> list[ActivityItem]:
    """The user's reveals, sign-ins and account security events, merged newest first, at most
    `limit` lines."""
    return _MergedActivity(user=user)[:limit]


def _card_labels(*, user: User, events: list[AuthEvent]) -> dict[str, str]:
    """Card id (text) -> the label the user's latest reveal of it recorded, for the card events
    among `events`: one small query per card they name (a page names one or two)."""
    ids = {
        e.resource.removeprefix("card:")
        for e in events
        if e.event in _CARD_EVENTS and e.resource.startswith("card:")
    }
    labels: dict[str, str] = {}
    for card_id in sorted(ids):
        try:
            uuid.UUID(card_id)
        except ValueError:
            continue
        label = (
            RevealEvent.objects.filter(user=user, card_id=card_id)
            .order_by("-seq")
            .values_list("card_label", flat=True)
            .first()
        )
        if label:
            labels[card_id] = label
    return labels
