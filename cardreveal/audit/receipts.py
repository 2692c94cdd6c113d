"""Reveal receipts: queued with the reveal's audit record, emailed after the response, retried.

A reveal only queues its receipt (`receipt_draft`, a row written with the reveal's audit record);
`receipts_send_due` builds and sends what is due over one mail connection and deletes what was
sent. In the app it runs in a background thread of each process (`receipts_wake`), so the reveal
answers without waiting for the mail relay, or, with CARDREVEAL_RECEIPTS_SENDER=process, in a
process of its own (`manage.py send_receipts --follow`, `receipts_follow`), so web workers do no
mail work at all; `manage.py send_receipts` also runs it once by hand. Senders on
several processes and hosts never send the same receipt twice at once (`SKIP LOCKED`); a process
that dies mid-send leaves its rows for the next sender, so a receipt is sent at least once.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import close_old_connections, transaction
from django.utils import timezone

from cardreveal.audit.models import ReceiptOutbox
from cardreveal.audit.notifications import reveal_receipt_message, site_url

logger = logging.getLogger(__name__)

# Attempt n (from 1) failed: the next one waits RETRY_BASE_SECONDS * 2**(n-1), at most an hour;
# after MAX_ATTEMPTS (about a day of trying) the receipt is dropped with an error in the log.
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 3600
MAX_ATTEMPTS = 30
BATCH_SIZE = 50


def receipt_draft(*, owner: Any) -> ReceiptOutbox | None:
    """The receipt row for a successful reveal by `owner`, the card's owner, unsaved: pass it to
    `reveal_event_record(receipt=...)`, which writes it with the event. None when the owner has no
    email address (logged). Remembers the site's address now, while the request is at hand.
    """
    if not getattr(owner, "email", ""):
        logger.info("reveal receipt not sent: user %s has no email address", owner.pk)
        return None
    return ReceiptOutbox(site_url=site_url())


def _retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1)))


def receipts_send_due(*, limit: int = BATCH_SIZE) -> int:
    """Send up to `limit` queued receipts that are due, oldest first, over one mail connection.

    A receipt that was sent is deleted; one that failed is tried again later (backing off), and
    dropped after MAX_ATTEMPTS; the batch stops at the first failure (the rest stay due). A
    receipt whose user is gone or has no address now is dropped. Rows another sender holds are
    skipped. Returns how many rows were handled (sent, failed or dropped): a caller may go on while
    it returns `limit`. Never raises for a mail failure (it is logged).
    """
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            ReceiptOutbox.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(next_attempt_at__lte=now)
            .select_related("event__user")  # one query for the batch, not one per owner
            .order_by("next_attempt_at", "id")[:limit]
        )
        if not rows:
            return 0
        connection = get_connection(fail_silently=False)
        opened = False
        sent: list[int] = []
        for row in rows:
            message = _message_for(row)
            if message is None:
                sent.append(row.pk)
                continue
            try:
                if not opened:
                    connection.open()
                    opened = True
                message.connection = connection
                message.send(fail_silently=False)
            except Exception as exc:  # the relay's failure is retried, never raised to a reveal
                # Stop here: with the relay down the rest would fail too. They stay due.
                _failed(row, exc, now=now)
                handled = len(sent) + 1
                break
            sent.append(row.pk)
        else:
            handled = len(rows)
        if opened:
            _close_quietly(connection)
        ReceiptOutbox.objects.filter(pk__in=sent).delete()
    return handled


def receipts_send_all_due() -> int:
    """`receipts_send_due` batch after batch until one comes back short (nothing more due, or a
    failure stopped it). Returns how many rows were handled in all."""
    handled = 0
    while True:
        batch = receipts_send_due()
        handled += batch
        if batch < BATCH_SIZE:
            return handled


def _message_for(row: ReceiptOutbox) -> EmailMessage | None:
    event = row.event
    owner = event.user
    if owner is None or not owner.email:
        logger.info("reveal receipt dropped: the user of reveal %s has no email now", event.pk)
        return None
    return reveal_receipt_message(event=event, owner=owner, base_url=row.site_url)


def _failed(row: ReceiptOutbox, exc: Exception, *, now: datetime) -> None:
    row.attempts += 1
    if row.attempts >= MAX_ATTEMPTS:
        logger.error(
            "reveal receipt for reveal %s dropped after %s attempts: %s",
            row.event_id,
            row.attempts,
            type(exc).__name__,
        )
        row.delete()
        return
    row.next_attempt_at = now + _retry_delay(row.attempts)
    row.save(update_fields=["attempts", "next_attempt_at"])
    logger.warning(
        "reveal_receipt email not sent (attempt %s, retried later): %s",
        row.attempts,
        type(exc).__name__,
    )


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # a half-open connection after a failure; nothing more to do with it
        logger.debug("mail connection close failed", exc_info=True)


def _send_round() -> None:
    """One round of a sender (thread or process): everything due, on a fresh connection. A
    database or mail outage is logged; the next round tries again."""
    try:
        close_old_connections()
        receipts_send_all_due()
        close_old_connections()
    except Exception:
        logger.exception("sending reveal receipts failed; retrying later")


class ReceiptSender:
    """A daemon thread that sends due receipts when woken, and every `poll_seconds` anyway (for
    retries, and for rows a process that died left behind). One per process, started on first
    wake, so processes that never reveal start none.

    After a wake it waits `gather_seconds` (None: settings.CARDREVEAL_RECEIPTS_GATHER_MS)
    before sending, so the receipts of reveals made meanwhile go in the same batch: one
    transaction and one mail connection for many, instead of one each under load.
    """

    def __init__(self, *, poll_seconds: float, gather_seconds: float | None = None) -> None:
        self.poll_seconds = poll_seconds
        self.gather_seconds = gather_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        """Ask the thread to send soon (starting it if needed). Returns at once."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="cardreveal-receipts", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def stop(self, *, timeout: float = 10) -> None:
        """End the thread after the round it is in (if any); the next wake starts a new one."""
        with self._lock:
            thread = self._thread
            self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def _gather(self) -> float:
        if self.gather_seconds is not None:
            return self.gather_seconds
        return int(getattr(settings, "CARDREVEAL_RECEIPTS_GATHER_MS", 0)) / 1000

    def _run(self) -> None:
        while True:
            woken = self._wake.wait(timeout=self.poll_seconds)
            if woken and not self._stop.is_set() and self._stop.wait(self._gather()):
                return
            self._wake.clear()
            if self._stop.is_set():
                return
            _send_round()


_sender = ReceiptSender(poll_seconds=30)


def receipts_follow(stop: threading.Event, *, poll_seconds: float) -> None:
    """Send due receipts every `poll_seconds` until `stop` is set: the loop of a sender process
    (`manage.py send_receipts --follow`). A database or mail outage is logged and tried again at
    the next round; a round that filled a batch goes on at once (`receipts_send_all_due`)."""
    while not stop.is_set():
        _send_round()
        stop.wait(poll_seconds)


def receipts_wake() -> None:
    """After a reveal's receipt was queued and committed: send it in the background, or at once
    when CARDREVEAL_RECEIPTS_IN_BACKGROUND is off (tests); with CARDREVEAL_RECEIPTS_SENDER=process
    a sender process finds it by itself, and this does nothing. Never raises."""
    if settings.CARDREVEAL_RECEIPTS_IN_BACKGROUND:
        if settings.CARDREVEAL_RECEIPTS_SENDER == "process":
            return
        _sender.wake()
        return
    try:
        receipts_send_due()
    except Exception:
        logger.exception("sending reveal receipts failed; retrying later")
