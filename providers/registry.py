"""The provider registry: kind code -> provider class, from settings.CARDREVEAL_PROVIDERS."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from providers.base import Provider


def provider_kinds() -> list[str]:
    """The configured provider kind codes, in settings order."""
    return list(settings.CARDREVEAL_PROVIDERS)


def provider_class(kind: str) -> type[Provider]:
    """Return the class registered for `kind`.

    Raises LookupError naming the valid kinds when `kind` is unknown, or ImportError/TypeError when
    the configured dotted path is wrong (caught earlier by the `providers` system check).
    """
    paths: dict[str, str] = settings.CARDREVEAL_PROVIDERS
    try:
        path = paths[kind]
    except KeyError:
        valid = ", ".join(sorted(paths)) or "(none configured)"
        raise LookupError(f"Unknown provider kind {kind!r}; valid kinds are: {valid}.") from None
    cls = import_string(path)
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise TypeError(f"{path} is not a Provider subclass.")
    if cls.kind != kind:
        raise TypeError(f"{path} declares kind {cls.kind!r} but is registered as {kind!r}.")
    return cls


def provider_choices() -> list[tuple[str, str]]:
    """(kind, label) pairs for forms and the admin."""
    return [(kind, provider_class(kind).label) for kind in provider_kinds()]
