"""Check connection: prove a binding can complete a reveal, and say what works or failed in the
admin's words."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from cardreveal.cards.bindings import UNDECRYPTABLE_CODE, binding_failure_note, provider_for_binding
from cardreveal.cards.models import BindingTestCard, ProviderBinding
from providers.base import CardRef, Provider
from providers.errors import (
    CardDetailsMismatch,
    CardNotFound,
    CircuitOpen,
    CvvBlocked,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderBusy,
    ProviderConfigError,
    ProviderConnectionLost,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderTLSError,
    ProviderUnavailable,
    ProviderUndecryptable,
)

logger = logging.getLogger(__name__)

# What each failure means for the admin and what to do about it, most specific class first.
# Filled in with the provider's label and its own words for credentials and keys, and, for a
# configuration error, with the error's detail (ours, written for logs: never a body or a secret).
_FAILURE_WORDS: tuple[tuple[type[ProviderError], str], ...] = (
    (
        ProviderUndecryptable,
        "the answer could not be decrypted with this binding's private key: {decryption_advice}",
    ),
    (ProviderAuthError, "{provider} refused {refused_credentials}: {credentials_advice}"),
    (ProviderConfigError, "the binding's configuration needs attention ({detail})"),
    (
        CardNotFound,
        "{provider} does not know the test card (it accepted the credentials): check the test "
        "card's reference",
    ),
    (
        CardDetailsMismatch,
        "{provider} says the test card's expiry does not match its records: check the test "
        "card's expiry",
    ),
    (
        CvvBlocked,
        "{provider} has blocked the test card's CVV after too many requests: unblock it there, "
        "or use another test card",
    ),
    (
        CircuitOpen,
        "no call was made because the circuit breaker is open after recent failures: fix the "
        "cause, close the breaker (an action on this list), then check again",
    ),
    (ProviderRateLimited, "{provider} asked us to slow down (HTTP 429): check again in a minute"),
    (
        ProviderBusy,
        "too many calls to {provider} are already in flight from this server: check again in a "
        "moment",
    ),
    (
        ProviderUnavailable,
        "{provider} could not be reached: check the base URL, and that this server can connect "
        "to it (DNS, firewall, proxy)",
    ),
    (
        ProviderTimeout,
        "{provider} did not answer in time: it may be overloaded, or the base URL may point at "
        "an address that drops connections",
    ),
    (
        ProviderTLSError,
        "the TLS connection to {provider} failed verification: check the base URL's host name, "
        "and the binding's private CA and client certificate if it uses them",
    ),
    (
        ProviderConnectionLost,
        "the connection to {provider} broke before its answer was complete: check again, and if "
        "it repeats, check any proxy in between",
    ),
    (
        ProviderServerError,
        "{provider} answered with a server error (HTTP 5xx): the fault is on its side; check "
        "again later",
    ),
    (
        ProviderBadResponse,
        "{provider}'s answer was not what its API sends (malformed, too large, a redirect, or "
        "without a usable code): check the base URL points at {provider}'s API",
    ),
    (ProviderError, "{provider} answered with an error"),
)

# The health panel's words for the code of a binding's last failure.
_HEALTH_WORDS = {
    UNDECRYPTABLE_CODE: "an answer this binding's private key could not decrypt",
    ProviderAuthError.code: "the provider refused the credentials",
    ProviderConfigError.code: "the binding's configuration could not be used",
    ProviderBadResponse.code: "an answer that was not what the provider's API sends",
    ProviderUnavailable.code: "the provider could not be reached",
    ProviderTimeout.code: "the provider did not answer in time",
    ProviderTLSError.code: "TLS verification failed",
    ProviderConnectionLost.code: "the connection broke mid-answer",
    ProviderServerError.code: "a server error at the provider",
}


class Verdict(enum.Enum):
    """How far a check got."""

    WORKS = "works"  # everything a reveal uses was exercised and worked
    PARTIAL = "partial"  # what could be exercised worked; the message says what was not
    FAILED = "failed"


@dataclass(frozen=True)
class BindingCheck:
    """The outcome of checking one binding. `message` is for the admin and names the binding; it
    never holds a secret, a CVV or anything from a provider's body. `code` is the failure's."""

    verdict: Verdict
    message: str
    code: str = ""


def binding_check(*, binding: ProviderBinding) -> BindingCheck:
    """Check `binding` as far as a reveal goes: with its test card, a real CVV request through
    the provider module and the binding's HTTP door (signing, encryption, decryption), whose CVV
    is dropped unread; without one, the provider's credentials check, saying what was not
    exercised (such as decryption).

    A failure is logged (code and detail, no body) and, when it is the binding's own fault,
    becomes the last failure on the health panel. Never raises a ProviderError.
    """
    test_card = binding_test_card_ref(binding=binding)
    provider: Provider | None = None
    try:
        provider = provider_for_binding(binding)
        proof = provider.check_path(test_card=test_card)
    except LookupError:
        return BindingCheck(
            Verdict.FAILED,
            f"{binding.name}: the provider “{binding.kind}” is not installed here.",
            "provider_unknown",
        )
    except ProviderError as exc:
        binding_failure_note(binding=binding, error=exc)
        logger.warning(
            "connection check failed: binding=%s reason=%s detail=%s",
            binding.pk,
            exc.code,
            exc.detail,
        )
        words = failure_words(provider, exc)
        return BindingCheck(Verdict.FAILED, f"{binding.name}: {words}.", exc.code)
    logger.info("connection check passed: binding=%s whole_path=%s", binding.pk, not proof.unproved)
    if not proof.unproved:
        return BindingCheck(Verdict.WORKS, f"{binding.name}: {proof.proved}.")
    return BindingCheck(
        Verdict.PARTIAL,
        f"{binding.name}: {proof.proved}. Not everything a reveal uses was checked: "
        f"{proof.unproved}. Add a test card on the binding's page to check the whole path.",
    )


def binding_test_card_ref(*, binding: ProviderBinding) -> CardRef | None:
    """The binding's test card as a provider is given it, or None when it has none."""
    test_card = BindingTestCard.objects.filter(binding=binding).first()
    if test_card is None:
        return None
    return CardRef(
        reference=dict(test_card.reference or {}),
        expiry_month=test_card.expiry_month,
        expiry_year=test_card.expiry_year,
    )


def failure_words(provider: Provider | type[Provider] | None, error: ProviderError) -> str:
    """What `error` means for the admin, in `provider`'s terms (generic ones when unknown); a
    provider instance words a refusal after the credentials its binding uses."""
    template = next(words for cls, words in _FAILURE_WORDS if isinstance(error, cls))
    if isinstance(provider, Provider):
        refused_credentials, credentials_advice = provider.refusal_words()
    else:
        refused_credentials = (provider or Provider).refused_credentials
        credentials_advice = (provider or Provider).credentials_advice
    return template.format(
        provider=provider.label if provider else "the provider",
        refused_credentials=refused_credentials,
        credentials_advice=credentials_advice,
        decryption_advice=(provider or Provider).decryption_advice,
        detail=error.detail,
    )


def health_failure_words(code: str) -> str:
    """The health panel's words for a last-failure code (the code itself when it has none)."""
    return _HEALTH_WORDS.get(code, code)
