"""Reads of the audit trail."""

from __future__ import annotations

from django.db.models import QuerySet

from cardreveal.audit.models import RevealEvent


def reveal_events_for_user(*, user: object, limit: int = 100) -> QuerySet[RevealEvent]:
    """The user's own reveal attempts, newest first."""
    return RevealEvent.objects.filter(user=user).select_related(None)[:limit]
