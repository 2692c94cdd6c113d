"""The bank's machine clients (OAuth2 applications with scopes and a rate) and the feed of changes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

# The scopes a client may hold, with what each allows (settings.OAUTH2_PROVIDER).
_OAUTH2: dict[str, Any] = settings.OAUTH2_PROVIDER
SCOPES: dict[str, str] = {str(name): str(meaning) for name, meaning in _OAUTH2["SCOPES"].items()}


class ProvisioningClient(models.Model):
    """One credential of a bank system: an OAuth2 application (client credentials) and what it may do.

    A system rotating its secret gets a second client with the same scopes
    (`manage.py provisioning_client rotate`), moves to it, then the old one is revoked: both
    work in between.
    """

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="provisioning_client",
    )
    scopes = models.CharField(
        max_length=200,
        help_text="Space-separated, of: " + ", ".join(SCOPES) + ".",
    )
    requests_per_minute = models.PositiveIntegerField(
        default=120,
        validators=[MinValueValidator(1)],
        help_text="Requests this client may make per minute; beyond, 429 with Retry-After.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "provisioning client"

    def __str__(self) -> str:
        return f"{self.application.name} ({self.application.client_id})"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def clean(self) -> None:
        unknown = [scope for scope in self.scope_list if scope not in SCOPES]
        if unknown:
            raise ValidationError(
                {"scopes": f"Unknown scope(s) {', '.join(unknown)}; use: {', '.join(SCOPES)}."}
            )
        if not self.scope_list:
            raise ValidationError({"scopes": "Give the client at least one scope."})


class ChangeCounter(models.Model):
    """The last change number given out; writers lock this row, so numbers commit in order."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    last_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"provisioning changes up to {self.last_seq}"


class ProvisioningChange(models.Model):
    """One change made through provisioning (the API or an admin import), in the order committed.

    Numbered under a lock held until commit, so a reader following the numbers never skips a
    change committed later with a smaller one. Each batch's rows are summed up, with a digest of
    them, in one hash-chained audit record.
    """

    class Entity(models.TextChoices):
        CARDHOLDER = "cardholder", "Cardholder"
        CARD = "card", "Card"

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        REMOVED = "removed", "Removed"

    seq = models.PositiveBigIntegerField(primary_key=True)
    at = models.DateTimeField(default=timezone.now)
    entity = models.CharField(max_length=12, choices=Entity.choices)
    external_id = models.CharField(max_length=100)
    action = models.CharField(max_length=10, choices=Action.choices)
    fields = models.CharField(
        max_length=200, blank=True, help_text="The fields that changed, comma-separated."
    )
    active = models.BooleanField(help_text="Whether it is active after the change.")
    by = models.CharField(max_length=200, help_text="The client id, or import by <admin>.")
    batch = models.UUIDField(db_index=True)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"{self.seq} {self.entity} {self.external_id} {self.action}"
