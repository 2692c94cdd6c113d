"""Reads of the audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from cardreveal.audit.models import RevealEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def reveal_events_for_user(*, user: User, limit: int = 100) -> QuerySet[RevealEvent]:
    """The user's own reveal attempts, newest first."""
    return RevealEvent.objects.filter(user=user).select_related(None)[:limit]
