"""Builds a provider instance for a binding (decrypted secrets, options, its HTTP door and breaker),
the card reference a provider is called with, and a binding's secrets in their stored form."""

from __future__ import annotations

import base64
import binascii
import ssl
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from cardreveal.cards.models import Card, ProviderBinding
from providers.base import BindingConfig, CardRef, FieldSpec, Provider
from providers.breaker import BreakerSnapshot, CircuitBreaker, breaker_policy_from_settings
from providers.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderUndecryptable,
)
from providers.http import ClientCertificate, HttpPolicy, doors, tls_context
from providers.registry import provider_class
from providers.sensitive import Sensitive

# TLS material any binding may carry, whatever its provider: a private CA to trust instead of the
# public store, and a client certificate and key for mutual TLS. Stored like provider file
# secrets (base64 of the uploaded PEM, encrypted at rest), and never handed to the provider.
TLS_SECRET_FIELDS = (
    FieldSpec(
        "tls_ca_bundle",
        "TLS: private CA certificates (PEM)",
        kind="file",
        required=False,
        help_text="Only for a provider whose certificate comes from a private CA: then only "
        "these CAs are trusted.",
    ),
    FieldSpec(
        "tls_client_certificate",
        "TLS: client certificate chain (PEM)",
        kind="file",
        required=False,
        help_text="For providers that require mutual TLS; upload its key below.",
    ),
    FieldSpec(
        "tls_client_key",
        "TLS: client private key (PEM, unencrypted)",
        kind="file",
        required=False,
        help_text="The key of the client certificate above.",
    ),
)
_TLS_NAMES = frozenset(spec.name for spec in TLS_SECRET_FIELDS)


def decoded_secrets(kind: str, stored: Mapping[str, str]) -> dict[str, str | bytes]:
    """Stored secrets with file fields decoded back to bytes, as providers expect them."""
    specs = {spec.name: spec for spec in provider_class(kind).secret_fields}
    result: dict[str, str | bytes] = {}
    for name, value in stored.items():
        spec = specs.get(name)
        result[name] = base64.b64decode(value) if spec and spec.kind == "file" else value
    return result


def encoded_secrets(kind: str, plain: Mapping[str, str | bytes]) -> dict[str, str]:
    """Secrets in their stored form: file fields base64 text, the rest as given."""
    specs = {spec.name: spec for spec in provider_class(kind).secret_fields}
    result: dict[str, str] = {}
    for name, value in plain.items():
        spec = specs.get(name)
        if isinstance(value, bytes) or (spec and spec.kind == "file"):
            raw = value if isinstance(value, bytes) else value.encode()
            result[name] = base64.b64encode(raw).decode("ascii")
        else:
            result[name] = value
    return result


def binding_key(binding: ProviderBinding) -> str:
    """The name a binding's door and circuit breaker are known by, in logs and in the cache."""
    return f"binding-{binding.pk}"


def _stored_file(stored: Mapping[str, Any], name: str) -> bytes | None:
    value = stored.get(name)
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise ProviderConfigError(f"{name} is not stored as base64") from None


def tls_material(
    stored: Mapping[str, Any],
) -> tuple[bytes | None, ClientCertificate | None]:
    """The private CA bundle and the client certificate from a binding's stored secrets.

    Raises ProviderConfigError when only one of certificate and key is set.
    """
    ca = _stored_file(stored, "tls_ca_bundle")
    cert = _stored_file(stored, "tls_client_certificate")
    key = _stored_file(stored, "tls_client_key")
    if bool(cert) != bool(key):
        raise ProviderConfigError("a TLS client certificate needs its key, and the other way round")
    identity = ClientCertificate(cert, Sensitive(key)) if cert and key else None
    return ca, identity


def tls_material_errors(stored: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with a binding's TLS secrets (field name -> message); empty when usable."""
    try:
        ca, identity = tls_material(stored)
        tls_context(policy=HttpPolicy(ca_bundle_pem=ca), client_certificate=identity)
    except ProviderConfigError as exc:
        target = "tls_ca_bundle" if "CA" in exc.detail else "tls_client_certificate"
        return {target: f"{exc.detail[:1].upper()}{exc.detail[1:]}."}
    except ssl.SSLError:  # pragma: no cover - tls_context maps these
        return {"tls_ca_bundle": "The TLS material could not be loaded."}
    return {}


def http_policy_for(binding: ProviderBinding) -> HttpPolicy:
    """The outbound limits for this binding: settings defaults, overridable per binding."""
    options = binding.options or {}
    ca_bundle, _ = tls_material(binding.secrets or {})
    return HttpPolicy(
        connect_timeout=float(
            options.get("connect_timeout", settings.CARDREVEAL_PROVIDER_CONNECT_TIMEOUT)
        ),
        read_timeout=float(options.get("read_timeout", settings.CARDREVEAL_PROVIDER_READ_TIMEOUT)),
        deadline=float(options.get("deadline", settings.CARDREVEAL_PROVIDER_DEADLINE)),
        max_body_bytes=int(settings.CARDREVEAL_PROVIDER_MAX_BODY_BYTES),
        allow_loopback_http=bool(settings.CARDREVEAL_ALLOW_LOOPBACK_HTTP),
        ca_bundle_pem=ca_bundle,
        max_concurrency=int(
            options.get("max_concurrency", settings.CARDREVEAL_PROVIDER_MAX_CONCURRENCY)
        ),
        slot_wait=settings.CARDREVEAL_PROVIDER_SLOT_WAIT_MS / 1000,
        breaker_threshold=int(settings.CARDREVEAL_BREAKER_THRESHOLD),
        breaker_cooldown=float(settings.CARDREVEAL_BREAKER_COOLDOWN_SECONDS),
    )


def provider_for_binding(binding: ProviderBinding) -> Provider:
    """A ready-to-call provider for `binding`, its calls through the binding's door (deadline,
    breaker, concurrency cap). Raises LookupError for an unknown kind, ProviderConfigError for
    unusable TLS material."""
    cls = provider_class(binding.kind)
    stored = binding.secrets or {}
    provider_secrets = {name: value for name, value in stored.items() if name not in _TLS_NAMES}
    secrets = {
        name: Sensitive(value)
        for name, value in decoded_secrets(binding.kind, provider_secrets).items()
    }
    config = BindingConfig(
        key=f"binding-{binding.pk}-{binding.updated_at.timestamp() if binding.updated_at else 0}",
        base_url=binding.base_url,
        secrets=secrets,  # type: ignore[arg-type]
        options=dict(binding.options or {}),
    )
    _, client_certificate = tls_material(stored)
    door = doors.door(
        key=binding_key(binding),
        policy=http_policy_for(binding),
        client_certificate=client_certificate,
    )
    return cls(config, door)


def client_key_hash(binding: ProviderBinding) -> str:
    """The hash ("SHA-256" or "SHA-1") the viewer's RSA-OAEP key must be made with to open what
    a reveal through `binding` answers (SHA-256 for an unknown provider)."""
    try:
        cls = provider_class(binding.kind)
    except LookupError:
        return "SHA-256"
    return cls.client_key_hash(binding.options or {})


def card_ref(card: Card) -> CardRef:
    """What a provider is given for `card`: its reference at the provider and its expiry."""
    return CardRef(
        reference=dict(card.reference or {}),
        expiry_month=card.expiry_month,
        expiry_year=card.expiry_year,
    )


def binding_breaker(binding: ProviderBinding) -> CircuitBreaker:
    """The circuit breaker of `binding` (state shared through the cache)."""
    return CircuitBreaker(key=binding_key(binding), policy=breaker_policy_from_settings())


def binding_health(binding: ProviderBinding) -> BreakerSnapshot:
    """The binding's breaker state, last success and failure, and recent latencies."""
    return binding_breaker(binding).snapshot()


# Failures that say the binding cannot serve reveals although the provider answered, so the door
# recorded no failure: they are noted for the health panel. Card-level answers (unknown card,
# blocked CVV) and transport failures (already recorded by the door) are not.
_BINDING_FAILURES = (ProviderAuthError, ProviderBadResponse, ProviderConfigError)
# The health code of an answer the binding's private key could not open (its error shares the
# code of any bad answer, which cardholders and the API see).
UNDECRYPTABLE_CODE = "answer_undecryptable"


def binding_failure_note(*, binding: ProviderBinding, error: ProviderError) -> None:
    """Make `error` the binding's last failure on the health panel when it is the binding's own
    fault rather than the card's or the transport's. Never raises."""
    if error.counts_against_breaker or not isinstance(error, _BINDING_FAILURES):
        return
    code = UNDECRYPTABLE_CODE if isinstance(error, ProviderUndecryptable) else error.code
    binding_breaker(binding).note_failure(code)
