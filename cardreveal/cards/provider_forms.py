"""Turns a provider's field descriptions into form fields for the admin, and an uploaded key file into
its stored form."""

from __future__ import annotations

import base64
from typing import Any

from django import forms

from providers.base import FieldSpec

MAX_KEY_FILE_BYTES = 64 * 1024


def secret_form_field(spec: FieldSpec, *, is_set: bool, shown: str = "") -> forms.Field:
    """A form field for one credential or key file; blank keeps the stored value.

    Secrets and files are write-only. A non-secret identifier (kind "text": a client id, key
    id, merchant id, consumer key) is shown as stored (`shown`), so an admin can see which
    account a binding uses.
    """
    if spec.kind == "text":
        status = "Not secret, so shown as stored." if is_set else "Not set."
        return forms.CharField(
            label=spec.label,
            required=False,
            initial=shown or None,
            help_text=f"{spec.help_text} {status}".strip(),
        )
    status = "Stored; leave blank to keep it." if is_set else "Not set."
    help_text = f"{spec.help_text} {status}".strip()
    if spec.kind == "file":
        return forms.FileField(label=spec.label, required=False, help_text=help_text)
    return forms.CharField(
        label=spec.label,
        required=False,
        help_text=help_text,
        widget=forms.PasswordInput(render_value=False),
    )


def _usual_value_help(spec: FieldSpec) -> str:
    """The option's help text, ending with its usual value when it has one."""
    if spec.default is None or spec.default == "":
        return spec.help_text
    usual = ("on" if spec.default else "off") if spec.kind == "bool" else str(spec.default)
    return f"{spec.help_text} Usual value: {usual}.".strip()


def option_form_field(spec: FieldSpec, *, initial: Any) -> forms.Field:
    """A form field for one non-secret provider option."""
    value = spec.default if initial is None else initial
    help_text = _usual_value_help(spec)
    if spec.kind == "bool":
        return forms.BooleanField(
            label=spec.label, required=False, initial=bool(value), help_text=help_text
        )
    if spec.kind == "choice":
        return forms.ChoiceField(
            label=spec.label,
            choices=[(c, c) for c in spec.choices],
            initial=value,
            help_text=help_text,
            required=spec.required,
        )
    if spec.kind == "int":
        return forms.IntegerField(
            label=spec.label, initial=value, help_text=help_text, required=spec.required
        )
    validators = []
    if spec.pattern:
        from django.core.validators import RegexValidator

        validators.append(RegexValidator(f"^(?:{spec.pattern})$", "Not in the expected format."))
    return forms.CharField(
        label=spec.label,
        initial=value,
        help_text=help_text,
        required=spec.required,
        validators=validators,
    )


def read_secret_upload(spec: FieldSpec, upload: Any) -> str:
    """Read an uploaded key or certificate file into its stored form (base64 text), bounded in size."""
    if upload.size > MAX_KEY_FILE_BYTES:
        raise forms.ValidationError(
            f"{spec.label}: the file is larger than {MAX_KEY_FILE_BYTES // 1024} KB; "
            "upload the key or certificate file itself."
        )
    return base64.b64encode(upload.read()).decode("ascii")
