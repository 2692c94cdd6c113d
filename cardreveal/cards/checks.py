"""System checks for cards: usable field-encryption keys before anything is stored; a long metrics token."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from cardreveal.metrics import metrics_token_check

register(metrics_token_check)


@register()
def check_field_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report a missing or malformed CARDREVEAL_FIELD_KEYS at `manage.py check`, without echoing it."""
    from cardreveal.encryption import field_cipher

    field_cipher.cache_clear()
    try:
        field_cipher()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="cards.E001")]
    return []
