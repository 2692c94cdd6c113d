"""Reads of the audit trail: the cardholder's own activity, newest first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from cardreveal.audit.models import AuthEvent, RevealEvent
from cardreveal.audit.texts import reason_text

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Account events a cardholder sees about themselves; admin work and sign-outs are not shown.
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
)
# Account events about one card (resource "card:<id>"): the activity page names the card.
_CARD_EVENTS = (AuthEvent.Event.REVEAL_DISOWNED, AuthEvent.Event.CARD_LOCKED)


def reveal_events_for_user(*, user: User, limit: int = 100) -> QuerySet[RevealEvent]:
    """The user's own reveal attempts, newest first."""
    return RevealEvent.objects.filter(user=user).order_by("-created_at", "-seq")[:limit]


def auth_events_for_user(*, user: User, limit: int = 100) -> QuerySet[AuthEvent]:
    """The user's own sign-ins and account security events, newest first."""
    return AuthEvent.objects.filter(user=user, event__in=CARDHOLDER_AUTH_EVENTS).order_by(
        "-created_at", "-seq"
    )[:limit]


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
    )


def activity_for_user(*, user: User, limit: int = 100) -> list[ActivityItem]:
    """The user's reveals, sign-ins and account security events, merged newest first, at most
    `limit` lines."""
    items = [_reveal_item(e) for e in reveal_events_for_user(user=user, limit=limit)]
    auth_events = list(auth_events_for_user(user=user, limit=limit))
    labels = _card_labels(user=user, events=auth_events)
    items += [_auth_item(e, labels) for e in auth_events]
    items.sort(key=lambda item: item.when, reverse=True)
    return items[:limit]


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
