"""Admin for API tokens: staff see who is signed in on which device and can revoke (delete) tokens."""

from __future__ import annotations

from datetime import datetime

from django.contrib import admin
from django.http import HttpRequest

from cardreveal.api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only list of signed-in devices; deleting a token signs that device out.

    Tokens are only ever issued by signing in through the API, never here, and the admin shows
    neither the token nor its digest.
    """

    list_display = ("user", "device_name", "created", "expiry", "absolute_expiry", "id")
    list_filter = ("created",)
    search_fields = ("user__username", "device_name", "id")
    fields = ("user", "device_name", "id", "created", "expiry", "absolute_expiry")
    readonly_fields = fields
    list_select_related = ("user",)
    actions = ["delete_selected"]

    @admin.display(description="absolute expiry")
    def absolute_expiry(self, token: ApiToken) -> datetime:
        return token.absolute_expiry

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False
