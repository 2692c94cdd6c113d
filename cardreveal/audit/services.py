"""Writes to the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cardreveal.audit.models import RevealEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_CONTROL = {i: f"\\x{i:02x}" for i in [*range(0x20), 0x7F]}


def escape_control(text: str, *, limit: int) -> str:
    """Escape control characters (log injection, T-AUD-3) and cut to `limit` characters."""
    return text.translate(_CONTROL)[:limit]


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from: address, user agent, request id, channel."""

    ip: str | None
    user_agent: str
    request_id: str
    channel: str


def reveal_event_record(
    *,
    user: User,
    client: ClientInfo,
    outcome: str,
    reason: str,
    card: object | None = None,
    requested_card_id: str = "",
    provider_kind: str = "",
    provider_latency_ms: int | None = None,
) -> RevealEvent:
    """Append one reveal event. `user` and `card` are model instances (card may be None)."""
    from cardreveal.cards.models import Card

    card_obj = card if isinstance(card, Card) else None
    return RevealEvent.objects.create(
        user=user,
        username=escape_control(str(getattr(user, "get_username", lambda: "")()), limit=150),
        card=card_obj,
        card_label=escape_control(str(card_obj), limit=80) if card_obj else "",
        requested_card_id=escape_control(requested_card_id, limit=64),
        channel=client.channel,
        outcome=outcome,
        reason=reason,
        client_ip=client.ip,
        user_agent=escape_control(client.user_agent, limit=300),
        request_id=escape_control(client.request_id, limit=64),
        provider_kind=provider_kind,
        provider_latency_ms=provider_latency_ms,
    )
