"""System check: every configured provider kind imports and is a Provider of that kind."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register

from providers.registry import provider_class, provider_kinds


@register()
def check_provider_registry(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report each entry of CARDREVEAL_PROVIDERS that cannot be loaded, at `manage.py check`."""
    errors: list[CheckMessage] = []
    for kind in provider_kinds():
        try:
            provider_class(kind)
        except (ImportError, TypeError, LookupError) as exc:
            errors.append(Error(f"CARDREVEAL_PROVIDERS[{kind!r}]: {exc}", id="providers.E001"))
    return errors
