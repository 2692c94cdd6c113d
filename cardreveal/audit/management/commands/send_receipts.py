"""manage.py send_receipts: send the reveal receipts that are waiting and due, then stop."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from cardreveal.audit.models import ReceiptOutbox
from cardreveal.audit.receipts import receipts_send_all_due


class Command(BaseCommand):
    help = (
        "Send the reveal receipts that are due now, in batches over one mail connection each, "
        "and print how many were handled and how many still wait (backing off after a failure). "
        "The app sends them by itself after each reveal; this is for operators, e.g. after a "
        "mail outage."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        handled = receipts_send_all_due()
        waiting = ReceiptOutbox.objects.count()
        due = ReceiptOutbox.objects.filter(next_attempt_at__lte=timezone.now()).count()
        self.stdout.write(
            f"{handled} receipts sent or settled; {waiting} waiting."
            + (f" {due} still due: the mail server is refusing them (see the log)." if due else "")
        )
