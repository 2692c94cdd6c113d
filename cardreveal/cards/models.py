"""Cards (references at the provider, never a PAN or CVV), the provider bindings they are fetched through,
and the global reveal switch."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from cardreveal.encryption import EncryptedJSONField
from providers.registry import provider_class, provider_kinds


class ProviderBinding(models.Model):
    """One configured connection to an issuer-processor: which provider, where, with which secrets."""

    name = models.CharField(max_length=100, unique=True)
    issuer_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="The bank's name as its cardholders know it, shown on their card list as the "
        "card's issuer (e.g. Northwind Bank). Left blank, cardholders see no issuer.",
    )
    kind = models.CharField(
        max_length=30, help_text="The provider module, e.g. mastercard, thredd, netxd, juspay."
    )
    base_url = models.CharField(
        "base URL", max_length=500, help_text="The provider's API base URL, https:// only."
    )
    secrets = EncryptedJSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="Credentials and keys, encrypted at rest; write-only in the admin.",
    )
    options = models.JSONField(default=dict, blank=True, help_text="Non-secret provider options.")
    enabled = models.BooleanField(
        default=True, help_text="Kill switch: when off, no card on this binding can be revealed."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        if self.kind not in provider_kinds():
            raise ValidationError(
                {"kind": f"Unknown provider; choose one of: {', '.join(provider_kinds())}."}
            )
        if not isinstance(self.options, dict):
            raise ValidationError({"options": "Options must be a JSON object."})


def reference_errors(kind: str, reference: Any) -> list[str]:
    """What is wrong with a card's provider reference for `kind`, as sentences (empty if fine)."""
    if kind not in provider_kinds():
        return [f"The binding's provider {kind!r} is not configured."]
    if not isinstance(reference, dict):
        return ["The reference must be a JSON object of the provider's card identifiers."]
    specs = provider_class(kind).reference_fields
    errors = []
    known = {spec.name for spec in specs}
    for extra in sorted(set(reference) - known):
        errors.append(
            f"{extra!r} is not a {kind} card reference field "
            f"(expected: {', '.join(sorted(known))})."
        )
    for spec in specs:
        value = reference.get(spec.name, "")
        if not isinstance(value, str):
            errors.append(f"{spec.label} must be text.")
        elif not value:
            if spec.required:
                errors.append(f"{spec.label} ({spec.name}) is required.")
        elif spec.pattern and not re.fullmatch(spec.pattern, value):
            errors.append(
                f"{spec.label} ({spec.name}) is not in the expected format. "
                f"{spec.help_text}".strip()
            )
    return errors


class Card(models.Model):
    """A cardholder's card as we know it: labels for display and the provider's reference to it."""

    class Brand(models.TextChoices):
        MASTERCARD = "mastercard", "Mastercard"
        VISA = "visa", "Visa"
        AMEX = "amex", "American Express"
        DISCOVER = "discover", "Discover"
        OTHER = "other", "Other"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cards"
    )
    label = models.CharField(max_length=60, help_text="What the cardholder calls it.")
    brand = models.CharField(max_length=20, choices=Brand.choices, default=Brand.MASTERCARD)
    last4 = models.CharField(
        "last four digits",
        max_length=4,
        validators=[RegexValidator(r"^[0-9]{4}$", "Enter exactly four digits.")],
    )
    expiry_month = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    expiry_year = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(2000), MaxValueValidator(2099)]
    )
    binding = models.ForeignKey(ProviderBinding, on_delete=models.PROTECT, related_name="cards")
    reference = models.JSONField(
        default=dict,
        blank=True,
        help_text='The card\'s identifiers at the provider, e.g. {"card_contract_id": "70001"}.',
    )
    reveal_enabled = models.BooleanField(
        default=True, help_text="Kill switch for this card: when off, its CVV cannot be revealed."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["label", "created_at"]

    def __str__(self) -> str:
        return f"{self.label} •••• {self.last4}"

    @property
    def expiry_display(self) -> str:
        return f"{self.expiry_month:02d}/{self.expiry_year % 100:02d}"

    @property
    def is_expired(self) -> bool:
        """True once the expiry month is over (a card is valid through the last day of its month),
        by today's date in the site's time zone."""
        today = timezone.localdate()
        return (self.expiry_year, self.expiry_month) < (today.year, today.month)

    def clean(self) -> None:
        if self.binding_id is None:
            return
        errors: dict[str, Any] = {}
        ref_errors = reference_errors(self.binding.kind, self.reference)
        if ref_errors:
            errors["reference"] = ref_errors
        if errors:
            raise ValidationError(errors)


class RevealSwitch(models.Model):
    """The global kill switch: a single row, read on every reveal, so a change holds at once everywhere."""

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    reveals_enabled = models.BooleanField(
        default=True,
        help_text="Untick to pause CVV reveals for every card and every user, at once.",
    )
    note = models.CharField(
        max_length=200, blank=True, help_text="Why reveals are paused (seen by admins only)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "global reveal switch"

    def __str__(self) -> str:
        return "Reveals on" if self.reveals_enabled else "Reveals paused for everyone"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = self.SINGLETON_ID
        super().save(*args, **kwargs)
