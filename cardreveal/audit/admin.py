"""Read-only admin for the audit trail (filters, CSV export) and waiting receipts."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

from cardreveal.audit.context import client_for_request
from cardreveal.audit.export import audit_csv_lines
from cardreveal.audit.models import AuthEvent, ChainedRecord, ReceiptOutbox, RevealEvent
from cardreveal.audit.services import auth_event_record


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Admins can look, never add, edit or delete."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAuditAdmin(ReadOnlyAdmin):
    """Admins can look and export, never add, edit or delete."""

    actions = ["export_csv"]
    date_hierarchy = "created_at"
    list_per_page = 100

    @admin.action(description="Export selected records as CSV", permissions=["view"])
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[ChainedRecord]
    ) -> StreamingHttpResponse:
        """Stream the selection as CSV, oldest first; the export itself is audited."""
        model = self.model
        columns = [field.attname for field in model._meta.concrete_fields]
        count = queryset.count()
        auth_event_record(
            event=AuthEvent.Event.AUDIT_EXPORTED,
            outcome=AuthEvent.Outcome.SUCCESS,
            user=request.user,
            reason="csv",
            client=client_for_request(request),
            resource=model._meta.label_lower,
            detail=f"{count} records",
        )
        rows = queryset.order_by("seq").iterator(chunk_size=2000)
        response = StreamingHttpResponse(
            audit_csv_lines(rows, columns=columns), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = (
            f'attachment; filename="{model._meta.model_name}-{stamp}.csv"'
        )
        return response


@admin.register(RevealEvent)
class RevealEventAdmin(ReadOnlyAuditAdmin):
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
        "seq",
    ]
    list_filter = ["outcome", "channel", "reason", "provider_kind", "created_at"]
    search_fields = ["username", "card_label", "requested_card_id", "request_id", "client_ip"]


@admin.register(AuthEvent)
class AuthEventAdmin(ReadOnlyAuditAdmin):
    list_display = [
        "created_at",
        "username",
        "event",
        "outcome",
        "reason",
        "channel",
        "client_ip",
        "resource",
        "seq",
    ]
    list_filter = ["event", "outcome", "channel", "reason", "created_at"]
    search_fields = ["username", "resource", "detail", "request_id", "client_ip"]


@admin.register(ReceiptOutbox)
class ReceiptOutboxAdmin(ReadOnlyAdmin):
    """Receipts waiting to be emailed, to see a mail outage at a glance; read-only (the sender
    deletes them once sent, `manage.py send_receipts` sends them by hand)."""

    list_display = ["event", "created_at", "attempts", "next_attempt_at"]
    list_select_related = ["event"]
