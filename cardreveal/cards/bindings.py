"""Builds a provider instance for a binding: decrypted secrets, options and its HTTP door."""

from __future__ import annotations

from django.conf import settings

from cardreveal.cards.models import ProviderBinding
from cardreveal.cards.provider_forms import decoded_secrets
from providers.base import BindingConfig, Provider
from providers.http import HttpPolicy, doors
from providers.registry import provider_class
from providers.sensitive import Sensitive


def http_policy_for(binding: ProviderBinding) -> HttpPolicy:
    """The outbound limits for this binding: settings defaults, overridable per binding."""
    options = binding.options or {}
    return HttpPolicy(
        connect_timeout=float(
            options.get("connect_timeout", settings.CARDREVEAL_PROVIDER_CONNECT_TIMEOUT)
        ),
        read_timeout=float(options.get("read_timeout", settings.CARDREVEAL_PROVIDER_READ_TIMEOUT)),
        deadline=float(options.get("deadline", settings.CARDREVEAL_PROVIDER_DEADLINE)),
        max_body_bytes=int(settings.CARDREVEAL_PROVIDER_MAX_BODY_BYTES),
        allow_loopback_http=bool(settings.CARDREVEAL_ALLOW_LOOPBACK_HTTP),
    )


def provider_for_binding(binding: ProviderBinding) -> Provider:
    """A ready-to-call provider for `binding`. Raises LookupError for an unknown kind."""
    cls = provider_class(binding.kind)
    secrets = {
        name: Sensitive(value)
        for name, value in decoded_secrets(binding.kind, binding.secrets).items()
    }
    config = BindingConfig(
        key=f"binding-{binding.pk}-{binding.updated_at.timestamp() if binding.updated_at else 0}",
        base_url=binding.base_url,
        secrets=secrets,  # type: ignore[arg-type]
        options=dict(binding.options or {}),
    )
    door = doors.door(key=f"binding-{binding.pk}", policy=http_policy_for(binding))
    return cls(config, door)
