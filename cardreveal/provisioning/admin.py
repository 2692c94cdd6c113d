"""Admin for provisioning: the bank's clients (the secret shown once), the change feed, and the file
import of cardholders and cards with its dry-run preview."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from cardreveal.audit.context import client_for_request
from cardreveal.errors import ServiceError
from cardreveal.provisioning.clients import provisioning_client_create, provisioning_client_revoke
from cardreveal.provisioning.importing import FORMATS, KINDS, BadFile, import_file
from cardreveal.provisioning.models import SCOPES, ProvisioningChange, ProvisioningClient
from cardreveal.provisioning.services import Actor

IMPORT_PERMISSIONS = ("auth.add_user", "auth.change_user", "cards.add_card", "cards.change_card")
SESSION_KEY = "provisioning_imports"
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("cardholders", "Cardholders"), ("cards", "Cards")],
        help_text="Import the cardholders first: a card names its cardholder by the bank's id.",
    )
    file = forms.FileField(
        help_text="CSV (UTF-8) or XLSX, a header row first. Nothing is written until you confirm "
        "the preview, and then the whole file or nothing."
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        suffix = Path(upload.name).suffix.lower().lstrip(".")
        if suffix not in FORMATS:
            raise forms.ValidationError("Choose a .csv or .xlsx file.")
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it."
            )
        return upload


def _import_dir() -> Path:
    directory = Path(settings.CARDREVEAL_IMPORT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@admin.register(ProvisioningChange)
class ProvisioningChangeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The change feed, read-only; its page has the file import."""

    list_display = ["seq", "at", "entity", "external_id", "action", "fields", "active", "by"]
    list_filter = ["entity", "action"]
    search_fields = ["external_id", "by"]
    change_list_template = "admin/provisioning/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="provisioning_import",
            ),
        ]
        return own + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload, then a dry-run preview (row errors, counts), then confirm: all or nothing."""
        if not request.user.has_perms(IMPORT_PERMISSIONS):
            raise PermissionDenied
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Import cardholders or cards",
            "opts": self.model._meta,
        }
        pending: dict[str, dict[str, str]] = request.session.get(SESSION_KEY, {})
        if request.method == "POST" and "confirm" in request.POST:
            token = request.POST.get("token", "")
            upload = pending.get(token) if TOKEN.fullmatch(token) else None
            if upload is None:
                messages.error(request, "That preview has expired; upload the file again.")
                return redirect("admin:provisioning_import")
            report = self._run(request, token, upload, dry_run=False)
            if report is not None and report.ok:
                self._forget(request, token)
                messages.success(
                    request,
                    f"Imported {upload['name']}: {report.created} created, {report.updated} "
                    f"updated, {report.unchanged} unchanged.",
                )
                return redirect("admin:provisioning_provisioningchange_changelist")
            context.update(report=report, upload=upload, token=token, confirmed=True)
            return TemplateResponse(request, "admin/provisioning/import.html", context)
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload_file = form.cleaned_data["file"]
            token = secrets.token_urlsafe(16)
            file_format = Path(upload_file.name).suffix.lower().lstrip(".")
            with (_import_dir() / f"{token}.{file_format}").open("wb") as stored:
                for piece in upload_file.chunks():
                    stored.write(piece)
            upload = {
                "kind": form.cleaned_data["kind"],
                "format": file_format,
                "name": Path(upload_file.name).name[:100],
            }
            request.session[SESSION_KEY] = {**pending, token: upload}
            report = self._run(request, token, upload, dry_run=True)
            if report is None or not report.ok:
                self._forget(request, token)  # it cannot be confirmed: keep nothing
            context.update(report=report, upload=upload, token=token)
        context["form"] = form
        return TemplateResponse(request, "admin/provisioning/import.html", context)

    def _run(
        self, request: HttpRequest, token: str, upload: dict[str, str], *, dry_run: bool
    ) -> Any:
        kind, file_format = upload["kind"], upload["format"]
        if kind not in KINDS or file_format not in FORMATS:
            return None
        actor = Actor(
            by=f"import:{request.user.get_username()}",
            name=upload["name"],
            client=client_for_request(request),
            user=request.user,
        )
        try:
            return import_file(
                path=_import_dir() / f"{token}.{file_format}",
                file_format=file_format,
                kind=kind,
                actor=actor,
                dry_run=dry_run,
            )
        except BadFile as exc:
            messages.error(request, str(exc))
        except ServiceError as exc:
            messages.error(request, exc.message)
        except FileNotFoundError:
            messages.error(request, "That upload is gone; upload the file again.")
        return None

    def _forget(self, request: HttpRequest, token: str) -> None:
        pending = dict(request.session.get(SESSION_KEY, {}))
        upload = pending.pop(token, None)
        request.session[SESSION_KEY] = pending
        if upload is not None:
            (_import_dir() / f"{token}.{upload['format']}").unlink(missing_ok=True)


class ClientCreateForm(forms.Form):
    name = forms.CharField(max_length=255, help_text="Which bank system, e.g. Core banking sync.")
    scopes = forms.MultipleChoiceField(
        choices=list(SCOPES.items()), widget=forms.CheckboxSelectMultiple
    )
    requests_per_minute = forms.IntegerField(min_value=1, initial=120)


@admin.register(ProvisioningClient)
class ProvisioningClientAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The bank's systems: adding one shows its secret once; deleting one revokes it and its tokens."""

    list_display = ["__str__", "scopes", "requests_per_minute", "created_at"]
    fields = ["scopes", "requests_per_minute"]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ClientCreateForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "title": "Add provisioning client",
            "opts": self.model._meta,
            "form": form,
        }
        if request.method == "POST" and form.is_valid():
            try:
                issued = provisioning_client_create(
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    requests_per_minute=form.cleaned_data["requests_per_minute"],
                    by=request.user,
                    client_info=client_for_request(request),
                )
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                context["issued"] = issued
        response = TemplateResponse(request, "admin/provisioning/client_add.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def delete_model(self, request: HttpRequest, obj: ProvisioningClient) -> None:
        provisioning_client_revoke(
            client_id=obj.application.client_id,
            by=request.user,
            client_info=client_for_request(request),
        )

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for client in queryset.select_related("application"):
            self.delete_model(request, client)
