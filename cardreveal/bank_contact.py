"""The bank's contact for cardholders (settings.CARDREVEAL_BANK_CONTACT), as pages and emails show it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class BankContact:
    """Whom a cardholder calls to block a card: the bank's name, phone number and web page."""

    name: str
    phone: str
    url: str = ""

    @property
    def phone_uri(self) -> str:
        """The number as a tel: link (digits and a leading +), for a phone to dial."""
        return "tel:" + ("+" if self.phone.startswith("+") else "") + re.sub(r"\D", "", self.phone)


def bank_contact() -> BankContact:
    """The configured contact (validated when the settings were read)."""
    contact = settings.CARDREVEAL_BANK_CONTACT
    return BankContact(name=contact["name"], phone=contact["phone"], url=contact.get("url", ""))
