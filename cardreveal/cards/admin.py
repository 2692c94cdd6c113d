"""Admin for provider bindings (write-only secrets, validated per provider), cards (references only)
and the global reveal switch.

No admin page or action can reveal a CVV: "check connection" may request a test card's CVV
(kept for that check at the provider) and drops it unread.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from cardreveal.cards import cardholder_admin  # noqa: F401  (registers the cardholder's page)
from cardreveal.cards.binding_check import Verdict, binding_check, health_failure_words
from cardreveal.cards.bindings import (
    TLS_SECRET_FIELDS,
    binding_breaker,
    binding_health,
    decoded_secrets,
    tls_material_errors,
)
from cardreveal.cards.models import BindingTestCard, Card, ProviderBinding, RevealSwitch
from cardreveal.cards.provider_forms import (
    option_form_field,
    read_secret_upload,
    secret_form_field,
)
from cardreveal.outages import CACHE_ERRORS
from providers.breaker import BreakerSnapshot, State
from providers.errors import ProviderConfigError, ProviderError
from providers.http import check_url
from providers.registry import provider_choices, provider_class, provider_kinds

HEALTH_FIELDS = [
    "breaker_state",
    "last_success",
    "last_failure",
    "recent_latency",
    "check_test_card",
]
SECRET_PREFIX = "secret__"  # noqa: S105 (a form-field name prefix, not a secret)
OPTION_PREFIX = "option__"


# Sent by a form that shows a provider's fields, naming the provider (see BindingAdminForm).
FIELDS_FOR = "provider_fields_for"


def _kind_help_text() -> str:
    links = format_html_join(
        ", ", '<a href="?kind={}">{}</a>', ((kind, label) for kind, label in provider_choices())
    )
    return format_html(
        "Choosing a provider shows its credentials and options below."
        "<noscript> Without scripts, open the form for {} instead.</noscript>",
        links,
    )


class BindingAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """Base form; `ProviderBindingAdmin.get_form` adds the chosen provider's fields.

    `provider_kind` is the saved binding's provider (change form); `fields_kind` the provider
    whose fields the form carries ("" on an add form before one is chosen). An add form sent
    without having shown those fields (the provider chosen without the page's script) is not
    saved: it comes back with the provider's fields, their usual values filled in. A form that
    comes back with errors says which chosen files and typed secrets must be given again (a
    browser keeps no chosen file, and secrets are never sent back to it).
    """

    provider_kind: str = ""
    fields_kind: str = ""
    # True when the page the form was sent from showed fields_kind's fields (set by the admin).
    fields_shown_by_url: bool = False

    class Meta:
        model = ProviderBinding
        fields = ["name", "issuer_name", "kind", "base_url", "enabled", "lock_card_on_disown"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:
            self.fields["kind"] = forms.ChoiceField(
                choices=provider_choices(),
                initial=self.provider_kind or None,
                help_text=_kind_help_text(),
            )
        self.fields_were_shown = not (
            self.is_bound
            and self.fields_kind
            and not self.provider_kind
            and not self.fields_shown_by_url
            and self.data.get(FIELDS_FOR) != self.fields_kind
        )
        if not self.fields_were_shown:
            self.data = _with_usual_values(self.data, self.fields_kind)

    def full_clean(self) -> None:
        super().full_clean()
        if self.is_bound and self.fields_were_shown and self.errors:
            self._ask_again_for_what_the_browser_drops()

    def _ask_again_for_what_the_browser_drops(self) -> None:
        for name, field in self.fields.items():
            if not name.startswith(SECRET_PREFIX):
                continue
            if isinstance(field, forms.FileField) and self.files.get(name):
                self.add_error(
                    name,
                    "Choose this file again: the browser does not keep a chosen file when the "
                    "form comes back with errors (nothing was saved).",
                )
            elif isinstance(field.widget, forms.PasswordInput) and self.data.get(name):
                self.add_error(
                    name,
                    "Type this again: secrets are never sent back to the browser "
                    "(nothing was saved).",
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
        if not self.fields_were_shown:
            raise forms.ValidationError(
                f"Fill in the {cls.label} credentials and options below (their usual values "
                "are filled in), then save.",
                code="provider_fields_not_shown",
            )
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
            problems.update(
                cls.validate_endpoints(base_url=str(cleaned.get("base_url", "")), options=options)
            )
            for field_name, message in problems.items():
                targets = (SECRET_PREFIX + field_name, OPTION_PREFIX + field_name)
                target = next((name for name in targets if name in self.fields), None)
                self.add_error(target, message)
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


def _with_usual_values(data: Any, kind: str) -> Any:
    """A copy of submitted `data` with the provider's fields that were not on the page filled
    in with their usual values (options' defaults, the usual base URL), and the provider named
    as shown, so the page that comes back shows them and its next submission is complete."""
    cls = provider_class(kind)
    completed = data.copy()
    for spec in cls.option_fields:
        name = OPTION_PREFIX + spec.name
        if name in completed or spec.default is None:
            continue
        if spec.kind != "bool":
            completed[name] = str(spec.default)
        elif spec.default:
            completed[name] = "on"
    if not completed.get("base_url") and cls.default_base_url:
        completed["base_url"] = cls.default_base_url
    completed[FIELDS_FOR] = kind
    return completed


@admin.register(ProviderBinding)
class ProviderBindingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Bindings: choosing the provider on the add form reloads it with that provider's fields
    (static/js/binding_kind.js); secrets are write-only, non-secret identifiers shown."""

    class Media:
        js = ["js/binding_kind.js"]

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

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """The add form at ?kind=<kind> starts at that provider's usual base URL."""
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        kind = self._kind(request, None)
        if kind and not initial.get("base_url"):
            initial["base_url"] = provider_class(kind).default_base_url
        return initial

    # ------------------------------------------------------------------ health (circuit breaker)

    @admin.display(description="Circuit breaker")
    def breaker_state(self, obj: ProviderBinding) -> str:
        health = _health(obj)
        if health is None:
            return HEALTH_UNKNOWN
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

    # The door records an answer when it arrives; whether it then decrypted and made sense is
    # noted after, as a failure: so this is the last answer, and Last failure says what failed.
    @admin.display(description="Last answer from the provider")
    def last_success(self, obj: ProviderBinding) -> str:
        health = _health(obj)
        if health is None:
            return HEALTH_UNKNOWN
        at = health.last_success
        return _when(at) if at is not None else "none recorded"

    @admin.display(description="Last failure")
    def last_failure(self, obj: ProviderBinding) -> str:
        health = _health(obj)
        if health is None:
            return HEALTH_UNKNOWN
        if health.last_failure is None:
            return "none recorded"
        code = health.last_failure_code
        return f"{_when(health.last_failure)}: {health_failure_words(code)} ({code})"

    @admin.display(description="Recent latency")
    def recent_latency(self, obj: ProviderBinding) -> str:
        health = _health(obj)
        if health is None:
            return HEALTH_UNKNOWN
        if health.median_latency_ms is None:
            return "no calls recorded"
        return (
            f"median {health.median_latency_ms} ms, max {max(health.recent_latencies_ms)} ms "
            f"over the last {len(health.recent_latencies_ms)} call(s)"
        )

    # Not named test_card: that is the reverse relation's name, which the admin would look up.
    @admin.display(description="Test card for Check connection")
    def check_test_card(self, obj: ProviderBinding) -> str:
        test_card = BindingTestCard.objects.filter(binding=obj).first()
        if test_card is None:
            url = reverse("admin:cards_bindingtestcard_add") + f"?binding={obj.pk}"
            return format_html(
                "none: Check connection cannot test decryption or a real CVV request. "
                '<a href="{}">Add a test card</a>',
                url,
            )
        url = reverse("admin:cards_bindingtestcard_change", args=[obj.pk])
        return format_html(
            '{}, expiring {} (<a href="{}">change</a>)',
            json.dumps(test_card.reference, sort_keys=True),
            f"{test_card.expiry_month:02d}/{test_card.expiry_year}",
            url,
        )

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kind = self._kind(request, obj)
        attrs: dict[str, Any] = {
            "provider_kind": kind if obj is not None else "",
            "fields_kind": kind,
            # the add page at ?kind=<kind> always shows that provider's fields
            "fields_shown_by_url": bool(kind) and request.GET.get("kind") == kind,
        }
        if kind:
            cls = provider_class(kind)
            stored = obj.secrets if obj is not None else {}
            attrs[FIELDS_FOR] = forms.CharField(
                widget=forms.HiddenInput, required=False, initial=kind
            )
            for spec in (*cls.secret_fields, *TLS_SECRET_FIELDS):
                attrs[SECRET_PREFIX + spec.name] = secret_form_field(
                    spec,
                    is_set=bool(stored.get(spec.name)),
                    shown=str(stored.get(spec.name) or "") if spec.kind == "text" else "",
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
        base = ["name", "issuer_name", "kind", "base_url", "enabled", "lock_card_on_disown"]
        if FIELDS_FOR in form.base_fields:
            base.append(FIELDS_FOR)
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

    # It may request a test card's CVV: only for staff who may change bindings, not view-only.
    @admin.action(
        description="Check connection (with a test card: the whole reveal path)",
        permissions=["change"],
    )
    def check_connection(self, request: HttpRequest, queryset: QuerySet[ProviderBinding]) -> None:
        levels = {
            Verdict.WORKS: messages.SUCCESS,
            Verdict.PARTIAL: messages.WARNING,
            Verdict.FAILED: messages.ERROR,
        }
        for binding in queryset:
            result = binding_check(binding=binding)
            self.message_user(request, result.message, levels[result.verdict])
            outcome = result.verdict.value + (f" ({result.code})" if result.code else "")
            self.log_change(request, binding, f"Checked the connection: {outcome}.")

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


@admin.register(BindingTestCard)
class BindingTestCardAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Test cards: one per binding at most, a card at the provider kept for Check connection."""

    list_display = ["__str__", "reference", "expiry_month", "expiry_year"]
    fields = ["binding", "reference", "expiry_month", "expiry_year"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["binding"] if obj is not None else []

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        examples = "; ".join(
            f"{provider_class(kind).label}: {{"
            + ", ".join(f'"{spec.name}": "…"' for spec in provider_class(kind).reference_fields)
            + "}"
            for kind in provider_kinds()
        )
        form.base_fields["reference"].help_text = (
            "A card at the provider kept for this check only, never a cardholder's. Check "
            "connection requests its CVV through the binding exactly as a reveal does (signing, "
            "encryption, decryption) and discards it unread, so a binding whose keys cannot "
            "complete a reveal is not reported as working; each check is one CVV request at the "
            "provider. Without a test card the check proves what it can (credentials, token, "
            f"signature) and says what it did not check. The card's identifiers: {examples}."
        )
        return form


# The breaker's state lives in Redis alone: while it is down the panel says so, and the rest of
# the page (the binding, its switch, its settings) still works.
HEALTH_UNKNOWN = "unknown: Redis, which holds it, is unavailable"


def _health(binding: ProviderBinding) -> BreakerSnapshot | None:
    """The binding's breaker state and stats, or None while the cache fails."""
    try:
        return binding_health(binding)
    except CACHE_ERRORS:
        return None


def _when(timestamp: float) -> str:
    """A cache timestamp as an aware local datetime, the way the admin shows times."""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


class ReportedNotMeFilter(admin.SimpleListFilter):
    """Cards whose holder reported a reveal as not theirs, and whether the card is still usable
    for payments (the lock at the provider was not asked, or failed): the fraud staff's list."""

    title = "reported as not me"
    parameter_name = "reported"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("yes", "Reported as not me"),
            ("unblocked", "Reported, card not locked at the provider"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Card]) -> QuerySet[Card]:
        reported = queryset.filter(reported_not_me_at__isnull=False)
        if self.value() == "yes":
            return reported
        if self.value() == "unblocked":
            return reported.exclude(bank_lock=Card.BankLock.LOCKED)
        return queryset


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
        "reported_not_me_at",
        "bank_lock",
    ]
    list_filter = [ReportedNotMeFilter, "brand", "reveal_enabled", "binding"]
    readonly_fields = ["reported_not_me_at", "bank_lock", "bank_lock_at"]
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
    """The one global switch, "Reveals for everyone: on/paused" at the top of the Cards section
    (`CardrevealAdminSite.get_app_list`): add it once, change it, never delete it. Its list
    opens the switch itself. Changes are audited."""

    list_display = ["__str__", "reveals_enabled", "note", "updated_at"]
    fields = ["reveals_enabled", "note", "updated_at"]
    readonly_fields = ["updated_at"]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A list of one row is a detour: open the switch (or add it, when there is none yet)."""
        switch = RevealSwitch.objects.filter(pk=RevealSwitch.SINGLETON_ID).first()
        if switch is not None and self.has_view_or_change_permission(request, switch):
            return redirect(
                reverse(f"{self.admin_site.name}:cards_revealswitch_change", args=[switch.pk]),
                permanent=False,
            )
        if switch is None and self.has_add_permission(request):
            return redirect(
                reverse(f"{self.admin_site.name}:cards_revealswitch_add"), permanent=False
            )
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not RevealSwitch.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
