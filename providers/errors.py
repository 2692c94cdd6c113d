"""The provider error taxonomy: every upstream failure becomes one of these, never a `requests` error.

Each class carries a stable `code`, a safe user-facing `default_message`, the HTTP `status_code` our
app answers with, whether the failure is `retryable`, whether it `counts_against_breaker`, and the
log level to record it at. No error ever holds a provider response body (it may contain a CVV).

T-MAP-1 (SECURITY.md): only failures that say the provider is unreachable, slow or broken feed the
circuit breaker (connect errors, timeouts, TLS failures, lost connections, 5xx); answers that say
something about our request or our credentials (4xx, a malformed body) do not, because failing
fast would not protect anyone from them.
"""

from __future__ import annotations

import logging

# The cap on a Retry-After we pass on to users, whatever the provider asked for.
MAX_RETRY_AFTER_SECONDS = 60


class ProviderError(Exception):
    """Base class: the provider failed in a way the user can only wait out or report."""

    code = "provider_error"
    default_message = "The card issuer's system returned an error. Please try again later."
    status_code = 502
    retryable = False
    counts_against_breaker = True
    log_level = logging.ERROR

    def __init__(
        self, detail: str | None = None, *, retry_after: int | None = None, provider_code: str = ""
    ) -> None:
        """`detail` is for logs (never a body); `provider_code` is the upstream reason code, if any."""
        self.detail = detail or self.code
        self.retry_after = (
            None if retry_after is None else max(1, min(int(retry_after), MAX_RETRY_AFTER_SECONDS))
        )
        self.provider_code = provider_code
        super().__init__(self.detail)

    @property
    def message(self) -> str:
        """The text shown to the cardholder."""
        return self.default_message


class ProviderUnavailable(ProviderError):
    """The request never reached the provider (connection refused, DNS, reset before sending)."""

    code = "provider_unavailable"
    default_message = "The card issuer can't be reached right now. Please try again shortly."
    status_code = 503
    retryable = True
    log_level = logging.WARNING

    def __init__(
        self, detail: str | None = None, *, retry_after: int | None = 5, provider_code: str = ""
    ) -> None:
        super().__init__(detail, retry_after=retry_after, provider_code=provider_code)


class ProviderTimeout(ProviderError):
    """The provider took too long to answer (read timeout or overall deadline); never retried."""

    code = "provider_timeout"
    default_message = "The card issuer is responding too slowly. Please try again in a minute."
    status_code = 504
    log_level = logging.WARNING


class ProviderTLSError(ProviderError):
    """The provider's TLS certificate or handshake failed verification."""

    code = "provider_tls_error"
    default_message = "The card issuer's system is unavailable. Please try again later."


class CircuitOpen(ProviderError):
    """Recent calls to this binding failed; we fail fast until the cool-down passes."""

    code = "provider_circuit_open"
    default_message = "The card issuer can't be reached right now. Please try again shortly."
    status_code = 503
    retryable = True
    counts_against_breaker = False
    log_level = logging.INFO


class ProviderBadResponse(ProviderError):
    """The answer was malformed, too large, of the wrong type, or a CVV that is not 3-4 digits."""

    code = "provider_bad_response"
    counts_against_breaker = False


class ProviderUndecryptable(ProviderBadResponse):
    """An encrypted answer did not open with the binding's private key: the key pair on our side
    is not the one registered with the provider (or the answer was tampered with).

    Same code, message and status as any bad answer (cardholders and API clients see no
    difference); the class lets the admin's connection check and health panel name the cause.
    """


class ProviderConnectionLost(ProviderError):
    """The connection broke after the request was sent (reset, or closed mid-answer).

    The provider may have acted on the request, so it is retried only when the request is
    idempotent; it feeds the breaker like a 5xx.
    """

    code = "provider_connection_lost"
    log_level = logging.WARNING


class ProviderBusy(ProviderError):
    """Too many calls to this binding are already in flight in this worker; we fail fast."""

    code = "provider_busy"
    default_message = "The card issuer is busy. Please try again shortly."
    status_code = 503
    retryable = True
    counts_against_breaker = False
    log_level = logging.WARNING

    def __init__(
        self, detail: str | None = None, *, retry_after: int | None = 2, provider_code: str = ""
    ) -> None:
        super().__init__(detail, retry_after=retry_after, provider_code=provider_code)


class ProviderAuthError(ProviderError):
    """The provider rejected our credentials (401/403): our configuration needs attention."""

    code = "provider_auth_error"
    counts_against_breaker = False


class ProviderRateLimited(ProviderError):
    """The provider asked us to slow down (429)."""

    code = "provider_rate_limited"
    default_message = "The card issuer is busy. Please try again shortly."
    status_code = 503
    retryable = True
    counts_against_breaker = False
    log_level = logging.WARNING


class ProviderServerError(ProviderError):
    """The provider answered 5xx."""

    code = "provider_server_error"
    log_level = logging.WARNING


class CardNotFound(ProviderError):
    """The provider does not know this card reference."""

    code = "card_not_found"
    default_message = "This card is not available at the card issuer."
    status_code = 404
    counts_against_breaker = False
    log_level = logging.INFO


class CardDetailsMismatch(ProviderError):
    """The card's details on file (such as the expiry date) do not match the provider's."""

    code = "card_details_mismatch"
    default_message = (
        "The card details on file do not match the card issuer's records. Please contact support."
    )
    status_code = 404
    counts_against_breaker = False
    log_level = logging.INFO


class CvvBlocked(ProviderError):
    """The provider has blocked CVV retrieval for this card (too many attempts)."""

    code = "cvv_blocked"
    default_message = (
        "The security code of this card is blocked after too many attempts. Please contact support."
    )
    status_code = 409
    counts_against_breaker = False
    log_level = logging.INFO


class ProviderConfigError(ProviderError):
    """The binding is misconfigured (a key that does not parse, a missing credential)."""

    code = "provider_config_error"
    counts_against_breaker = False


def error_for_status(
    status: int, *, retry_after: int | None = None, provider_code: str = ""
) -> ProviderError:
    """Map an unsuccessful HTTP status to the default provider error (T-MAP-1).

    Providers handle their own special cases (such as a 404 that means a mismatched expiry) first.
    """
    detail = f"HTTP {status}"
    if status in (401, 403):
        return ProviderAuthError(detail, provider_code=provider_code)
    if status == 404:
        return CardNotFound(detail, provider_code=provider_code)
    if status == 429:
        return ProviderRateLimited(
            detail, retry_after=retry_after or 5, provider_code=provider_code
        )
    if 500 <= status <= 599:
        return ProviderServerError(detail, provider_code=provider_code)
    return ProviderBadResponse(detail, provider_code=provider_code)
