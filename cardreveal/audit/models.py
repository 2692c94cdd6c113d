"""The audit trail (reveal and account events, hash-chained, append-only), used links and waiting receipts."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

GENESIS_HASH = "0" * 64


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit record through the ORM."""


class AppendOnlyQuerySet(models.QuerySet):  # type: ignore[type-arg]
    """Audit rows are added only through `cardreveal.audit.chain.chain_append`: no bulk writes."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit records are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit records are append-only.")

    def bulk_create(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("Audit records are added one at a time, by chain_append.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit records are append-only.")


def _no_constraint_fk(to: str, help_text: str) -> Any:
    # A plain reference kept as written: deleting the user or card leaves the row (and so the
    # hash chain) untouched, as an audit trail must; SET_NULL would rewrite history.
    return models.ForeignKey(
        to,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        help_text=help_text,
    )


class ChainedRecord(models.Model):
    """A link in a hash chain: `hash = sha256(prev_hash + canonical form of HASHED_FIELDS and seq)`.

    Rows are written once, by `chain_append`, which numbers them (`seq`, 1, 2, ...) under a lock on
    the chain's head row; `manage.py verify_audit` recomputes every link.
    """

    CHAIN: ClassVar[str]
    HASHED_FIELDS: ClassVar[tuple[str, ...]]

    seq = models.PositiveBigIntegerField(
        unique=True, editable=False, help_text="Position in the hash chain, from 1, no gaps."
    )
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None or not self.hash:
            raise AppendOnlyError(
                "Audit records are append-only; add them with cardreveal.audit.chain.chain_append."
            )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit records are append-only.")


class RevealEvent(ChainedRecord):
    """One reveal attempt, successful or not. Never the CVV.

    An attempt that gets as far as asking the provider is written before the provider is asked,
    with outcome `pending`, and completed once with its outcome after (`chain.chain_complete`):
    a record still pending is evidence that the provider was asked and the outcome never written
    (a crash, or a database that failed at that moment).
    """

    CHAIN = "reveal"
    # Frozen: changing this list changes every hash (a new list needs a new chain format).
    HASHED_FIELDS = (
        "created_at",
        "user",
        "username",
        "card",
        "card_label",
        "requested_card_id",
        "channel",
        "outcome",
        "reason",
        "client_ip",
        "user_agent",
        "request_id",
        "provider_kind",
        "provider_latency_ms",
    )

    class Channel(models.TextChoices):
        WEB = "web", "Web"
        API = "api", "API"

    class Outcome(models.TextChoices):
        REVEALED = "revealed", "Revealed"
        REFUSED = "refused", "Refused"  # our checks said no: OTP, ownership, kill switch
        FAILED = "failed", "Failed"  # the provider could not answer, or our side failed
        PENDING = "pending", "Outcome not recorded"  # the provider was asked; see the docstring

    user = _no_constraint_fk(settings.AUTH_USER_MODEL, "The user, by id; kept if they are deleted.")
    username = models.CharField(max_length=150, help_text="Kept if the user is deleted.")
    card = _no_constraint_fk("cards.Card", "The card, by id; kept if it is deleted.")
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
    # The completion of a record opened as pending: the second link of the chain it takes.
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    completion_seq = models.PositiveBigIntegerField(
        null=True, blank=True, unique=True, editable=False, help_text="The completion's link."
    )
    completion_prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    completion_hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} {self.outcome} {self.reason}"


class AuthEvent(ChainedRecord):
    """One account event: sign-in, codes, lockout, devices, password, admin changes. Never a secret."""

    CHAIN = "auth"
    # Frozen: changing this list changes every hash (a new list needs a new chain format).
    HASHED_FIELDS = (
        "created_at",
        "user",
        "username",
        "event",
        "outcome",
        "reason",
        "channel",
        "client_ip",
        "user_agent",
        "request_id",
        "resource",
        "detail",
    )

    class Event(models.TextChoices):
        LOGIN = "login", "Signed in"
        PASSWORD_ACCEPTED = "password_accepted", "Password accepted"
        LOGIN_FAILED = "login_failed", "Sign-in failed"
        LOGOUT = "logout", "Signed out"
        OTP_FAILED = "otp_failed", "Code refused"
        OTP_REPLAY_REJECTED = "otp_replay_rejected", "Reused code refused"
        ACCOUNT_LOCKED = "account_locked", "Account locked"
        ACCOUNT_UNLOCKED = "account_unlocked", "Account unlocked"
        DEVICE_ADDED = "device_added", "Authenticator added"
        DEVICE_REMOVED = "device_removed", "Authenticator removed"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        ADMIN_CHANGE = "admin_change", "Admin change"
        AUDIT_EXPORTED = "audit_exported", "Audit trail exported"
        REVEAL_DISOWNED = "reveal_disowned", "Reveal reported as not you"
        CARD_LOCKED = "card_locked", "Card lock at your bank"
        INVITATION_SENT = "invitation_sent", "Invitation sent"
        INVITATION_REVOKED = "invitation_revoked", "Invitation withdrawn"
        INVITATION_USED = "invitation_used", "Invitation used"
        INVITATION_REFUSED = "invitation_refused", "Invitation link refused"
        PASSWORD_RESET_REQUESTED = "password_reset_requested", "Password reset email sent"
        PASSWORD_RESET = "password_reset", "Password reset by email"
        PROVISIONED = "provisioned", "Provisioning by the bank"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    class Channel(models.TextChoices):
        WEB = "web", "Web"
        API = "api", "API"
        ADMIN = "admin", "Admin"
        SYSTEM = "system", "System"  # management commands, expiry, no request

    user = _no_constraint_fk(settings.AUTH_USER_MODEL, "The user, by id; kept if they are deleted.")
    username = models.CharField(
        max_length=150, blank=True, help_text="As typed for a failed sign-in; kept if deleted."
    )
    event = models.CharField(max_length=30, choices=Event.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=40, blank=True, help_text="A stable code.")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    resource = models.CharField(
        max_length=200, blank=True, help_text="What it was about, e.g. card:<id>, device:totp/3."
    )
    detail = models.CharField(max_length=300, blank=True, help_text="Never a secret.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} {self.event} {self.outcome}"


class AuditChainHead(models.Model):
    """The newest link of each chain. Writers lock this row, so links are added one at a time."""

    chain = models.CharField(max_length=20, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    # The newest link's prev_hash, kept with the head for whoever inspects it.
    prev_hash = models.CharField(max_length=64, default="", blank=True)

    def __str__(self) -> str:
        return f"{self.chain} chain at {self.seq}"


class UsedLink(models.Model):
    """A single-use emailed link that has been used; the same link id is refused from then on."""

    link_id = models.CharField(max_length=64, primary_key=True)
    purpose = models.CharField(max_length=30)
    used_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.purpose} {self.link_id}"


class ReceiptOutbox(models.Model):
    """A reveal receipt waiting to be emailed (`cardreveal.audit.receipts`); deleted once sent.

    Written with its reveal's audit record, both or neither (`chain_append`'s dependent row), so a
    receipt is never lost to a crash, and sent after the response by a background sender, so a
    slow mail relay never slows a reveal. Holds ids and the site's address only: the email is built when it is sent.
    """

    event = models.OneToOneField(
        RevealEvent, on_delete=models.CASCADE, related_name="+", help_text="The reveal."
    )
    site_url = models.CharField(
        max_length=200, help_text="Where the receipt's link points, e.g. https://cards.example."
    )
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "receipt waiting to be sent"
        verbose_name_plural = "receipts waiting to be sent"

    def __str__(self) -> str:
        return f"receipt for reveal {self.event_id} (attempts: {self.attempts})"
