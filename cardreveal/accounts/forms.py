"""Forms for signing in (cardholders, and admins in one step), the one-time-password steps, and
changing or resetting a password."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import ValidationError
from django_otp import devices_for_user

from cardreveal.accounts.lockout import (
    account_locked_until,
    lock_message,
    locked_until_for_username,
    password_failure_record,
)
from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.oidc import oidc_enabled
from cardreveal.accounts.otp import OtpCheck, OtpFailure, throttle_message, verify_sign_in_code
from cardreveal.accounts.signals import password_reset_requested
from cardreveal.client_info import ClientInfo, client_info

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class CodeForm(forms.Form):
    """One code: 6 digits from the authenticator, or a backup code where allowed."""

    code = forms.CharField(
        label="Code",
        max_length=20,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "spellcheck": "false",
            }
        ),
    )


class LoginForm(auth_forms.AuthenticationForm):
    """Django's sign-in form, saying plainly when the account is locked and until when.

    The lock itself is enforced by `LockoutModelBackend`; wrong passwords are counted from
    Django's `user_login_failed` signal.
    """

    def clean(self) -> dict[str, Any]:
        if oidc_enabled():
            # The bank's identity provider replaces the password step here; no password is even
            # checked, so this page tells nobody whether one is right. Staff sign in at /admin/.
            raise ValidationError(
                "Sign in with your bank's online banking details: use the button on this page.",
                code="bank_sign_in_only",
            )
        return _password_checked(self, super().clean)


def _password_checked(form: auth_forms.AuthenticationForm, check: Any) -> dict[str, Any]:
    """Run an AuthenticationForm's own `clean` (`check`); when it refuses a locked account, say
    so with the time the lock ends instead of "wrong username or password"."""
    try:
        cleaned: dict[str, Any] = check()
    except ValidationError:
        locked_until = locked_until_for_username(form.cleaned_data.get("username"))
        if locked_until is not None:
            raise ValidationError(lock_message(locked_until), code="account_locked") from None
        raise
    return cleaned


# What an admin is told when the code is refused, by reason (a lock has its own message).
_ADMIN_CODE_REFUSALS = {
    OtpFailure.REPLAYED: "That code was already used. Wait for the next code from your "
    "authenticator app and type that one.",
}
_ADMIN_NO_AUTHENTICATOR = (
    "This account has no authenticator yet. Sign in once at /accounts/login/ to set one up "
    "(and get backup codes), then come back."
)
_ADMIN_CODE_WRONG = (
    "That code is not correct. Type the current 6-digit code from your authenticator app, "
    "or one of your unused backup codes."
)


class AdminSignInForm(AdminAuthenticationForm):
    """The admin's sign-in in one step: username, password and a code (a TOTP code or a backup
    code) on one form, for staff only.

    The password is checked first (`LockoutModelBackend`: a locked account is refused even with
    the right one); the code is checked only after a right password, by
    `otp.verify_sign_in_code`, exactly as at the cardholder's code step: a wrong code counts
    towards the per-user lockout and is audited, and a used backup code is spent. On success
    the accepting device is set on the user, so django-otp marks the session verified when the
    admin's LoginView signs it in.
    """

    code = forms.CharField(
        label="Code",
        max_length=20,
        strip=True,
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "off"}
        ),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = _password_checked(self, super().clean)
        user = self.get_user()
        if user is None or not cleaned.get("code"):
            return cleaned  # no right password for a staff account, or no code (field error)
        if not any(devices_for_user(user, confirmed=True)):
            self.user_cache = None
            raise ValidationError(_ADMIN_NO_AUTHENTICATOR, code=str(OtpFailure.NO_DEVICE))
        check = verify_sign_in_code(
            user=user,
            code=cleaned["code"],
            client=client_info(self.request, channel="admin") if self.request else None,
        )
        if not check.ok:
            self.user_cache = None  # a refused code signs nobody in
            raise _admin_code_refusal(user=user, check=check)
        user.otp_device = check.device  # type: ignore[attr-defined]  # read by django_otp.login
        return cleaned


def _admin_code_refusal(*, user: User, check: OtpCheck) -> ValidationError:
    if check.locked_until is not None:
        return ValidationError(lock_message(check.locked_until), code="account_locked")
    if check.failure is OtpFailure.THROTTLED and check.wait_until is not None:
        return ValidationError(throttle_message(check.wait_until), code=str(check.failure))
    message = _ADMIN_CODE_REFUSALS.get(check.failure or OtpFailure.INVALID, _ADMIN_CODE_WRONG)
    return ValidationError(message, code=str(check.failure or OtpFailure.INVALID))


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Django's password change form; a wrong current password counts towards the lockout, and a
    locked account cannot change its password."""

    def __init__(self, user: User, *args: Any, client: ClientInfo | None = None, **kwargs: Any):
        super().__init__(user, *args, **kwargs)
        self.client = client

    def clean_old_password(self) -> str:
        locked_until = account_locked_until(user=self.user)
        if locked_until is not None:
            raise ValidationError(lock_message(locked_until), code="account_locked")
        try:
            old_password: str = super().clean_old_password()
        except ValidationError:
            locked_until = password_failure_record(user=self.user, client=self.client)
            if locked_until is not None:
                raise ValidationError(lock_message(locked_until), code="account_locked") from None
            raise
        return old_password


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's reset request form; each email it sends is told to the audit trail (requests for
    addresses that belong to no account send nothing and are told nothing)."""

    def __init__(self, *args: Any, client: ClientInfo | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.client = client

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        super().send_mail(
            subject_template_name,
            email_template_name,
            context,
            from_email,
            to_email,
            html_email_template_name,
        )
        password_reset_requested.send(
            sender=AccountSecurity, user=context["user"], client=self.client
        )
