"""Thredd Cards API: the CVV, its Blocked/Unblocked status and unblocking, with OAuth2 tokens."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from providers.base import (
    BindingConfig,
    CardRef,
    ClientKey,
    ConnectionProof,
    CvvResult,
    FieldSpec,
    Provider,
    checked_cvv,
)
from providers.errors import (
    CvvBlocked,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    error_for_status,
)
from providers.http import HttpDoor, HttpResponse
from providers.payloads import json_object
from providers.sensitive import Sensitive

# The UAT pair shown in Thredd's Cards API docs [confirmed]. Production hosts are not confirmed,
# so a production binding sets both its base URL and the `token_url` option.
UAT_BASE_URL = "https://cardsapi-uat-pub.globalprocessing.net/api/v1"
UAT_TOKEN_URL = "https://oauthuat.globalprocessing.net/connect/token"  # noqa: S105 (a URL)
_KNOWN_TOKEN_URLS = {"cardsapi-uat-pub.globalprocessing.net": UAT_TOKEN_URL}

PUBLIC_TOKEN_PATTERN = r"[0-9]{9}"  # noqa: S105 (a card reference format)
CVV_STATUSES = ("Blocked", "Unblocked")
# X-Region values for API Hub: 0 default, 1 EMEA, 2 APAC [confirmed].
_REGIONS = ("0", "1", "2")
# Field limits of the Unblock CVV request [confirmed: Unblock CVV field descriptions].
MAX_DESCRIPTION_LENGTH = 800
MAX_UPDATED_BY_LENGTH = 100

# Update Card Status [confirmed: cardsapidocs.thredd.com "Update Card Status - Field Descriptions"
# and "Card Status Codes"]: PUT /cards/{publicToken}/status with `cardStatusCode`, optional
# `description` and `updatedBy` (at most 1000 characters each), answered 200 with the new
# `status` and `cardStatusCode`. 59 "Suspected fraud" is a Live status: the card declines
# payments and the bank can set it back to 00.
LOCK_STATUS_CODE = "59"
MAX_STATUS_TEXT_LENGTH = 1000
LOCKED_BY = "cardreveal: cardholder report"

# Tokens are refreshed this long before the expiry the token endpoint announced, at most a minute,
# so a token never expires between our check and Thredd's.
_MAX_REFRESH_MARGIN_SECONDS = 60.0
_REFRESH_MARGIN_FRACTION = 0.1
# When the token endpoint omits expires_in, keep the token this long; a 401 refreshes it anyway.
_DEFAULT_TOKEN_LIFETIME_SECONDS = 300.0
# However long a token claims to live, we ask for a new one at least daily.
_MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600.0
_MAX_TOKEN_CHARS = 8192

_PUBLIC_TOKEN_RE = re.compile(PUBLIC_TOKEN_PATTERN)
# RFC 6750 b64token: anything else could smuggle header syntax into `Authorization`.
_BEARER_TOKEN_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# W3C traceparent as ASP.NET puts it in problem details; safe to log, useful to Thredd support.
_TRACE_ID_RE = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
# Statuses a blocked-CVV refusal may plausibly come with; 401/404/429 keep their own meaning.
_BLOCKED_STATUSES = frozenset({400, 403, 409, 422, 423})
# Whole words, so that "unblocked" is not read as "blocked".
_CVV_WORD_RE = re.compile(r"\bcvv2?\b")
_BLOCKED_WORD_RE = re.compile(r"\bblocked\b")
# OAuth2 token endpoint error codes (RFC 6749 5.2); only these are ever copied into an error.
_OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)


@dataclass(frozen=True)
class _CachedToken:
    token: Sensitive[str] = field(repr=False)
    refresh_at: float


class TokenCache:
    """Bearer tokens per binding, in this process's memory only (never the Django cache or a log).

    Thread-safe: one lock per key, so concurrent reveals on a binding fetch one token, not many.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, ...], threading.Lock] = {}
        self._entries: dict[tuple[str, ...], _CachedToken] = {}

    def _key_lock(self, key: tuple[str, ...]) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def get(
        self, key: tuple[str, ...], fetch: Callable[[], tuple[Sensitive[str], float]]
    ) -> Sensitive[str]:
        """Return the cached token for `key`, or call `fetch()` -> (token, lifetime seconds).

        Raises whatever `fetch` raises; nothing is cached then.
        """
        with self._key_lock(key):
            entry = self._entries.get(key)
            if entry is not None and self.clock() < entry.refresh_at:
                return entry.token
            token, lifetime = fetch()
            self._store(key, token, lifetime)
            return token

    def put(self, key: tuple[str, ...], token: Sensitive[str], lifetime: float) -> None:
        """Cache `token` for `key`, replacing any other, for `lifetime` seconds less a margin."""
        with self._key_lock(key):
            self._store(key, token, lifetime)

    def _store(self, key: tuple[str, ...], token: Sensitive[str], lifetime: float) -> None:
        margin = min(_MAX_REFRESH_MARGIN_SECONDS, lifetime * _REFRESH_MARGIN_FRACTION)
        self._entries[key] = _CachedToken(token, self.clock() + lifetime - margin)

    def discard(self, key: tuple[str, ...], token: Sensitive[str]) -> None:
        """Forget `token` if it is still the one cached for `key` (another thread may have
        replaced it already, and that newer token must survive)."""
        with self._key_lock(key):
            entry = self._entries.get(key)
            if entry is not None and entry.token is token:
                del self._entries[key]

    def clear(self) -> None:
        """Forget every token (tests, and after bindings change)."""
        with self._lock:
            self._entries.clear()


token_cache = TokenCache()


@dataclass(frozen=True)
class _Problem:
    """What we keep from a problem-details body: a classification and a trace id, no text."""

    cvv_blocked: bool = False
    trace_id: str = ""


def _read_problem(body: bytes) -> _Problem:
    """Classify a problem-details body without keeping any of its text.

    How Thredd signals a blocked CVV on the retrieve call is not published [unconfirmed]: we treat
    any problem whose title, detail or validation errors mention both "CVV" and "blocked" as one.
    """
    data = json_object(body)
    if data is None:
        return _Problem()
    texts: list[str] = [v for k in ("title", "detail") if isinstance(v := data.get(k), str)]
    errors = data.get("errors")
    if isinstance(errors, dict):
        for name, messages in errors.items():
            texts.append(str(name))
            if isinstance(messages, list):
                texts.extend(m for m in messages if isinstance(m, str))
    text = " ".join(texts).lower()
    raw_trace = data.get("traceId")
    trace_id = raw_trace if isinstance(raw_trace, str) and _TRACE_ID_RE.fullmatch(raw_trace) else ""
    blocked = bool(_CVV_WORD_RE.search(text) and _BLOCKED_WORD_RE.search(text))
    return _Problem(cvv_blocked=blocked, trace_id=trace_id)


def _api_error(response: HttpResponse, *, blocked_means: bool) -> ProviderError:
    """Map an unsuccessful Cards API answer to a provider error (T-MAP-1), keeping no body text.

    With `blocked_means`, a 400/403/409/422/423 problem saying the CVV is blocked becomes
    `CvvBlocked`.
    """
    problem = _read_problem(response.body)
    if blocked_means and problem.cvv_blocked and response.status in _BLOCKED_STATUSES:
        return CvvBlocked(f"HTTP {response.status}" + _trace_suffix(problem))
    error = error_for_status(response.status, retry_after=response.retry_after)
    if not problem.trace_id:
        return error
    # Same class and fields, with Thredd's trace id in the log detail.
    return type(error)(
        error.detail + _trace_suffix(problem),
        retry_after=error.retry_after,
        provider_code=error.provider_code,
    )


def _trace_suffix(problem: _Problem) -> str:
    return f" (traceId {problem.trace_id})" if problem.trace_id else ""


class ThreddProvider(Provider):
    """Thredd (formerly GPS) Cards API, kind `thredd`.

    Auth is OAuth2 client credentials (`client_secret_post`); the bearer token is cached in memory
    per binding and client id until shortly before it expires, and fetched again exactly once when
    the API answers 401. The CVV comes back as plaintext JSON over TLS (no payload encryption).
    """

    kind: ClassVar[str] = "thredd"
    label: ClassVar[str] = "Thredd Cards API"
    default_base_url: ClassVar[str] = UAT_BASE_URL
    refused_credentials: ClassVar[str] = "the client id and secret"
    credentials_advice: ClassVar[str] = (
        "check both, and the token URL option, are those Thredd issued for this environment"
    )
    reference_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "public_token",
            "Public token",
            pattern=PUBLIC_TOKEN_PATTERN,
            help_text="The card's 9-digit Thredd publicToken, as returned by Create Card.",
        ),
    )
    secret_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "client_id",
            "Client ID",
            kind="text",
            help_text="OAuth2 client id from your Thredd Implementation Manager "
            "(environment-specific).",
        ),
        FieldSpec(
            "client_secret",
            "Client secret",
            kind="secret",
            help_text="OAuth2 client secret for that client id.",
        ),
    )
    option_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "token_url",
            "Token URL",
            required=False,
            help_text="OAuth2 token endpoint. Empty: the documented UAT token URL for the "
            "UAT base URL, otherwise {base URL}/connect/token. Thredd's token "
            "hosts differ per environment and production is unconfirmed: take "
            "yours from Thredd.",
        ),
        FieldSpec(
            "region",
            "Region (X-Region)",
            kind="choice",
            required=False,
            choices=("", *_REGIONS),  # "" leaves the header out
            help_text="API Hub only: 0 default, 1 EMEA, 2 APAC. Empty: header not sent.",
        ),
        FieldSpec(
            "scope",
            "Scope",
            required=False,
            help_text="OAuth2 scope to request, e.g. coreapi. Empty: the client's default.",
        ),
    )

    def __init__(self, config: BindingConfig, http: HttpDoor) -> None:
        super().__init__(config, http)
        self.base_url = config.base_url.rstrip("/")

    # ------------------------------------------------------------------ the Provider interface

    def fetch_cvv(self, *, card: CardRef, client_key: ClientKey | None = None) -> CvvResult:
        """GET /cards/{publicToken}/cvv and return the CVV as a `PlainCvv`.

        Thredd cannot encrypt to a client key, so `client_key` is ignored (the reveal service
        seals the result). Raises `CvvBlocked` when Thredd has blocked the CVV, `CardNotFound`
        for an unknown card, `ProviderAuthError` when our credentials are refused even with a
        fresh token, `ProviderBadResponse` for a result that is not Success or a CVV that is not
        3-4 digits, and the other `ProviderError`s for transport and status failures.
        """
        response = self._call("GET", self._card_path(card, "cvv"), retry_safe=True)
        if response.status != 200:
            raise _api_error(response, blocked_means=True)
        data = json_object(response.body)
        if data is None:
            raise ProviderBadResponse("CVV response is not a JSON object")
        result = data.get("resultStatus")
        # The documented success carries resultStatus "Success"; anything else is a failure.
        if result is not None and result != "Success":
            if isinstance(result, str) and "block" in result.lower():
                raise CvvBlocked("resultStatus says blocked")
            raise ProviderBadResponse("CVV resultStatus is not Success")
        return checked_cvv(data.get("cvv"))

    def check_connection(self) -> ConnectionProof:
        """Fetch a fresh token, proving the client id, secret and token URL (not the API base URL).

        The token replaces any cached one. Thredd's answers are not encrypted (plain JSON over
        TLS), so there is no key to prove; the Cards API itself is not called. Raises
        `ProviderAuthError` for refused credentials and the other `ProviderError`s for transport
        failures.
        """
        token, lifetime = self._fetch_token()
        token_cache.put(self._cache_key(), token, lifetime)
        return ConnectionProof(
            proved="Thredd's token endpoint accepted the client id and secret",
            unproved="the Cards API itself was not called, so its base URL was not checked "
            "(Thredd's answers are not encrypted: there is no decryption to check)",
        )

    @classmethod
    def validate_secrets(
        cls, secrets: Mapping[str, bytes | str], options: Mapping[str, Any]
    ) -> dict[str, str]:
        """Check both credentials are present and the options are well formed.

        Returns field name -> error message; never echoes a secret.
        """
        errors: dict[str, str] = {}
        for name in ("client_id", "client_secret"):
            value = secrets.get(name)
            if not value or not value.strip():
                errors[name] = "This credential is required."
        token_url = str(options.get("token_url") or "")
        if token_url:
            parts = urlsplit(token_url)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                errors["token_url"] = "Enter an absolute https:// URL."  # noqa: S105
        region = options.get("region")
        if region not in (None, "", *_REGIONS):
            errors["region"] = "Choose 0, 1 or 2, or leave empty."
        return errors

    # ------------------------------------------------------------------ CVV status

    def cvv_status(self, *, card: CardRef) -> str:
        """GET /cards/{publicToken}/cvv/status and return "Blocked" or "Unblocked".

        Raises `CardNotFound`, `ProviderAuthError`, `ProviderBadResponse` for any other status
        value, and the other `ProviderError`s for transport and status failures.
        """
        response = self._call("GET", self._card_path(card, "cvv/status"), retry_safe=True)
        if response.status != 200:
            raise _api_error(response, blocked_means=False)
        data = json_object(response.body)
        status = data.get("status") if data is not None else None
        if status not in CVV_STATUSES:
            raise ProviderBadResponse("CVV status is neither Blocked nor Unblocked")
        return str(status)

    def unblock_cvv(self, *, card: CardRef, description: str, updated_by: str) -> None:
        """PUT /cards/{publicToken}/cvv/status with status Unblocked, expecting 204.

        `description` (the reason, at most 800 characters) and `updated_by` (who, at most 100)
        are recorded by Thredd. An `IdempotencyKey` makes the call safe to retry; a replay
        answered 200 counts as success. Raises ValueError for over-long arguments (a caller bug),
        `CardNotFound`, `ProviderAuthError`, and the other `ProviderError`s.
        """
        if len(description) > MAX_DESCRIPTION_LENGTH:
            raise ValueError(f"description is over {MAX_DESCRIPTION_LENGTH} characters")
        if len(updated_by) > MAX_UPDATED_BY_LENGTH:
            raise ValueError(f"updated_by is over {MAX_UPDATED_BY_LENGTH} characters")
        body = json.dumps(
            {"status": "Unblocked", "description": description, "updatedBy": updated_by},
            separators=(",", ":"),
        ).encode()
        # One key for this unblock, reused if we resend after a 401, so Thredd sees one operation.
        headers = {"Content-Type": "application/json", "IdempotencyKey": str(uuid.uuid4())}
        response = self._call(
            "PUT", self._card_path(card, "cvv/status"), body=body, headers=headers, retry_safe=True
        )
        if response.status not in (200, 204):
            raise _api_error(response, blocked_means=False)

    # ------------------------------------------------------------------ card lock

    supports_card_lock: ClassVar[bool] = True

    def lock_card(self, *, card: CardRef, reason: str) -> None:
        """PUT /cards/{publicToken}/status with cardStatusCode 59 (Suspected fraud), expecting 200.

        `reason` is sent as the `description` (cut to 1000 characters); `updatedBy` says the
        cardholder reported it through us. An `IdempotencyKey` makes the call safe to resend.
        Raises `CardNotFound`, `ProviderAuthError`, `ProviderBadResponse` when the answer shows
        another status, and the other `ProviderError`s.
        """
        body = json.dumps(
            {
                "cardStatusCode": LOCK_STATUS_CODE,
                "description": reason[:MAX_STATUS_TEXT_LENGTH],
                "updatedBy": LOCKED_BY,
            },
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "IdempotencyKey": str(uuid.uuid4())}
        response = self._call(
            "PUT", self._card_path(card, "status"), body=body, headers=headers, retry_safe=True
        )
        if response.status != 200:
            raise _api_error(response, blocked_means=False)
        data = json_object(response.body)
        if data is None:
            raise ProviderBadResponse("card status response is not a JSON object")
        # Documented as an integer-typed two-character code: 59 or "59" both mean it took.
        code = data.get("cardStatusCode")
        if isinstance(code, bool) or not isinstance(code, int | str):
            raise ProviderBadResponse("card status response has no cardStatusCode")
        if str(code).zfill(2) != LOCK_STATUS_CODE:
            raise ProviderBadResponse("card status after the lock is not 59")

    # ------------------------------------------------------------------ plumbing

    def _card_path(self, card: CardRef, tail: str) -> str:
        public_token = card.reference.get("public_token", "")
        # Checked here too, since it goes into the URL path and must not change its meaning.
        if not _PUBLIC_TOKEN_RE.fullmatch(public_token):
            raise ProviderConfigError("card reference public_token is not 9 digits")
        return f"{self.base_url}/cards/{public_token}/{tail}"

    def _call(
        self,
        method: str,
        url: str,
        *,
        retry_safe: bool,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Call the Cards API with the cached bearer token; on a 401, fetch a new token once and
        send the same request again. Returns the last response, whatever its status."""
        key = self._cache_key()
        token = token_cache.get(key, self._fetch_token)
        response = self._send(method, url, token, body, headers, retry_safe)
        if response.status == 401:
            token_cache.discard(key, token)
            token = token_cache.get(key, self._fetch_token)
            response = self._send(method, url, token, body, headers, retry_safe)
            if response.status == 401:
                # Refused too: the next call starts with a new token rather than this one.
                token_cache.discard(key, token)
        return response

    def _send(
        self,
        method: str,
        url: str,
        token: Sensitive[str],
        body: bytes | None,
        headers: Mapping[str, str] | None,
        retry_safe: bool,
    ) -> HttpResponse:
        merged = {"Accept": "application/json", **(headers or {})}
        region = self.config.options.get("region")
        if region not in (None, ""):
            if region not in _REGIONS:
                raise ProviderConfigError("region option must be 0, 1 or 2")
            merged["X-Region"] = str(region)
        merged["Authorization"] = "Bearer " + token.reveal()
        return self.http.request(method, url, headers=merged, body=body, retry_safe=retry_safe)

    def _cache_key(self) -> tuple[str, ...]:
        return (self.config.key, self.token_url, self.config.secret_text("client_id"))

    @property
    def token_url(self) -> str:
        """The token endpoint: the `token_url` option, else derived from the base URL."""
        configured = str(self.config.options.get("token_url") or "").strip()
        if configured:
            return configured
        host = urlsplit(self.base_url).hostname or ""
        return _KNOWN_TOKEN_URLS.get(host, f"{self.base_url}/connect/token")

    def _fetch_token(self) -> tuple[Sensitive[str], float]:
        """POST the client credentials to the token endpoint; return (token, lifetime seconds).

        Raises `ProviderConfigError` when a credential is missing or the endpoint is not there,
        `ProviderAuthError` when the credentials are refused, `ProviderBadResponse` for a reply
        that is not a usable bearer token, and the transport `ProviderError`s.
        """
        client_id = self.config.secret_text("client_id")
        if not client_id or not self.config.secret_text("client_secret"):
            raise ProviderConfigError("client_id and client_secret are required")
        form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", self.config.secret_text("client_secret")),
        ]
        scope = str(self.config.options.get("scope") or "").strip()
        if scope:
            form.append(("scope", scope))
        # Asking for a token twice is harmless, so a connect failure may be retried.
        response = self.http.request(
            "POST",
            self.token_url,
            body=urlencode(form).encode(),
            retry_safe=True,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        if response.status != 200:
            raise _token_error(response)
        data = json_object(response.body)
        if data is None:
            raise ProviderBadResponse("token response is not a JSON object")
        access_token = data.get("access_token")
        if (
            not isinstance(access_token, str)
            or len(access_token) > _MAX_TOKEN_CHARS
            or not _BEARER_TOKEN_RE.fullmatch(access_token)
        ):
            raise ProviderBadResponse("token response has no usable access_token")
        token_type = data.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise ProviderBadResponse("token response is not a bearer token")
        return Sensitive(access_token), _lifetime(data.get("expires_in"))


def _lifetime(raw: object) -> float:
    """expires_in as seconds; a missing one gets a short default, a bad one is a bad response."""
    if raw is None:
        return _DEFAULT_TOKEN_LIFETIME_SECONDS
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    # `not raw > 0` also refuses NaN.
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not raw > 0:
        raise ProviderBadResponse("token response has an unusable expires_in")
    return min(float(raw), _MAX_TOKEN_LIFETIME_SECONDS)


def _token_error(response: HttpResponse) -> ProviderError:
    """Map a failed token request: refused credentials are ours to fix, a missing endpoint is a
    configuration error (not an unknown card), the rest as usual."""
    status = response.status
    data = json_object(response.body)
    raw_code = data.get("error") if data is not None else None
    code = raw_code if isinstance(raw_code, str) and raw_code in _OAUTH_ERRORS else ""
    detail = f"token endpoint HTTP {status}"
    if status in (400, 401, 403):
        return ProviderAuthError(detail, provider_code=code)
    if status == 429:
        return ProviderRateLimited(detail, retry_after=response.retry_after or 5)
    if 500 <= status <= 599:
        return ProviderServerError(detail)
    return ProviderConfigError(f"{detail}; check the token_url option")
