"""Emails to the account holder: reveal receipts (sent by `receipts`) and lockout notices; never a CVV
or a secret."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import EmailMessage, send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from cardreveal.audit.context import current_scope
from cardreveal.audit.disown import disown_token_make
from cardreveal.audit.models import RevealEvent
from cardreveal.client_info import ClientInfo

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


def site_url() -> str:
    """The start of links in emails: CARDREVEAL_SITE_URL when set, else the scheme and host of the
    request being served (a host Django has checked against ALLOWED_HOSTS); else "" (relative)."""
    base = str(getattr(settings, "CARDREVEAL_SITE_URL", "") or "").rstrip("/")
    if base:
        return base
    scope = current_scope()
    if scope is not None:
        return scope.request.build_absolute_uri("/").rstrip("/")
    logger.warning("CARDREVEAL_SITE_URL is not set: emailed links are relative")
    return ""


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _render(*, template: str, context: dict[str, Any]) -> tuple[str, str]:
    subject = " ".join(render_to_string(f"emails/{template}_subject.txt", context).split())
    return subject, render_to_string(f"emails/{template}.txt", context)


def _send(*, template: str, context: dict[str, Any], to: str) -> bool:
    subject, body = _render(template=template, context=context)
    try:
        send_mail(subject, body, None, [to], fail_silently=False)
    except Exception as exc:  # the event has happened; a mail outage must not undo or hide it
        logger.warning("%s email not sent: %s", template, type(exc).__name__)
        return False
    return True


def reveal_receipt_message(*, event: RevealEvent, owner: Any, base_url: str) -> EmailMessage:
    """The receipt of `event` (a successful reveal) for `owner`: which card, when (UTC), from which
    address and user agent, over which channel, and a single-use "This wasn't me" link on
    `base_url`. Sent by `cardreveal.audit.receipts`; never holds the CVV."""
    link = base_url + reverse("audit:disown", args=[disown_token_make(event=event)])
    context = {
        "name": owner.get_short_name() or owner.get_username(),
        "card_label": event.card_label,
        "when": _utc(event.created_at),
        "client_ip": event.client_ip or "unknown",
        "user_agent": event.user_agent or "unknown",
        "channel": "the mobile app" if event.channel == RevealEvent.Channel.API else "the website",
        "link": link,
        "link_days": max(1, settings.CARDREVEAL_RECEIPT_LINK_MAX_AGE // 86400),
    }
    subject, body = _render(template="reveal_receipt", context=context)
    return EmailMessage(subject, body, None, [owner.email])


def lockout_notice_send(*, user: User, locked_until: datetime | None, client: ClientInfo) -> bool:
    """Email `user` that their account was locked after too many failed attempts, until when, and
    from which address the last attempt came. Returns True when handed to the backend."""
    address = getattr(user, "email", "")
    if not address:
        return False
    context = {
        "name": user.get_short_name() or user.get_username(),
        "until": _utc(locked_until) if locked_until is not None else "",
        "client_ip": client.ip or "unknown",
    }
    return _send(template="account_locked", context=context, to=address)
