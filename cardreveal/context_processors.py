"""Template context shared by every page."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse

# The links in every page's top bar, by URL name. They take no arguments, so they only change
# with the script prefix and the URL conf: reversed once for each, not five times per page.
_NAVIGATION = {
    "cards": "cards:list",
    "activity": "cards:activity",
    "password": "accounts:password_change",
    "passkeys": "accounts:passkeys",
    "logout": "accounts:logout",
}


@lru_cache(maxsize=16)
def _navigation(prefix: str, urlconf: str) -> dict[str, str]:
    return {key: reverse(name, urlconf=urlconf) for key, name in _NAVIGATION.items()}


def navigation(request: HttpRequest) -> dict[str, Any]:
    """`nav`: the top bar's URLs (`{{ nav.cards }}`...), as `{% url %}` would give them."""
    # Keyed by the URL conf in force (the request's own, else ROOT_URLCONF as it is now), so a
    # changed ROOT_URLCONF is never answered from an older one's links.
    return {"nav": _navigation(get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)}
