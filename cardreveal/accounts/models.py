"""Per-user security state: failed attempts, the timed lock, and when credentials last changed."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models


class AccountSecurity(models.Model):
    """One row per user, made on first need; the lockout counter and the cool-off anchors.

    Writes go through `cardreveal.accounts.lockout` and `cardreveal.accounts.cooloff`, which lock
    the row (`select_for_update`) so concurrent failures are all counted and lock exactly once.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="account_security",
    )
    failed_attempts = models.PositiveIntegerField(
        default=0,
        help_text="Failed password and code attempts since the last successful code or lock.",
    )
    last_failure_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(
        null=True, blank=True, help_text="Sign-in and reveals are refused until this time."
    )
    password_changed_at = models.DateTimeField(null=True, blank=True)
    authenticator_added_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "account security"
        verbose_name_plural = "account security"

    def __str__(self) -> str:
        return str(self.user)

    def lock_active(self, *, now: datetime) -> bool:
        """True while the lock holds at `now`; it ends exactly at `locked_until`."""
        return self.locked_until is not None and now < self.locked_until


class CardholderProfile(models.Model):
    """What the bank knows a cardholder by: its own id for them (`external_id`), set by
    provisioning and matched at sign-in with the bank's identity provider."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="cardholder_profile",
    )
    external_id = models.CharField(
        "external id",
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="The bank's id for this cardholder (its customer number, or the subject its "
        "identity provider signs in). Blank for a cardholder the bank has not linked.",
    )

    class Meta:
        verbose_name = "cardholder profile"

    def __str__(self) -> str:
        return f"{self.user} ({self.external_id or 'not linked'})"


class Invitation(models.Model):
    """An emailed link to set a first password and set up sign-in. Only the SHA-256 of the link's
    token is stored; the link works once, until `expires_at`, unless revoked first."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be used"
        USED = "used", "Used"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The admin who sent it; empty when the system did (provisioning, import).",
    )
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"invitation for {self.user} ({self.created_at:%Y-%m-%d %H:%M})"

    def status(self, *, now: datetime) -> Invitation.Status:
        """Where the link stands at `now`: used and revoked first, then expired, else pending."""
        if self.used_at is not None:
            return Invitation.Status.USED
        if self.revoked_at is not None:
            return Invitation.Status.REVOKED
        if now >= self.expires_at:
            return Invitation.Status.EXPIRED
        return Invitation.Status.PENDING
