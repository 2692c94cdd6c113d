"""System checks for sign-in with the bank's identity provider: every value it needs, well formed."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

# The setting each value comes from, and the environment variable a bank sets it with.
_REQUIRED = (
    ("OIDC_RP_CLIENT_ID", "CARDREVEAL_OIDC_CLIENT_ID", "the client id the bank's provider gave us"),
    (
        "OIDC_RP_CLIENT_SECRET",
        "CARDREVEAL_OIDC_CLIENT_SECRET",
        "the client secret the bank's provider gave us",
    ),
    (
        "CARDREVEAL_OIDC_EXTERNAL_ID_CLAIM",
        "CARDREVEAL_OIDC_EXTERNAL_ID_CLAIM",
        "the claim that carries the bank's customer id (sub by default)",
    ),
)
_ENDPOINTS = (
    ("OIDC_OP_AUTHORIZATION_ENDPOINT", "CARDREVEAL_OIDC_AUTHORIZATION_ENDPOINT"),
    ("OIDC_OP_TOKEN_ENDPOINT", "CARDREVEAL_OIDC_TOKEN_ENDPOINT"),
    ("OIDC_OP_USER_ENDPOINT", "CARDREVEAL_OIDC_USERINFO_ENDPOINT"),
    ("OIDC_OP_JWKS_ENDPOINT", "CARDREVEAL_OIDC_JWKS_ENDPOINT"),
    ("CARDREVEAL_OIDC_ISSUER", "CARDREVEAL_OIDC_ISSUER"),
)
_BACKEND = "cardreveal.accounts.oidc.BankIdentityBackend"


def oidc_settings_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """With CARDREVEAL_OIDC_ENABLED on, every provider value is set, each endpoint is an https://
    URL (http:// only on loopback where CARDREVEAL_ALLOW_LOOPBACK_HTTP allows it), "openid" is
    among the scopes, and the backend is in AUTHENTICATION_BACKENDS."""
    if not getattr(settings, "CARDREVEAL_OIDC_ENABLED", False):
        return []
    errors: list[checks.CheckMessage] = []
    for name, variable, what in _REQUIRED:
        if not str(getattr(settings, name, "") or "").strip():
            errors.append(
                checks.Error(
                    f"Sign-in with the bank's identity provider is on, but {variable} is not set.",
                    hint=f"Set {variable} to {what}, or turn CARDREVEAL_OIDC_ENABLED off.",
                    id="cardreveal.accounts.E101",
                )
            )
    for name, variable in _ENDPOINTS:
        problem = _url_problem(str(getattr(settings, name, "") or ""))
        if problem:
            errors.append(
                checks.Error(
                    f"{variable} {problem}",
                    hint="Copy it from the provider's discovery document "
                    "(/.well-known/openid-configuration).",
                    id="cardreveal.accounts.E102",
                )
            )
    if "openid" not in str(getattr(settings, "OIDC_RP_SCOPES", "")).split():
        errors.append(
            checks.Error(
                "CARDREVEAL_OIDC_SCOPES must include openid.",
                hint='For example "openid" or "openid email".',
                id="cardreveal.accounts.E103",
            )
        )
    if _BACKEND not in settings.AUTHENTICATION_BACKENDS:
        errors.append(
            checks.Error(
                f"{_BACKEND} is not in AUTHENTICATION_BACKENDS.",
                hint="cardreveal/settings/base.py adds it when CARDREVEAL_OIDC_ENABLED is on.",
                id="cardreveal.accounts.E104",
            )
        )
    return errors


def _url_problem(url: str) -> str:
    """Why `url` is not usable as a provider endpoint, or "" when it is."""
    if not url.strip():
        return "is not set."
    parts = urlsplit(url)
    if not parts.hostname:
        return f"must be an absolute URL, not {url!r}."
    if parts.scheme == "https":
        return ""
    if parts.scheme == "http" and getattr(settings, "CARDREVEAL_ALLOW_LOOPBACK_HTTP", False):
        try:
            if ipaddress.ip_address(parts.hostname).is_loopback:
                return ""
        except ValueError:
            if parts.hostname == "localhost":
                return ""
    return f"must be an https:// URL, not {url!r}."


def register() -> None:
    checks.register(oidc_settings_check, checks.Tags.security)
