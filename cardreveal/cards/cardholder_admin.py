"""The cardholder's page in the admin (the User change page): their cards, authenticators, backup
codes, lock state, invitation and recent activity, read-only; invitations sent, resent and revoked.
Never a TOTP key or a backup code (OTP_ADMIN_HIDE_SENSITIVE_DATA's rule, kept here too)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from cardreveal.accounts.cooloff import cooloff_from
from cardreveal.accounts.decorators import signed_in_user
from cardreveal.accounts.invitations import (
    InvitationError,
    invitation_latest,
    invitation_revoke,
    invitation_send,
)
from cardreveal.accounts.lockout import account_security_read, utc_clock
from cardreveal.accounts.models import ExternalIdentity, Invitation
from cardreveal.audit.selectors import activity_for_user
from cardreveal.cards.models import Card
from cardreveal.client_info import client_info

RECENT_ACTIVITY = 10


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    """Shown on the cardholder's page, changed on its own admin page (or not at all)."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CardInline(ReadOnlyInline):
    model = Card
    fk_name = "owner"
    verbose_name_plural = "cards"
    fields = readonly_fields = ("card", "expiry", "binding", "reveal_enabled")

    @admin.display(description="Card")
    def card(self, obj: Card) -> SafeString:
        url = reverse(f"{self.admin_site.name}:cards_card_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, str(obj))

    @admin.display(description="Expires")
    def expiry(self, obj: Card) -> str:
        return obj.expiry_display


class AuthenticatorInline(ReadOnlyInline):
    """Authenticator apps: names and dates only, never the key."""

    model = TOTPDevice
    verbose_name = "authenticator app"
    verbose_name_plural = "authenticator apps"
    fields = readonly_fields = ("name", "confirmed", "created_at", "last_used_at")


class BackupCodesInline(ReadOnlyInline):
    """Backup codes: how many are left, never the codes (only their digests are stored anyway)."""

    model = StaticDevice
    verbose_name = "backup codes"
    verbose_name_plural = "backup codes"
    fields = readonly_fields = ("name", "codes_left", "created_at", "last_used_at")

    @admin.display(description="Unused codes")
    def codes_left(self, obj: StaticDevice) -> int:
        return int(obj.token_set.count())


class ExternalIdentityInline(admin.StackedInline):  # type: ignore[type-arg]
    """The bank's id for the cardholder (provisioning sets it; an admin may, for a cardholder added
    by hand), matched at sign-in with the bank's identity provider."""

    model = ExternalIdentity
    can_delete = False
    fields = ("external_id", "phone")
    verbose_name_plural = "bank's id"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class CardholderAdmin(UserAdmin):  # type: ignore[type-arg]
    """Django's user admin; a user's page also shows their cards, authenticators, backup codes,
    lock state, reveal cool-off and recent activity (read-only)."""

    inlines = [ExternalIdentityInline, CardInline, AuthenticatorInline, BackupCodesInline]
    readonly_fields = ("invitation", "sign_in_lock", "reveal_cooloff", "recent_activity")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        (
            "Security and activity",
            {"fields": ("invitation", "sign_in_lock", "reveal_cooloff", "recent_activity")},
        ),
    )
    # Adding a cardholder asks for their email: the invitation to choose a password goes there.
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "usable_password", "password1", "password2"),
                "description": "Leave password-based authentication disabled to have the "
                "cardholder choose their own password: an invitation is emailed to them when the "
                "account is saved.",
            },
        ),
    )
    actions = ["send_invitation", "revoke_invitation"]

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and "email" in form.base_fields:
            form.base_fields["email"].required = True
            form.base_fields["email"].help_text = "The invitation is emailed here."
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change or obj.has_usable_password():
            return
        self._invite(request, obj, what="sent")

    @admin.action(
        description="Send an invitation (a new link; the earlier one stops working)",
        permissions=["change"],
    )
    def send_invitation(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for user in queryset:
            self._invite(request, user, what="sent")

    @admin.action(description="Revoke the pending invitation", permissions=["change"])
    def revoke_invitation(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        revoked = []
        for user in queryset:
            if invitation_revoke(
                user=user,
                by=signed_in_user(request),
                client=client_info(request, channel="admin"),
            ):
                self.log_change(request, user, "Revoked the pending invitation.")
                revoked.append(user.get_username())
        if revoked:
            self.message_user(
                request, f"Revoked the invitation of {', '.join(revoked)}.", messages.SUCCESS
            )
        else:
            self.message_user(
                request, "None of the selected cardholders had a pending invitation.", messages.INFO
            )

    def _invite(self, request: HttpRequest, user: Any, *, what: str) -> None:
        try:
            invitation = invitation_send(
                user=user,
                by=signed_in_user(request),
                request=request,
                client=client_info(request, channel="admin"),
            )
        except InvitationError as error:
            self.message_user(request, f"No invitation sent: {error}", messages.WARNING)
            return
        self.log_change(request, user, f"Invitation {what}.")
        self.message_user(
            request,
            f"Invitation emailed to {user.get_username()} at {user.email}; the link works until "
            f"{utc_clock(invitation.expires_at)}.",
            messages.SUCCESS,
        )

    @admin.display(description="Invitation")
    def invitation(self, obj: Any) -> str:
        latest = invitation_latest(user=obj)
        if latest is None:
            return "None sent."
        status = latest.status(now=timezone.now())
        sent = utc_clock(latest.created_at)
        if status is Invitation.Status.PENDING:
            return f"Sent {sent}; the link works until {utc_clock(latest.expires_at)}."
        if status is Invitation.Status.USED:
            return f"Sent {sent}; used {utc_clock(latest.used_at)}."  # type: ignore[arg-type]
        if status is Invitation.Status.REVOKED:
            return f"Sent {sent}; revoked {utc_clock(latest.revoked_at)}."  # type: ignore[arg-type]
        return f"Sent {sent}; expired {utc_clock(latest.expires_at)} unused. Send a new one."

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        return list(self.inlines) if obj is not None else []  # nothing to show while adding

    @admin.display(description="Sign-in lock")
    def sign_in_lock(self, obj: Any) -> SafeString:
        security = account_security_read(user=obj)
        lift = reverse(f"{self.admin_site.name}:accounts_accountsecurity_changelist")
        if security is not None and security.lock_active(now=timezone.now()):
            return format_html(
                "<strong>Locked until {}</strong> after {} failed password or code attempts. "
                'Sign-in and reveals are refused. <a href="{}?user={}">Lift the lock</a> '
                "(select it, then the action).",
                utc_clock(security.locked_until),  # type: ignore[arg-type]  # active: set
                security.failed_attempts,
                lift,
                obj.pk,
            )
        failures = security.failed_attempts if security is not None else 0
        return format_html(
            "Not locked ({} failed attempt{} since the last good code; the lock comes at {}).",
            failures,
            "" if failures == 1 else "s",
            settings.CARDREVEAL_LOCKOUT_THRESHOLD,
        )

    @admin.display(description="Reveal cool-off")
    def reveal_cooloff(self, obj: Any) -> str:
        cooloff = cooloff_from(account_security_read(user=obj))
        if cooloff is None:
            return "None in force."
        reason = cooloff.reason.replace("_", " ")
        return f"Reveals paused until {utc_clock(cooloff.until)} ({reason})."

    @admin.display(description="Recent activity")
    def recent_activity(self, obj: Any) -> SafeString:
        items = activity_for_user(user=obj, limit=RECENT_ACTIVITY)
        links = format_html(
            'All of it: <a href="{}?user={}">reveals</a>, <a href="{}?user={}">account events</a>.',
            reverse(f"{self.admin_site.name}:audit_revealevent_changelist"),
            obj.pk,
            reverse(f"{self.admin_site.name}:audit_authevent_changelist"),
            obj.pk,
        )
        if not items:
            return format_html("No activity recorded. {}", links)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    date_format(timezone.localtime(item.when), "DATETIME_FORMAT"),
                    item.what,
                    item.card,
                    item.result,
                    item.channel,
                    item.client_ip,
                )
                for item in items
            ),
        )
        return format_html(
            "<table><thead><tr><th>When</th><th>What</th><th>Card</th><th>Result</th>"
            "<th>Channel</th><th>Address</th></tr></thead><tbody>{}</tbody></table><p>{}</p>",
            rows,
            links,
        )
