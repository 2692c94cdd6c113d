"""Emails to the account holder (reveal receipts, sent by `receipts`; lockout notices; "This wasn't me"
confirmations) and to the bank's fraud staff (alerts of those reports); never a CVV or a secret."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import EmailMessage, send_mail
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from cardreveal.audit.context import current_scope
from cardreveal.audit.disown import DisownResult, disown_token_make
from cardreveal.audit.models import AuthEvent, RevealEvent
from cardreveal.audit.signals import BankLock
from cardreveal.bank_contact import bank_contact
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


def _channel(event: RevealEvent) -> str:
    return "the mobile app" if event.channel == RevealEvent.Channel.API else "the website"


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
        "channel": _channel(event),
        "link": link,
        "link_days": max(1, settings.CARDREVEAL_RECEIPT_LINK_MAX_AGE // 86400),
        "bank": bank_contact(),
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


def disown_confirmation_send(*, user: User, event: RevealEvent, result: DisownResult) -> bool:
    """Email `user` what their "This wasn't me" report did to the card of `event`: its security
    code is no longer shown, they were signed out everywhere, whether the card was locked at the
    bank, and whom to call to block it. No link, no secret. Returns True when handed to the
    backend (a mail failure is logged, never raised)."""
    address = getattr(user, "email", "")
    if not address:
        return False
    context = {
        "name": user.get_short_name() or user.get_username(),
        "card_label": event.card_label,
        "when": _utc(event.created_at),
        "result": result,
        "bank": bank_contact(),
    }
    return _send(template="disown_confirmation", context=context, to=address)


_LOCK_FOR_STAFF = {
    BankLock.OFF: "not asked (the card's bank connection is not set to lock cards on a report)",
    BankLock.UNSUPPORTED: "not possible (this provider's API has no card lock)",
    BankLock.LOCKED: "done: the card is locked at the provider and refused for payments",
    BankLock.ALREADY_LOCKED: "already locked at the provider by an earlier report",
    BankLock.FAILED: "FAILED ({error}): block the card in the provider's own tools",
}


def disown_alert_send(
    *, user: User, event: RevealEvent, result: DisownResult, client: ClientInfo
) -> bool:
    """Email the bank's fraud staff (CARDREVEAL_FRAUD_ALERT_EMAIL) that `user` reported the reveal
    `event` as not theirs: who, which card, the reveal and the report (when, address, user
    agent), what was done, and where the admin lists these reports. Returns True when handed to
    the backend (a mail failure is logged, never raised)."""
    base = site_url()
    try:
        reports = reverse("admin:audit_authevent_changelist")
    except NoReverseMatch:  # a deployment without the admin
        reports = ""
    lock = _LOCK_FOR_STAFF.get(result.bank_lock, str(result.bank_lock))
    context = {
        "username": user.get_username(),
        "user_id": user.pk,
        "card_label": event.card_label,
        "card_id": event.card_id,
        "when": _utc(event.created_at),
        "channel": _channel(event),
        "client_ip": event.client_ip or "unknown",
        "user_agent": event.user_agent or "unknown",
        "reported": _utc(timezone.now()),
        "report_ip": client.ip or "unknown",
        "report_user_agent": client.user_agent or "unknown",
        "result": result,
        "lock": lock.format(error=result.bank_lock_error or "unknown error"),
        "bank": bank_contact(),
        "reports_link": f"{base}{reports}?event__exact={AuthEvent.Event.REVEAL_DISOWNED}"
        if reports
        else "",
    }
    return _send(template="disown_alert", context=context, to=settings.CARDREVEAL_FRAUD_ALERT_EMAIL)
