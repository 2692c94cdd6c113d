"""Token authentication: knox's hashed, expiring tokens sent as `Authorization: Bearer crv_...`."""

from __future__ import annotations

import re
from typing import Any

from knox.auth import TokenAuthentication
from knox.settings import knox_settings
from rest_framework import exceptions

_HEX_TOKEN_CHARS = knox_settings.AUTH_TOKEN_CHARACTER_LENGTH
_TOKEN_RE = re.compile(rf"^{re.escape(knox_settings.TOKEN_PREFIX)}[0-9a-f]{{{_HEX_TOKEN_CHARS}}}$")


class ApiTokenAuthentication(TokenAuthentication):
    """knox's TokenAuthentication (idle expiry renewed on use, capped at the absolute lifetime),
    refusing anything that is not shaped like one of our tokens before it reaches the database.

    knox decodes the header as UTF-8 and would fail with a server error on other bytes; here any
    malformed value is a plain 401.
    """

    def authenticate_credentials(self, token: bytes) -> tuple[Any, Any]:
        try:
            text = token.decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed() from None
        if not _TOKEN_RE.fullmatch(text):
            raise exceptions.AuthenticationFailed()
        user, auth_token = super().authenticate_credentials(text.encode("ascii"))
        return user, auth_token
