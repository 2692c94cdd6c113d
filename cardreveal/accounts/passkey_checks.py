"""System checks for the passkey settings: the RP ID and origins agree with each other and with
ALLOWED_HOSTS, and the mobile apps are named in the forms the well-known files need."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.http.request import validate_host

_ANDROID_ORIGIN = re.compile(r"^android:apk-key-hash:[A-Za-z0-9_-]{43}$")
_ANDROID_APP = re.compile(r"^[A-Za-z][\w]*(\.[A-Za-z][\w]*)+:([0-9A-F]{2}:){31}[0-9A-F]{2}$")
_IOS_APP = re.compile(r"^[A-Z0-9]{10}\.[A-Za-z0-9.-]+$")
_LOCAL = {"localhost"}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def passkey_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Passkeys work only where the browser's origin, the RP ID and the hosts served agree."""
    errors: list[Error] = []
    rp_id = str(getattr(settings, "OTP_WEBAUTHN_RP_ID", "") or "")
    origins = list(getattr(settings, "OTP_WEBAUTHN_ALLOWED_ORIGINS", []) or [])
    allowed_hosts = list(settings.ALLOWED_HOSTS)
    if not rp_id or "/" in rp_id or ":" in rp_id or _is_ip(rp_id) or rp_id != rp_id.lower():
        errors.append(
            Error(
                f"CARDREVEAL_PASSKEY_RP_ID must be the site's domain name in lower case, such as "
                f"cards.example.com (no scheme, port or IP address), not {rp_id!r}.",
                id="cardreveal.accounts.E201",
            )
        )
        return errors
    if not origins:
        errors.append(
            Error(
                "CARDREVEAL_PASSKEY_ORIGINS is empty: list the site's https:// origin (and the "
                "Android app's android:apk-key-hash: origin, if there is an app).",
                id="cardreveal.accounts.E202",
            )
        )
    web_hosts = []
    for origin in origins:
        if origin.startswith("android:"):
            if not _ANDROID_ORIGIN.fullmatch(origin):
                errors.append(
                    Error(
                        f"The passkey origin {origin!r} is not an Android app origin: it must be "
                        "android:apk-key-hash: followed by the base64url SHA-256 of the app's "
                        "signing certificate (43 characters).",
                        id="cardreveal.accounts.E203",
                    )
                )
            continue
        parts = urlsplit(origin)
        host = parts.hostname or ""
        if (
            parts.scheme not in ("https", "http")
            or not host
            or parts.path
            or parts.query
            or origin.endswith("/")
        ):
            errors.append(
                Error(
                    f"The passkey origin {origin!r} must be a scheme and host only, such as "
                    "https://cards.example.com (no path or trailing slash).",
                    id="cardreveal.accounts.E204",
                )
            )
            continue
        if parts.scheme == "http" and host not in _LOCAL:
            errors.append(
                Error(
                    f"The passkey origin {origin!r} must use https:// (browsers allow passkeys "
                    "over http:// only on localhost).",
                    id="cardreveal.accounts.E205",
                )
            )
        if host != rp_id and not host.endswith("." + rp_id):
            errors.append(
                Error(
                    f"The passkey origin {origin!r} is not on the RP ID {rp_id!r} or one of its "
                    "subdomains, so browsers would refuse to use the site's passkeys there.",
                    id="cardreveal.accounts.E206",
                )
            )
        if not validate_host(host, allowed_hosts):
            errors.append(
                Error(
                    f"The passkey origin {origin!r} names the host {host!r}, which "
                    f"ALLOWED_HOSTS ({', '.join(allowed_hosts) or 'empty'}) does not serve.",
                    id="cardreveal.accounts.E207",
                )
            )
        web_hosts.append(host)
    if origins and not web_hosts:
        errors.append(
            Error(
                "CARDREVEAL_PASSKEY_ORIGINS lists no web origin: add the site's https:// origin.",
                id="cardreveal.accounts.E208",
            )
        )
    for app in getattr(settings, "CARDREVEAL_ANDROID_APPS", []):
        if not _ANDROID_APP.fullmatch(app):
            errors.append(
                Error(
                    f"CARDREVEAL_ANDROID_APPS entry {app!r} must be package.name:FINGERPRINT, "
                    "the SHA-256 of the signing certificate as 32 upper-case hex pairs joined "
                    "by colons.",
                    id="cardreveal.accounts.E209",
                )
            )
    for app in getattr(settings, "CARDREVEAL_IOS_APPS", []):
        if not _IOS_APP.fullmatch(app):
            errors.append(
                Error(
                    f"CARDREVEAL_IOS_APPS entry {app!r} must be TEAMID.bundle.id (a 10-character "
                    "team ID, a dot, the app's bundle ID).",
                    id="cardreveal.accounts.E210",
                )
            )
    return errors


def register_checks() -> None:
    """Called from AccountsConfig.ready()."""
    register(passkey_settings_check, Tags.security)
