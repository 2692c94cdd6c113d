"""Query helpers the apps share."""

from __future__ import annotations

from typing import TypeVar

from django.db import models

M = TypeVar("M", bound=models.Model)


def unique_or_none(queryset: models.QuerySet[M]) -> M | None:
    """The row a lookup by a unique key finds, or None.

    `.first()` without its ORDER BY: such a lookup finds at most one row, so the ordering (the
    model's default, else the primary key) is only work, compiled into every query and, for a
    model with a default ordering, a sort on the server. For lookups on hot paths.
    """
    rows = list(queryset.order_by()[:1])
    return rows[0] if rows else None
