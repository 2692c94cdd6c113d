"""Reads of the audit trail: the cardholder's own activity, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import BooleanField, Expression, QuerySet

from cardreveal.audit.models import AuthEvent, RevealEvent, RevealSwitch
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
)


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
        result="Shown" if ok else f"Not shown: {reason_text(event.reason)}",
        ok=ok,
        channel=event.get_channel_display(),
        client_ip=event.client_ip or "",
        user_agent=event.user_agent,
    )


def _auth_item(event: AuthEvent) -> ActivityItem:
    ok = event.outcome == AuthEvent.Outcome.SUCCESS
    return ActivityItem(
        when=event.created_at,
        what=event.get_event_display(),
        card="",
        result=reason_text(event.reason) if event.reason else ("Done" if ok else "Refused"),
        ok=ok,
        channel=event.get_channel_display(),
        client_ip=event.client_ip or "",
        user_agent=event.user_agent,
    )


def activity_for_user(*, user: User, limit: int = 100) -> list[ActivityItem]:
    """The user's reveals, sign-ins and account security events, merged newest first, at most
    `limit` lines."""
    items = [_reveal_item(e) for e in reveal_events_for_user(user=user, limit=limit)]
    items += [_auth_item(e) for e in auth_events_for_user(user=user, limit=limit)]
    items.sort(key=lambda item: item.when, reverse=True)
    return items[:limit]


class RevealsPaused(Expression):
    """`EXISTS (the switch row, with reveals off)`, compiled straight to its SQL.

    The same as `Exists(RevealSwitch.objects.filter(pk=..., reveals_enabled=False))`, whose
    compilation (a subquery resolved and copied) cost more CPU on every reveal than the
    rest of the card query it sits in. Quoted by the compiler, so it holds on any backend.
    """

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[str | int, ...]]:
        quote = compiler.quote_name_unless_alias
        meta = RevealSwitch._meta
        enabled = meta.get_field("reveals_enabled").column
        # Only the model's own, quoted names go into the text; the one value is a parameter.
        return (
            f"EXISTS (SELECT 1 FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s "  # noqa: S608
            f"AND NOT {quote(enabled)})",
            (RevealSwitch.SINGLETON_ID,),
        )


def reveals_paused_expression() -> RevealsPaused:
    """True while an admin has paused reveals for everyone, as an expression another query can
    select (`cards.selectors.card_for_reveal`), so the switch costs no round trip of its own.
    Read fresh by that query, never cached, like `reveals_globally_enabled`."""
    return RevealsPaused()


def reveals_globally_enabled() -> bool:
    """False while an admin has paused reveals for everyone (the global switch). One query, no
    cache, so a change holds on every worker at the next reveal. No row means on."""
    enabled = (
        RevealSwitch.objects.filter(pk=RevealSwitch.SINGLETON_ID)
        .values_list("reveals_enabled", flat=True)
        .first()
    )
    return enabled is not False
