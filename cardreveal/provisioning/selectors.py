"""Reads of the provisioning change feed."""

from __future__ import annotations

from cardreveal.provisioning.models import ProvisioningChange


def changes_after(*, seq: int, limit: int) -> tuple[list[ProvisioningChange], bool]:
    """Up to `limit` changes numbered after `seq`, oldest first, and whether more follow."""
    found = list(ProvisioningChange.objects.filter(seq__gt=seq).order_by("seq")[: limit + 1])
    return found[:limit], len(found) > limit
