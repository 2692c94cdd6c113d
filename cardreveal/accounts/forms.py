"""Forms for signing in, the one-time-password steps, and changing a password."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import ValidationError

from cardreveal.accounts.lockout import (
    account_locked_until,
    lock_message,
    locked_until_for_username,
    password_failure_record,
)
from cardreveal.client_info import ClientInfo

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
        try:
            return super().clean()
        except ValidationError:
            locked_until = locked_until_for_username(self.cleaned_data.get("username"))
            if locked_until is not None:
                raise ValidationError(lock_message(locked_until), code="account_locked") from None
            raise


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
