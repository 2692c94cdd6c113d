"""Template context shared by every page."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse

# The links in every page's top bar, by URL name. They take no arguments, so they only change
# with the script prefix and the URL conf: reversed once for each, not five times per page.
_NAVIGATION = {
    "cards": "cards:list",
    "activity": "cards:activity",
    "password": "accounts:password_change",
    "logout": "accounts:logout",
}


@lru_cache(maxsize=16)
def _navigation(prefix: str, urlconf: Any) -> dict[str, str]:
    return {key: reverse(name, urlconf=urlconf) for key, name in _NAVIGATION.items()}


def navigation(request: HttpRequest) -> dict[str, Any]:
    """`nav`: the top bar's URLs (`{{ nav.cards }}`...), as `{% url %}` would give them."""
    return {"nav": _navigation(get_script_prefix(), get_urlconf())}
