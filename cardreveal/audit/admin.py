"""Read-only admin for the audit trail: admins can look, never edit or delete."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from cardreveal.audit.models import RevealEvent


@admin.register(RevealEvent)
class RevealEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "created_at",
        "username",
        "card_label",
        "channel",
        "outcome",
        "reason",
        "client_ip",
        "provider_kind",
        "provider_latency_ms",
    ]
    list_filter = ["outcome", "channel", "reason", "provider_kind"]
    search_fields = ["username", "card_label", "request_id", "client_ip"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in RevealEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
