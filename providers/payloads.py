"""Reading JSON that providers send (and emulators receive): objects only, fields in any case."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def json_object(raw: bytes) -> dict[str, Any] | None:
    """The bytes as a JSON object, or None when they are not one.

    Returns None rather than raising, so no exception (whose message could quote the body) is
    ever chained onto a provider error.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def field_ignoring_case(mapping: Mapping[str, Any], name: str) -> Any:
    """`mapping[name]`, else the first key equal to `name` ignoring case, else None.

    Providers mix PascalCase and camelCase for the same field (Mastercard's error envelope,
    JusBiz's SecurityCode/securityCode).
    """
    if name in mapping:
        return mapping[name]
    wanted = name.lower()
    for key, value in mapping.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value
    return None
