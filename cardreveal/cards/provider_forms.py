"""Turns a provider's field descriptions into form fields and validation for the admin."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from django import forms

from providers.base import FieldSpec
from providers.registry import provider_class, provider_kinds

MAX_KEY_FILE_BYTES = 64 * 1024


def reference_errors(kind: str, reference: Any) -> list[str]:
    """What is wrong with a card's provider reference for `kind`, as sentences (empty if fine)."""
    if kind not in provider_kinds():
        return [f"The binding's provider {kind!r} is not configured."]
    if not isinstance(reference, dict):
        return ["The reference must be a JSON object of the provider's card identifiers."]
    specs = provider_class(kind).reference_fields
    errors = []
    known = {spec.name for spec in specs}
    for extra in sorted(set(reference) - known):
        errors.append(
            f"{extra!r} is not a {kind} card reference field "
            f"(expected: {', '.join(sorted(known))})."
        )
    for spec in specs:
        value = reference.get(spec.name, "")
        if not isinstance(value, str):
            errors.append(f"{spec.label} must be text.")
        elif not value:
            if spec.required:
                errors.append(f"{spec.label} ({spec.name}) is required.")
        elif spec.pattern and not re.fullmatch(spec.pattern, value):
            errors.append(
                f"{spec.label} ({spec.name}) is not in the expected format. "
                f"{spec.help_text}".strip()
            )
    return errors


def secret_form_field(spec: FieldSpec, *, is_set: bool) -> forms.Field:
    """A write-only form field for one credential or key file; blank keeps the stored value."""
    status = "Stored; leave blank to keep it." if is_set else "Not set."
    help_text = f"{spec.help_text} {status}".strip()
    if spec.kind == "file":
        return forms.FileField(label=spec.label, required=False, help_text=help_text)
    return forms.CharField(
        label=spec.label,
        required=False,
        help_text=help_text,
        widget=forms.PasswordInput(render_value=False)
        if spec.kind == "secret"
        else forms.TextInput(),
    )


def option_form_field(spec: FieldSpec, *, initial: Any) -> forms.Field:
    """A form field for one non-secret provider option."""
    value = spec.default if initial is None else initial
    if spec.kind == "bool":
        return forms.BooleanField(
            label=spec.label, required=False, initial=bool(value), help_text=spec.help_text
        )
    if spec.kind == "choice":
        return forms.ChoiceField(
            label=spec.label,
            choices=[(c, c) for c in spec.choices],
            initial=value,
            help_text=spec.help_text,
            required=spec.required,
        )
    if spec.kind == "int":
        return forms.IntegerField(
            label=spec.label, initial=value, help_text=spec.help_text, required=spec.required
        )
    validators = []
    if spec.pattern:
        from django.core.validators import RegexValidator

        validators.append(RegexValidator(f"^(?:{spec.pattern})$", "Not in the expected format."))
    return forms.CharField(
        label=spec.label,
        initial=value,
        help_text=spec.help_text,
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


def decoded_secrets(kind: str, stored: Mapping[str, str]) -> dict[str, str | bytes]:
    """Stored secrets with file fields decoded back to bytes, as providers expect them."""
    specs = {spec.name: spec for spec in provider_class(kind).secret_fields}
    result: dict[str, str | bytes] = {}
    for name, value in stored.items():
        spec = specs.get(name)
        result[name] = base64.b64decode(value) if spec and spec.kind == "file" else value
    return result


def encoded_secrets(kind: str, plain: Mapping[str, str | bytes]) -> dict[str, str]:
    """Secrets in their stored form: file fields base64 text, the rest as given."""
    specs = {spec.name: spec for spec in provider_class(kind).secret_fields}
    result: dict[str, str] = {}
    for name, value in plain.items():
        spec = specs.get(name)
        if isinstance(value, bytes) or (spec and spec.kind == "file"):
            raw = value if isinstance(value, bytes) else value.encode()
            result[name] = base64.b64encode(raw).decode("ascii")
        else:
            result[name] = value
    return result
