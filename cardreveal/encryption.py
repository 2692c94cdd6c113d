"""Encryption of secrets at rest: a MultiFernet over keys from the environment, and a model field using it.

The first key in CARDREVEAL_FIELD_KEYS encrypts; every key decrypts, so keys rotate by putting a new
key first, running `manage.py rotate_field_keys`, then dropping the old one.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def field_cipher() -> MultiFernet:
    """The cipher for encrypted fields, built once from settings.CARDREVEAL_FIELD_KEYS."""
    keys = list(getattr(settings, "CARDREVEAL_FIELD_KEYS", []))
    if not keys:
        raise ImproperlyConfigured(
            "CARDREVEAL_FIELD_KEYS is empty: set it to one or more Fernet keys, comma-separated "
            "(make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')."
        )
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"CARDREVEAL_FIELD_KEYS entry {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from None
    return MultiFernet(fernets)


if TYPE_CHECKING:
    _TextField = models.TextField[Any, Any]
else:
    _TextField = models.TextField


class EncryptedJSONField(_TextField):
    """A JSON object stored as a Fernet token; decrypted on load, encrypted on save."""

    description = "JSON encrypted with the field keys"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return {}
        try:
            plain = field_cipher().decrypt(value.encode("ascii"))
        except InvalidToken:
            raise ImproperlyConfigured(
                f"{self.model.__name__}.{self.name} cannot be decrypted with any key in "
                "CARDREVEAL_FIELD_KEYS: a key was removed before `rotate_field_keys` ran."
            ) from None
        return json.loads(plain)

    def to_python(self, value: Any) -> Any:
        return {} if value in (None, "") else value

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        token = field_cipher().encrypt(json.dumps(value, sort_keys=True).encode())
        return token.decode("ascii")

    def value_to_string(self, obj: models.Model) -> str:
        # Serialisation (dumpdata, admin history) never sees the plaintext.
        return "********"
