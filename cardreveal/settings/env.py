"""Typed readers for settings that come from the environment, with errors that name the variable."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# A phone number as people write it: digits with spaces, dots, dashes, brackets, a leading +.
_PHONE_RE = re.compile(r"\+?[0-9][0-9 ().-]{3,28}[0-9]")


def env_str(name: str, default: str | None = None) -> str:
    """Return the variable's value; without a default, a missing variable is a configuration error."""
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"Set the {name} environment variable.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no variable; anything but 1/0/true/false/yes/no/on/off is an error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Read a whole number within bounds; a non-number or out-of-range value is an error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ImproperlyConfigured(f"{name} must be at least {minimum}{upper}; it is {value}.")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """Read one of a fixed set of words (case and spaces ignored); anything else is an error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ImproperlyConfigured(f"{name} must be one of {allowed}, not {raw!r}.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """Read a comma-separated list, dropping blanks."""
    raw = os.environ.get(name)
    if raw is None:
        if default is None:
            raise ImproperlyConfigured(f"Set the {name} environment variable.")
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_email(name: str, default: str | None = None) -> str:
    """Read one email address; without a default, a missing variable is a configuration error."""
    value = env_str(name, default).strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ImproperlyConfigured(f"{name} must be one email address, not {value!r}.") from None
    return value


def env_bank_contact(default: dict[str, str] | None = None) -> dict[str, str]:
    """The bank's contact for cardholders, from CARDREVEAL_BANK_CONTACT_NAME, _PHONE and _URL.

    Returns {"name", "phone", "url"}. Without a `default` (production) the name and phone are
    required; the URL is optional. The phone must be digits (spaces, dots, dashes, brackets and a
    leading + allowed), the URL an absolute https:// address. Raises ImproperlyConfigured naming
    the variable and saying what it is for.
    """
    defaults = default or {}
    contact: dict[str, str] = {}
    for key in ("name", "phone", "url"):
        name = f"CARDREVEAL_BANK_CONTACT_{key.upper()}"
        value = os.environ.get(name, defaults.get(key, "")).strip()
        if not value and key != "url":
            raise ImproperlyConfigured(
                f"Set {name} to the bank's {key} as cardholders know it: the 'This wasn't me' "
                "page, its confirmation and every reveal receipt tell cardholders whom to call "
                "to block their card."
            )
        contact[key] = value
    if not _PHONE_RE.fullmatch(contact["phone"]):
        raise ImproperlyConfigured(
            "CARDREVEAL_BANK_CONTACT_PHONE must be a phone number (digits, spaces, dots, dashes, "
            f"brackets, a leading +), not {contact['phone']!r}."
        )
    url = contact["url"]
    if url and (urlsplit(url).scheme != "https" or not urlsplit(url).hostname):
        raise ImproperlyConfigured(
            f"CARDREVEAL_BANK_CONTACT_URL must be an absolute https:// address, not {url!r}."
        )
    if len(contact["name"]) > 100:
        raise ImproperlyConfigured("CARDREVEAL_BANK_CONTACT_NAME must be at most 100 characters.")
    return contact
