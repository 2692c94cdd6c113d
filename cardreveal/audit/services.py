"""Writes to the audit trail: one reveal or account event, escaped, appended to its hash chain."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

from django.db import models

from cardreveal.audit.chain import chain_append, chain_complete
from cardreveal.audit.models import AuthEvent, RevealEvent
from cardreveal.client_info import ClientInfo

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Bidirectional-text controls display text in a different order from how it is stored (spoofing).
_BIDI_CONTROLS = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})
# Any character `_escaped` changes: text without one is stored as it is (most text, at once).
_NEEDS_ESCAPE = re.compile(
    r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029"
    + "".join(re.escape(chr(code)) for code in sorted(_BIDI_CONTROLS))
    + "]"
)


def _escaped(char: str) -> str:
    code = ord(char)
    if char == "\\":
        return "\\\\"  # so an escape in the record always means an escaped character
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"\\x{code:02x}"
    if code in (0x2028, 0x2029) or code in _BIDI_CONTROLS:
        return f"\\u{code:04x}"
    return char


def escape_control(text: str, *, limit: int) -> str:
    """Escape control characters (log injection, T-AUD-3) and cut to at most `limit` characters.

    C0 and C1 controls and DEL become `\\xNN`, line and paragraph separators and bidi controls
    `\\uNNNN`, a backslash `\\\\`; the cut never splits an escape.
    """
    if len(text) <= limit and not _NEEDS_ESCAPE.search(text):
        return text
    pieces: list[str] = []
    size = 0
    for char in text:
        piece = _escaped(char)
        if size + len(piece) > limit:
            break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces)


def _username(user: object | None) -> str:
    get_username = getattr(user, "get_username", None)
    return str(get_username()) if callable(get_username) else ""


def _reveal_event(
    *,
    user: User,
    client: ClientInfo,
    outcome: str,
    reason: str,
    card: models.Model | None,
    requested_card_id: str,
    provider_kind: str,
    provider_latency_ms: int | None,
) -> RevealEvent:
    """An unsaved reveal event, its text escaped and cut to fit."""
    return RevealEvent(
        user=user,
        username=escape_control(_username(user), limit=150),
        card_id=card.pk if card is not None else None,
        card_label=escape_control(str(card), limit=80) if card is not None else "",
        requested_card_id=escape_control(requested_card_id, limit=64),
        channel=escape_control(client.channel, limit=10),
        outcome=outcome,
        reason=escape_control(reason, limit=40),
        client_ip=client.ip,
        user_agent=escape_control(client.user_agent, limit=300),
        request_id=escape_control(client.request_id, limit=64),
        provider_kind=escape_control(provider_kind, limit=30),
        provider_latency_ms=provider_latency_ms,
    )


def reveal_event_record(
    *,
    user: User,
    client: ClientInfo,
    outcome: str,
    reason: str,
    card: models.Model | None = None,
    requested_card_id: str = "",
    provider_kind: str = "",
    provider_latency_ms: int | None = None,
    receipt: models.Model | None = None,
) -> RevealEvent:
    """Append one reveal event, with its final outcome, to the reveal chain. `user` and `card` are
    model instances (card may be None); `receipt`, an unsaved `ReceiptOutbox` row, is written with
    the event (both or neither). Returns the saved event; raises if it cannot be written."""
    event = _reveal_event(
        user=user,
        client=client,
        outcome=outcome,
        reason=reason,
        card=card,
        requested_card_id=requested_card_id,
        provider_kind=provider_kind,
        provider_latency_ms=provider_latency_ms,
    )
    return chain_append(event, dependent=receipt)


def reveal_event_open(
    *,
    user: User,
    client: ClientInfo,
    card: models.Model,
    requested_card_id: str,
    provider_kind: str,
) -> RevealEvent:
    """Append a reveal event with outcome `pending`, before its provider is asked: complete it
    with `reveal_event_complete`. Returns the saved event; raises if it cannot be written."""
    event = _reveal_event(
        user=user,
        client=client,
        outcome=RevealEvent.Outcome.PENDING,
        reason="",
        card=card,
        requested_card_id=requested_card_id,
        provider_kind=provider_kind,
        provider_latency_ms=None,
    )
    return chain_append(event)


def reveal_event_complete(
    event: RevealEvent,
    *,
    outcome: str,
    reason: str,
    provider_latency_ms: int | None,
    receipt: models.Model | None = None,
) -> RevealEvent:
    """Write the outcome of an event from `reveal_event_open`, once (`chain.chain_complete`), and
    `receipt` with it (both or neither). Raises if it cannot be written."""
    return chain_complete(
        event,
        outcome=outcome,
        reason=escape_control(reason, limit=40),
        provider_latency_ms=provider_latency_ms,
        dependent=receipt,
    )


def auth_event_record(
    *,
    event: str,
    outcome: str,
    client: ClientInfo,
    user: object | None = None,
    username: str = "",
    reason: str = "",
    resource: str = "",
    detail: str = "",
) -> AuthEvent:
    """Append one account event to the auth chain. `user` is a user instance or None (a failed
    sign-in for an unknown name, then `username` is the name as typed). Never pass a secret in
    `detail`. Returns the saved event; raises if it cannot be written."""
    user_obj = cast("User | None", user if getattr(user, "pk", None) is not None else None)
    return chain_append(
        AuthEvent(
            user=user_obj,
            username=escape_control(username or _username(user_obj), limit=150),
            event=event,
            outcome=outcome,
            reason=escape_control(reason, limit=40),
            channel=escape_control(client.channel, limit=10),
            client_ip=client.ip,
            user_agent=escape_control(client.user_agent, limit=300),
            request_id=escape_control(client.request_id, limit=64),
            resource=escape_control(resource, limit=200),
            detail=escape_control(detail, limit=300),
        )
    )
