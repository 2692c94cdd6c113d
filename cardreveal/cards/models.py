"""Cards (references at the provider, never a PAN or CVV), the provider bindings they are fetched through,
and the global reveal switch."""

from __future__ import annotations

import json
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
    lock_card_on_disown = models.BooleanField(
        "also lock the card at the provider when the cardholder reports a reveal",
        default=False,
        help_text="When a cardholder uses a receipt's \"This wasn't me\" link, also lock the "
        "card at the provider, so that it is refused for payments until the bank lifts the lock "
        "there. Only for providers whose API can lock a card (Thredd, NetXD). Off: only "
        "showing the security code stops, and the cardholder is told to call the bank.",
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
        provider = provider_class(self.kind)
        if self.lock_card_on_disown and not provider.supports_card_lock:
            raise ValidationError(
                {
                    "lock_card_on_disown": f"{provider.label} has no documented way to lock a "
                    "card, so this cannot be turned on. Cardholders who report a reveal are "
                    "told to call the bank instead."
                }
            )


def reference_key(reference: Any) -> str:
    """A card reference's canonical text (sorted keys, compact): equal references, equal keys.

    Empty for no reference. The database keeps it beside the reference, unique per binding.
    """
    if not isinstance(reference, dict) or not reference:
        return ""
    return json.dumps(reference, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


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
    # `reference` in canonical form (`reference_key`), set on every save: the database refuses a
    # second card with the same reference on one binding, whatever the writer.
    reference_key = models.CharField(max_length=1000, blank=True, default="", editable=False)
    external_id = models.CharField(
        "bank's id",
        max_length=100,
        unique=True,
        null=True,
        blank=True,
        help_text="The bank's own id for this card, when provisioned by the bank's systems.",
    )

    class BankLock(models.TextChoices):
        NONE = "", "Not asked"
        LOCKED = "locked", "Locked at the provider"
        FAILED = "failed", "Lock failed: call the provider"

    reveal_enabled = models.BooleanField(
        default=True, help_text="Kill switch for this card: when off, its CVV cannot be revealed."
    )
    reported_not_me_at = models.DateTimeField(
        "reported as not me at",
        null=True,
        blank=True,
        editable=False,
        help_text="When the cardholder last reported a reveal of this card as not theirs.",
    )
    bank_lock = models.CharField(
        "lock at the provider",
        max_length=10,
        choices=BankLock.choices,
        default=BankLock.NONE,
        blank=True,
        editable=False,
        help_text="Whether the card was locked at the provider after a report (lift a lock "
        "there, in the provider's own tools).",
    )
    bank_lock_at = models.DateTimeField("lock asked at", null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["label", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["binding", "reference_key"],
                condition=~models.Q(reference_key=""),
                name="card_reference_unique_per_binding",
                violation_error_message="This reference is already used by another card on this "
                "binding: at the provider it is one card.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} •••• {self.last4}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.reference_key = reference_key(self.reference)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "reference" in update_fields:
            kwargs["update_fields"] = {*update_fields, "reference_key"}
        super().save(*args, **kwargs)

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
        ref_errors = reference_errors(self.binding.kind, self.reference)
        if ref_errors:
            raise ValidationError({"reference": ref_errors})
        other = self.card_with_same_reference()
        if other is not None:
            message = (
                f"This reference is already used on {self.binding.name} by "
                f"{other.owner.get_username()}'s card “{other}”: at the provider it is one card, "
                "so it can belong to one cardholder's card here. Check the reference, or change "
                "or delete that card first."
            )
            raise ValidationError({"reference": ValidationError(message, code="reference_in_use")})

    def card_with_same_reference(self) -> Card | None:
        """Another card on this card's binding with the same provider reference, or None.

        Compares the canonical form (`reference_key`), so key order does not matter.
        """
        key = reference_key(self.reference)
        if not key:
            return None
        return (
            Card.objects.filter(binding_id=self.binding_id, reference_key=key)
            .exclude(pk=self.pk)
            .select_related("owner")
            .first()
        )


class RevealSwitch(models.Model):
    """The global kill switch: a single row, read on every reveal, so a change holds at once everywhere."""

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    reveals_enabled = models.BooleanField(
        "reveals on for everyone",
        default=True,
        help_text="Untick to pause CVV reveals for every card and every user, at once; tick to "
        "let them start again.",
    )
    note = models.CharField(
        max_length=200, blank=True, help_text="Why reveals are paused (seen by admins only)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "reveals for everyone"
        verbose_name_plural = "reveals for everyone"

    def __str__(self) -> str:
        return self.state_name(self)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = self.SINGLETON_ID
        super().save(*args, **kwargs)

    @staticmethod
    def state_name(switch: RevealSwitch | None) -> str:
        """The switch named by its state, as the admin shows it; no row means on."""
        paused = switch is not None and not switch.reveals_enabled
        return f"Reveals for everyone: {'paused' if paused else 'on'}"


class BindingTestCard(models.Model):
    """A card at the provider kept for the admin's Check connection only: the check asks for its
    CVV through the binding exactly as a reveal would, and drops it unread. Never a cardholder's
    card (that would spend their CVV attempts at the provider)."""

    binding = models.OneToOneField(
        ProviderBinding, on_delete=models.CASCADE, primary_key=True, related_name="test_card"
    )
    reference = models.JSONField(
        help_text="The test card's identifiers at the provider, as on a card, e.g. "
        '{"card_contract_id": "70001"}.'
    )
    expiry_month = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    expiry_year = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(2000), MaxValueValidator(2099)]
    )

    class Meta:
        verbose_name = "test card for Check connection"
        verbose_name_plural = "test cards for Check connection"

    def __str__(self) -> str:
        return f"Test card of {self.binding.name}"

    def clean(self) -> None:
        if self.binding_id is None:
            return
        errors = reference_errors(self.binding.kind, self.reference)
        if not errors and self.binding.pk is not None:
            taken = Card.objects.filter(binding=self.binding, reference=self.reference).first()
            if taken is not None:
                errors.append(
                    f"This is {taken.owner.get_username()}'s card “{taken.label}”: the check would "
                    "spend their CVV requests at the provider. Use a card kept for checks only."
                )
        if errors:
            raise ValidationError({"reference": errors})

    @staticmethod
    def state_name(switch: RevealSwitch | None) -> str:
        """The switch named by its state, as the admin shows it; no row means on."""
        paused = switch is not None and not switch.reveals_enabled
        return f"Reveals for everyone: {'paused' if paused else 'on'}"
