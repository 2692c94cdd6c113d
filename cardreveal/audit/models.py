"""Reveal events: who tried to see which card's CVV, how, from where, and what happened. Never the CVV."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class RevealEvent(models.Model):
    """One reveal attempt, successful or not. Rows are only ever added."""

    class Channel(models.TextChoices):
        WEB = "web", "Web"
        API = "api", "API"

    class Outcome(models.TextChoices):
        REVEALED = "revealed", "Revealed"
        REFUSED = "refused", "Refused"  # our checks said no: OTP, ownership, kill switch
        FAILED = "failed", "Failed"  # the provider could not answer

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, help_text="Kept if the user is deleted.")
    card = models.ForeignKey(
        "cards.Card", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    card_label = models.CharField(
        max_length=80, blank=True, help_text="The card as it was shown, e.g. 'Travel •••• 0001'."
    )
    requested_card_id = models.CharField(
        max_length=64, blank=True, help_text="The card id asked for, as given."
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=40, help_text="A stable code, e.g. otp_invalid.")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    provider_kind = models.CharField(max_length=30, blank=True)
    provider_latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} {self.outcome} {self.reason}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("Reveal events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError("Reveal events are append-only.")
