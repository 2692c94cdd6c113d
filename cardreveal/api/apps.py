"""App config for the REST API."""

from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "cardreveal.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        # Registers the OpenAPI extension that describes our token authentication.
        from cardreveal.api import schema  # noqa: F401
