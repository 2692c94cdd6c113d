"""Admin for provider bindings (write-only secrets, validated per provider), cards (references only)
and the global reveal switch.

No admin page or action can reveal a CVV: the only admin call to a provider is "check connection".
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format

from cardreveal.cards.bindings import (
    TLS_SECRET_FIELDS,
    binding_breaker,
    binding_health,
    decoded_secrets,
    tls_material_errors,
)
from cardreveal.cards.models import Card, ProviderBinding, RevealSwitch
from cardreveal.cards.provider_forms import (
    option_form_field,
    read_secret_upload,
    secret_form_field,
)
from providers.breaker import State
from providers.errors import ProviderConfigError, ProviderError
from providers.http import check_url
from providers.registry import provider_choices, provider_class, provider_kinds

HEALTH_FIELDS = ["breaker_state", "last_success", "last_failure", "recent_latency"]
SECRET_PREFIX = "secret__"  # noqa: S105 (a form-field name prefix, not a secret)
OPTION_PREFIX = "option__"


class BindingAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """Base form; `ProviderBindingAdmin.get_form` adds the chosen provider's fields."""

    provider_kind: str = ""

    class Meta:
        model = ProviderBinding
        fields = ["name", "issuer_name", "kind", "base_url", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:
            self.fields["kind"] = forms.ChoiceField(
                choices=provider_choices(),
                initial=self.provider_kind or None,
                help_text="Choose the provider, then save and continue to enter its credentials.",
            )

    def clean_base_url(self) -> str:
        url = str(self.cleaned_data.get("base_url", "")).strip()
        try:
            check_url(url, allow_loopback_http=settings.CARDREVEAL_ALLOW_LOOPBACK_HTTP)
        except ProviderConfigError:
            raise forms.ValidationError(
                "Enter the provider's https:// API address (plain http:// is refused)."
            ) from None
        return url

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = self.provider_kind or cleaned.get("kind", "")
        if kind not in provider_kinds():
            return cleaned
        cls = provider_class(kind)
        stored = dict(self.instance.secrets or {}) if self.instance.kind == kind else {}
        merged: dict[str, str] = dict(stored)
        for spec in (*cls.secret_fields, *TLS_SECRET_FIELDS):
            value = cleaned.get(SECRET_PREFIX + spec.name)
            if not value:
                continue
            try:
                merged[spec.name] = (
                    read_secret_upload(spec, value) if spec.kind == "file" else str(value).strip()
                )
            except forms.ValidationError as exc:
                self.add_error(SECRET_PREFIX + spec.name, exc)
        options = dict(self.instance.options or {})
        for spec in cls.option_fields:
            name = OPTION_PREFIX + spec.name
            if name in cleaned:
                options[spec.name] = cleaned[name]
        missing = [
            spec for spec in cls.secret_fields if spec.required and not merged.get(spec.name)
        ]
        if cleaned.get("enabled") and missing:
            for spec in missing:
                self.add_error(
                    SECRET_PREFIX + spec.name,
                    f"{spec.label} is required before the binding can be enabled.",
                )
        if not self.errors:
            problems = cls.validate_secrets(decoded_secrets(kind, merged), options)
            problems.update(tls_material_errors(merged))
            for field_name, message in problems.items():
                target = SECRET_PREFIX + field_name
                self.add_error(target if target in self.fields else None, message)
        self._merged_secrets = merged
        self._options = options
        return cleaned

    def save(self, commit: bool = True) -> ProviderBinding:
        binding: ProviderBinding = super().save(commit=False)
        if self.provider_kind:
            binding.kind = self.provider_kind
        if hasattr(self, "_merged_secrets"):
            binding.secrets = self._merged_secrets
            binding.options = self._options
        if commit:
            binding.save()
        return binding


@admin.register(ProviderBinding)
class ProviderBindingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "issuer_name",
        "kind",
        "base_url",
        "enabled",
        "breaker_state",
        "updated_at",
    ]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    actions = ["check_connection", "disable_bindings", "enable_bindings", "close_breakers"]
    form = BindingAdminForm

    def _kind(self, request: HttpRequest, obj: ProviderBinding | None) -> str:
        if obj is not None:
            return obj.kind
        kind = request.POST.get("kind") or request.GET.get("kind") or ""
        return kind if kind in provider_kinds() else ""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["kind", *HEALTH_FIELDS] if obj is not None else []

    # ------------------------------------------------------------------ health (circuit breaker)

    @admin.display(description="Circuit breaker")
    def breaker_state(self, obj: ProviderBinding) -> str:
        health = binding_health(obj)
        if health.state is State.OPEN and health.open_until is not None:
            return (
                f"open (failing fast until {_when(health.open_until)}; "
                f"{health.fast_failures} call(s) refused so far)"
            )
        if health.state is State.HALF_OPEN:
            return "half-open (the next call is a trial)"
        if health.consecutive_failures:
            return f"closed ({health.consecutive_failures} consecutive failure(s))"
        return "closed"

    @admin.display(description="Last success")
    def last_success(self, obj: ProviderBinding) -> str:
        at = binding_health(obj).last_success
        return _when(at) if at is not None else "none recorded"

    @admin.display(description="Last failure")
    def last_failure(self, obj: ProviderBinding) -> str:
        health = binding_health(obj)
        if health.last_failure is None:
            return "none recorded"
        return f"{_when(health.last_failure)} ({health.last_failure_code})"

    @admin.display(description="Recent latency")
    def recent_latency(self, obj: ProviderBinding) -> str:
        health = binding_health(obj)
        if health.median_latency_ms is None:
            return "no calls recorded"
        return (
            f"median {health.median_latency_ms} ms, max {max(health.recent_latencies_ms)} ms "
            f"over the last {len(health.recent_latencies_ms)} call(s)"
        )

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kind = self._kind(request, obj)
        attrs: dict[str, Any] = {"provider_kind": kind if obj is not None else ""}
        if kind:
            cls = provider_class(kind)
            stored = obj.secrets if obj is not None else {}
            for spec in (*cls.secret_fields, *TLS_SECRET_FIELDS):
                attrs[SECRET_PREFIX + spec.name] = secret_form_field(
                    spec, is_set=bool(stored.get(spec.name))
                )
            options = obj.options if obj is not None else {}
            for spec in cls.option_fields:
                attrs[OPTION_PREFIX + spec.name] = option_form_field(
                    spec, initial=options.get(spec.name)
                )
        kwargs["form"] = type("ProviderBindingForm", (BindingAdminForm,), attrs)
        kwargs["fields"] = None
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        form = self.get_form(request, obj)
        base = ["name", "issuer_name", "kind", "base_url", "enabled"]
        secrets = [f for f in form.base_fields if f.startswith(SECRET_PREFIX)]
        options = [f for f in form.base_fields if f.startswith(OPTION_PREFIX)]
        sets: list[Any] = [(None, {"fields": base})]
        if secrets:
            sets.append(
                ("Credentials and keys (write-only, encrypted at rest)", {"fields": secrets})
            )
        if options:
            sets.append(("Options", {"fields": options}))
        if obj is not None:
            sets.append(
                ("Health (circuit breaker, shared by all workers)", {"fields": HEALTH_FIELDS})
            )
        return sets

    @admin.action(description="Check connection (no card data is fetched)")
    def check_connection(self, request: HttpRequest, queryset: QuerySet[ProviderBinding]) -> None:
        from cardreveal.cards.bindings import provider_for_binding

        for binding in queryset:
            try:
                provider_for_binding(binding).check_connection()
            except ProviderError as exc:
                self.message_user(
                    request, f"{binding.name}: {exc.message} ({exc.code})", messages.ERROR
                )
            else:
                self.message_user(
                    request, f"{binding.name}: connection and credentials work.", messages.SUCCESS
                )

    @admin.action(description="Close the circuit breaker (after the provider is fixed)")
    def close_breakers(self, request: HttpRequest, queryset: QuerySet[ProviderBinding]) -> None:
        for binding in queryset:
            binding_breaker(binding).reset()
        self.message_user(
            request, f"Circuit breaker closed for {queryset.count()} binding(s).", messages.SUCCESS
        )

    @admin.action(description="Turn off reveals through the selected bindings")
    def disable_bindings(self, request: HttpRequest, queryset: QuerySet[ProviderBinding]) -> None:
        count = queryset.update(enabled=False)
        self.message_user(request, f"{count} binding(s) turned off.", messages.WARNING)

    @admin.action(description="Turn on reveals through the selected bindings")
    def enable_bindings(self, request: HttpRequest, queryset: QuerySet[ProviderBinding]) -> None:
        count = queryset.update(enabled=True)
        self.message_user(request, f"{count} binding(s) turned on.", messages.SUCCESS)


def _when(timestamp: float) -> str:
    """A cache timestamp as an aware local datetime, the way the admin shows times."""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


class CardAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Card
        fields = [
            "owner",
            "label",
            "brand",
            "last4",
            "expiry_month",
            "expiry_year",
            "binding",
            "reference",
            "reveal_enabled",
        ]


@admin.register(Card)
class CardAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = CardAdminForm
    list_display = [
        "label",
        "owner",
        "brand",
        "masked_number",
        "expiry_display",
        "binding",
        "reveal_enabled",
    ]
    list_filter = ["brand", "reveal_enabled", "binding"]
    search_fields = ["label", "owner__username", "last4"]
    autocomplete_fields = ["owner"]
    actions = ["disable_reveals", "enable_reveals", "show_cvv_status", "unblock_cvv"]

    @admin.display(description="Card")
    def masked_number(self, obj: Card) -> str:
        return f"•••• {obj.last4}"

    @admin.action(description="Turn off CVV reveals for the selected cards")
    def disable_reveals(self, request: HttpRequest, queryset: QuerySet[Card]) -> None:
        count = queryset.update(reveal_enabled=False)
        self.message_user(request, f"Reveals turned off for {count} card(s).", messages.WARNING)

    @admin.action(description="Turn on CVV reveals for the selected cards")
    def enable_reveals(self, request: HttpRequest, queryset: QuerySet[Card]) -> None:
        count = queryset.update(reveal_enabled=True)
        self.message_user(request, f"Reveals turned on for {count} card(s).", messages.SUCCESS)

    @admin.action(description="Show CVV status at the provider (Thredd)")
    def show_cvv_status(self, request: HttpRequest, queryset: QuerySet[Card]) -> None:
        from cardreveal.cards.cvv_status import card_cvv_status

        def show(card: Card) -> None:
            status = card_cvv_status(card=card)
            level = messages.WARNING if status == "Blocked" else messages.SUCCESS
            self.message_user(request, f"{card}: CVV status is {status}.", level)

        self._for_each_cvv_status(request, queryset, show)

    @admin.action(description="Unblock CVV at the provider (Thredd)")
    def unblock_cvv(self, request: HttpRequest, queryset: QuerySet[Card]) -> None:
        from cardreveal.accounts.decorators import signed_in_user
        from cardreveal.cards.cvv_status import card_cvv_unblock

        admin_user = signed_in_user(request)

        def unblock(card: Card) -> None:
            card_cvv_unblock(
                card=card, admin=admin_user, reason="Unblocked by an administrator in cardreveal"
            )
            self.log_change(request, card, "Unblocked the CVV at the provider.")
            self.message_user(request, f"{card}: CVV unblocked.", messages.SUCCESS)

        self._for_each_cvv_status(request, queryset, unblock)

    def _for_each_cvv_status(
        self, request: HttpRequest, queryset: QuerySet[Card], act: Callable[[Card], None]
    ) -> None:
        """Run `act` on each card, turning a provider without CVV status or a failure into a message."""
        from cardreveal.cards.cvv_status import CvvStatusUnsupported

        for card in queryset.select_related("binding"):
            try:
                act(card)
            except CvvStatusUnsupported:
                self.message_user(
                    request, f"{card}: this provider has no CVV status.", messages.WARNING
                )
            except ProviderError as exc:
                self.message_user(request, f"{card}: {exc.message} ({exc.code})", messages.ERROR)


@admin.register(RevealSwitch)
class RevealSwitchAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The one global switch: add it once, change it, never delete it. Changes are audited."""

    list_display = ["__str__", "reveals_enabled", "note", "updated_at"]
    fields = ["reveals_enabled", "note", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not RevealSwitch.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
