"""manage.py send_receipts: send the reveal receipts that are waiting and due, then stop; or, with
--follow, keep sending them as they come (the sender process of CARDREVEAL_RECEIPTS_SENDER=process)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cardreveal.audit.models import ReceiptOutbox
from cardreveal.audit.receipts import receipts_follow, receipts_send_all_due

MIN_POLL_MS, MAX_POLL_MS = 50, 60_000


class Command(BaseCommand):
    help = (
        "Send the reveal receipts that are due now, in batches over one mail connection each, "
        "and print how many were handled and how many still wait (backing off after a failure). "
        "With --follow, keep looking for due receipts every --poll-ms until SIGTERM or SIGINT: "
        "run it as its own service with CARDREVEAL_RECEIPTS_SENDER=process on the web hosts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--follow",
            action="store_true",
            help="keep sending receipts as they are queued, until stopped",
        )
        parser.add_argument(
            "--poll-ms",
            type=int,
            default=250,
            help=f"with --follow, how often to look for due receipts ({MIN_POLL_MS}-{MAX_POLL_MS})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["follow"]:
            self._follow(options["poll_ms"])
            return
        handled = receipts_send_all_due()
        waiting = ReceiptOutbox.objects.count()
        due = ReceiptOutbox.objects.filter(next_attempt_at__lte=timezone.now()).count()
        self.stdout.write(
            f"{handled} receipts sent or settled; {waiting} waiting."
            + (f" {due} still due: the mail server is refusing them (see the log)." if due else "")
        )

    def _follow(self, poll_ms: int) -> None:
        if not MIN_POLL_MS <= poll_ms <= MAX_POLL_MS:
            raise CommandError(
                f"--poll-ms must be between {MIN_POLL_MS} and {MAX_POLL_MS}; it is {poll_ms}."
            )
        stop = threading.Event()

        def request_stop(signum: int, frame: object) -> None:
            stop.set()  # the round in progress finishes; rows it did not reach stay queued

        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.stdout.write(f"sending reveal receipts every {poll_ms} ms until stopped")
            self.stdout.flush()
            receipts_follow(stop, poll_seconds=poll_ms / 1000)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write("stopped")
