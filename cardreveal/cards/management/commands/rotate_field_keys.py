"""Re-encrypts every stored provider secret under the first key in CARDREVEAL_FIELD_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from cardreveal.cards.models import ProviderBinding


class Command(BaseCommand):
    help = (
        "Re-encrypt provider secrets with the newest field key. Put the new key first in "
        "CARDREVEAL_FIELD_KEYS, run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            # Loading decrypts with whichever key fits; saving encrypts with the first key.
            for binding in ProviderBinding.objects.select_for_update().order_by("pk"):
                binding.save(update_fields=["secrets"])
                count += 1
        self.stdout.write(f"Re-encrypted the secrets of {count} binding(s) with the newest key.")
