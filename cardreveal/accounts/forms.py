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
    password_failure_record,
)
from cardreveal.accounts.models import AccountSecurity, PasskeyChallenge
from cardreveal.accounts.oidc import oidc_enabled
from cardreveal.accounts.otp import OtpCheck, OtpFailure, throttle_message, verify_sign_in_code
from cardreveal.accounts.passkeys import ADMIN_SIGN_IN_BINDING, verify_passkey
from cardreveal.accounts.sign_in_limits import SignInRefusal, sign_in_refusal
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


class LimitedSignInForm(auth_forms.AuthenticationForm):
    """Django's sign-in form behind the sign-in limits (`sign_in_limits`), answering a locked
    account exactly as a wrong password or an unknown username.

    `refusal` is set when the limits refused the attempt before any password was checked (the
    view answers 429 with Retry-After). The lock itself is enforced by `LockoutModelBackend`
    (which runs the password hasher for a locked account as Django's does for an unknown
    username); wrong passwords are counted from Django's `user_login_failed` signal. A locked
    cardholder learns of the lock from the email sent when it was set, not from this form.
    """

    refusal: SignInRefusal | None = None

    def password_checked(self) -> dict[str, Any]:
        """Django's own `clean` (the password check), unless the sign-in limits refuse first."""
        address = client_info(self.request, channel="web").ip if self.request else None
        self.refusal = sign_in_refusal(address=address, username=self.cleaned_data.get("username"))
        if self.refusal is not None:
            raise ValidationError(self.refusal.message, code="sign_in_limited")
        cleaned: dict[str, Any] = super().clean()
        return cleaned


class LoginForm(LimitedSignInForm):
    """The cardholder's sign-in: username and password; the code step follows."""

    def clean(self) -> dict[str, Any]:
        if oidc_enabled():
            # The bank's identity provider replaces the password step here; no password is even
            # checked, so this page tells nobody whether one is right. Staff sign in at /admin/.
            raise ValidationError(
                "Sign in with your bank's online banking details: use the button on this page.",
                code="bank_sign_in_only",
            )
        return self.password_checked()


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


class AdminSignInForm(LimitedSignInForm, AdminAuthenticationForm):
    """The admin's sign-in in one step: username, password and a code (a TOTP code or a backup
    code) on one form, for staff only.

    The sign-in limits come first, then the password (`LockoutModelBackend`: a locked account is
    refused even with the right one, in the same words as a wrong password); the code is checked
    only after a right password, by
    `otp.verify_sign_in_code`, exactly as at the cardholder's code step: a wrong code counts
    towards the per-user lockout and is audited, and a used backup code is spent. On success
    the accepting device is set on the user, so django-otp marks the session verified when the
    admin's LoginView signs it in.
    """

    code = forms.CharField(
        label="Code",
        max_length=20,
        strip=True,
        required=False,
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "off"}
        ),
    )
    # Set by the page's "Use a passkey" button (static/js/passkeys.js) instead of a code: the
    # passkey's answer to a challenge from accounts:passkey_admin_options.
    passkey_assertion = forms.CharField(required=False, widget=forms.HiddenInput, max_length=8000)

    def clean(self) -> dict[str, Any]:
        cleaned = self.password_checked()
        user = self.get_user()
        assertion = cleaned.get("passkey_assertion")
        if not assertion and not cleaned.get("code"):
            self.add_error("code", forms.Field.default_error_messages["required"])
            return cleaned
        if user is None:
            return cleaned  # no right password for a staff account
        if assertion:
            return self._passkey_checked(user, assertion, cleaned)
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

    def _passkey_checked(
        self, user: User, assertion: str, cleaned: dict[str, Any]
    ) -> dict[str, Any]:
        """The passkey instead of the code, after the right password: one of this staff user's
        passkeys, answering an admin sign-in challenge; refused ones count towards the lockout."""
        _, check = verify_passkey(
            user=user,
            assertion=assertion,
            purpose=PasskeyChallenge.Purpose.SIGN_IN,
            binding=ADMIN_SIGN_IN_BINDING,
            context="sign_in",
            client=client_info(self.request, channel="admin") if self.request else None,
        )
        if not check.ok:
            self.user_cache = None
            if check.locked_until is not None:
                raise ValidationError(lock_message(check.locked_until), code="account_locked")
            raise ValidationError(check.message, code=str(check.failure))
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
