"""API tokens: one per signed-in device, stored hashed by django-rest-knox, with idle and absolute expiry."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import models
from knox.models import AbstractAuthToken
from knox.settings import CONSTANTS, knox_settings


class ApiToken(AbstractAuthToken):
    """A device's API token. knox keeps only the SHA-512 digest of the token; `id` (random, not
    derived from the token) names it in the API and the admin, so the digest is never shown.

    `expiry` is the idle deadline (pushed out on use, never past `created` + the absolute cap).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    digest = models.CharField(max_length=CONSTANTS.DIGEST_LENGTH, unique=True, editable=False)
    device_name = models.CharField(
        max_length=100, blank=True, help_text="What the app called the device at sign-in."
    )

    class Meta:
        verbose_name = "API token"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.user} · {self.device_name or 'device'} · {self.id}"

    @property
    def absolute_expiry(self) -> datetime:
        """When the token stops working however much it is used (knox's AUTO_REFRESH_MAX_TTL)."""
        created: datetime = self.created
        cap: timedelta = knox_settings.AUTO_REFRESH_MAX_TTL or knox_settings.TOKEN_TTL
        return created + cap
