"""Admin for account locks (see and lift them), TOTP devices (adding one starts the cool-off) and
the per-user step-up policy (passkey required, preferred, or codes only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin as OtpTOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.admin import WebAuthnCredentialAdmin
from django_otp_webauthn.models import WebAuthnCredential

from cardreveal.accounts.cooloff import authenticator_added_record
from cardreveal.accounts.decorators import signed_in_user
from cardreveal.accounts.lockout import account_unlock
from cardreveal.accounts.models import AccountSecurity, StepUpPolicy
from cardreveal.client_info import client_info


class LockedNowFilter(admin.SimpleListFilter):
    title = "lock"
    parameter_name = "locked"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Locked now"), ("no", "Not locked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(locked_until__gt=now)
        if self.value() == "no":
            return queryset.exclude(locked_until__gt=now)
        return queryset


@admin.register(AccountSecurity)
class AccountSecurityAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: the state changes only through sign-in, codes, and the "lift lock" action."""

    list_display = [
        "user",
        "locked_now",
        "locked_until",
        "failed_attempts",
        "last_failure_at",
        "password_changed_at",
        "authenticator_added_at",
    ]
    list_filter = [LockedNowFilter]
    search_fields = ["user__username", "user__email"]
    actions = ["lift_lock"]

    @admin.display(boolean=True, description="Locked now")
    def locked_now(self, obj: AccountSecurity) -> bool:
        return obj.lock_active(now=timezone.now())

    @admin.action(description="Lift the lock on the selected accounts", permissions=["change"])
    def lift_lock(self, request: HttpRequest, queryset: QuerySet[AccountSecurity]) -> None:
        lifted = 0
        for security in queryset.select_related("user"):
            if account_unlock(
                user=security.user,
                by=signed_in_user(request),
                client=client_info(request, channel="admin"),
            ):
                self.log_change(request, security, "Lifted the sign-in lock.")
                lifted += 1
        if lifted:
            self.message_user(request, f"Lifted the lock on {lifted} account(s).", messages.SUCCESS)
        else:
            self.message_user(request, "None of the selected accounts was locked.", messages.INFO)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in AccountSecurity._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(OtpTOTPDeviceAdmin):
    """django-otp's device admin; a device saved confirmed for the first time starts the
    cardholder's reveal cool-off and emails them, as enrolment does."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        was_confirmed = bool(change and form.initial.get("confirmed"))
        super().save_model(request, obj, form, change)
        if obj.confirmed and not was_confirmed:
            authenticator_added_record(user=obj.user, device=obj, by=signed_in_user(request))


@admin.register(StepUpPolicy)
class StepUpPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The per-user switch over CARDREVEAL_STEP_UP_POLICY: passkey required, passkey preferred
    (a code allowed), or codes only. A user without one follows the setting; every change is in
    the admin log and so in the audit trail."""

    list_display = ["user", "policy"]
    list_filter = ["policy"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]


@admin.register(WebAuthnCredential)
class PasskeyAdmin(WebAuthnCredentialAdmin):
    """django-otp-webauthn's credential admin: staff see a user's passkeys (never a private key,
    which never leaves the device; the public key only when OTP_ADMIN_HIDE_SENSITIVE_DATA is off)
    and can remove one, which is audited like any removed device."""
