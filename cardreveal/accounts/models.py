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


class ExternalIdentity(models.Model):
    """A cardholder as the bank knows them: its own id for them (from provisioning) and their phone.

    Written by the provisioning service (`cardreveal.provisioning.services`); the bank's id is
    how its systems, and a sign-in through its identity provider, find the cardholder here.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="external_identity",
    )
    external_id = models.CharField(
        "bank's id",
        max_length=100,
        unique=True,
        help_text="The bank's own id for this cardholder, as its systems send it.",
    )
    phone = models.CharField(
        max_length=16, blank=True, help_text="International format, e.g. +447700900123."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "bank's id for a cardholder"
        verbose_name_plural = "bank's ids for cardholders"

    def __str__(self) -> str:
        return self.external_id
