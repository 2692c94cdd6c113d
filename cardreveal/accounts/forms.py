"""Forms for the one-time-password steps."""

from __future__ import annotations

from django import forms


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
