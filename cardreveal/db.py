"""Query helpers the apps share."""

from __future__ import annotations

from typing import TypeVar

from django.db import models

M = TypeVar("M", bound=models.Model)


def unique_or_none(queryset: models.QuerySet[M]) -> M | None:
    """The row a lookup by a unique key finds, or None: `.first()` without the ORDER BY that
    such a lookup does not need."""
    return next(iter(queryset.order_by()[:1]), None)
