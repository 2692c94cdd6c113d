"""System checks for the audit trail's configuration."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

MIDDLEWARE_PATH = "cardreveal.audit.middleware.AuditContextMiddleware"


def audit_middleware_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Without the middleware, account events written from model signals lose their client
    address and request id, and bulk admin actions go unaudited."""
    if MIDDLEWARE_PATH in settings.MIDDLEWARE:
        return []
    return [
        checks.Warning(
            f"{MIDDLEWARE_PATH} is not in MIDDLEWARE.",
            hint="Add it last, after the middleware that sets the request id.",
            id="cardreveal.audit.W001",
        )
    ]


def register() -> None:
    checks.register(audit_middleware_check, checks.Tags.security)
