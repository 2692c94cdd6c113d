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
    failed_codes = models.PositiveIntegerField(
        default=0,
        help_text="Wrong codes since the last successful code or lock (wrong passwords are not "
        "counted here): what the back-off before the next code check grows with.",
    )
    last_failed_code_at = models.DateTimeField(null=True, blank=True)
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


class PasskeyChallenge(models.Model):
    """One WebAuthn challenge handed out for a passkey assertion: single use, short-lived, bound.

    Kept in the database (not in a session or process memory) so any worker on any host can
    check and spend it, and spending it (`used_at`) commits with what it authorised. The
    challenge is 32 random bytes followed by `binding`, a digest of what the assertion may
    authorise (for a reveal: the card and the key the CVV will be sealed to).
    """

    class Purpose(models.TextChoices):
        REVEAL = "reveal", "reveal a security code"
        SIGN_IN = "sign_in", "sign in"
        REGISTER = "register", "add a passkey"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="passkey_challenges",
        help_text="Whose passkey must answer; empty for a passwordless sign-in.",
    )
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    challenge = models.CharField(max_length=128, unique=True, help_text="base64url, unpadded")
    binding = models.CharField(max_length=64, blank=True, help_text="hex SHA-256, or empty")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="passkey_challenge_expiry_idx")]

    def __str__(self) -> str:
        return f"{self.purpose} challenge for {self.user_id}"


class StepUpPolicy(models.Model):
    """A per-user override of CARDREVEAL_STEP_UP_POLICY, set by the bank in the admin."""

    class Choice(models.TextChoices):
        PASSKEY_REQUIRED = "passkey_required", "Passkey required (no authenticator codes)"
        PASSKEY_PREFERRED = "passkey_preferred", "Passkey preferred, authenticator code allowed"
        TOTP_ONLY = "totp_only", "Authenticator code only (no passkeys)"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="step_up_policy",
    )
    policy = models.CharField(
        max_length=20,
        choices=Choice.choices,
        help_text="How this user authorises each reveal; overrides the site-wide setting.",
    )

    class Meta:
        verbose_name = "step-up policy"
        verbose_name_plural = "step-up policies"

    def __str__(self) -> str:
        return f"{self.user}: {self.get_policy_display()}"
