"""Thredd Cards API: the CVV, its Blocked/Unblocked status and unblocking, with OAuth2 tokens."""

from __future__ import annotations

import ipaddress
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
from providers.client_assertion import (
    ALGORITHMS,
    ASSERTION_TYPE,
    SigningKeyError,
    check_key_fits,
    client_assertion,
    load_signing_key,
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

# The UAT pair shown in Thredd's Cards API docs [confirmed]. Thredd's token hosts are not its API
# hosts, and no other pair is published (production, the newer api.uat.threddpay.com and API Hub
# hosts, the Secure Connectivity Framework's token endpoint): a binding on any other host names
# its token URL, rather than have one guessed from the base URL.
UAT_BASE_URL = "https://cardsapi-uat-pub.globalprocessing.net/api/v1"
UAT_TOKEN_URL = "https://oauthuat.globalprocessing.net/connect/token"  # noqa: S105 (a URL)
DOCUMENTED_TOKEN_URLS = {"cardsapi-uat-pub.globalprocessing.net": UAT_TOKEN_URL}
# The local sandbox serves its token endpoint beside its API, at this path.
SANDBOX_TOKEN_PATH = "/connect/token"  # noqa: S105 (a path)

# Client authentication at the token endpoint: the client secret in the form (the Cards API's
# documented method [confirmed]), or a client assertion signed with the key of the signing
# certificate from Thredd's Secure Connectivity Framework (private_key_jwt, RFC 7523 [confirmed
# that Thredd uses it; its algorithm and claims beyond RFC 7523 are unconfirmed]).
CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 (a method name)
PRIVATE_KEY_JWT = "private_key_jwt"
CLIENT_AUTH_METHODS = (CLIENT_SECRET_POST, PRIVATE_KEY_JWT)
# FAPI, which Thredd's framework follows, allows PS256 and ES256; Thredd does not say which it
# expects [unconfirmed].
DEFAULT_ASSERTION_ALGORITHM = "PS256"

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

    Auth is OAuth2 client credentials, the client authenticated by its secret
    (`client_secret_post`, the default) or by a client assertion signed with its signing key
    (`private_key_jwt`), optionally over mutual TLS with Thredd's transport certificate. The
    bearer token is cached in memory per binding and client id until shortly before it expires,
    and fetched again exactly once when the API answers 401. The CVV comes back as plaintext JSON
    over TLS (no payload encryption).
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
            help_text="OAuth2 client id from your Thredd Implementation Manager or Thredd Portal "
            "(environment-specific).",
        ),
        FieldSpec(
            "client_secret",
            "Client secret",
            kind="secret",
            required=False,
            help_text="OAuth2 client secret for that client id. Needed with client secret "
            "authentication only.",
        ),
        FieldSpec(
            "signing_key",
            "Signing key (PEM or .p12)",
            kind="file",
            required=False,
            help_text="Private key of the Signing Certificate registered with Thredd (RSA, or EC "
            "P-256 for ES256). Needed with private_key_jwt authentication only.",
        ),
        FieldSpec(
            "signing_key_password",
            "Signing key password",
            kind="secret",
            required=False,
            help_text="Only when the signing key file is encrypted (a .p12 usually is).",
        ),
        FieldSpec(
            "signing_key_id",
            "Signing key ID (kid)",
            kind="text",
            required=False,
            help_text="The Signing Certificate's Key ID (KID) from Thredd's certificate "
            "authority, sent as the client assertion's kid. Empty: no kid is sent.",
        ),
    )
    option_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "client_auth",
            "Client authentication",
            kind="choice",
            required=False,
            choices=CLIENT_AUTH_METHODS,
            default=CLIENT_SECRET_POST,
            help_text="How the token endpoint authenticates this client: client_secret_post "
            "sends the client secret (the Cards API's documented method); private_key_jwt "
            "sends a short-lived client assertion signed with the signing key (Thredd's Secure "
            "Connectivity Framework, which issues the signing certificate).",
        ),
        FieldSpec(
            "assertion_algorithm",
            "Client assertion algorithm",
            kind="choice",
            required=False,
            choices=ALGORITHMS,
            default=DEFAULT_ASSERTION_ALGORITHM,
            help_text="private_key_jwt only: PS256 or RS256 with an RSA signing key, ES256 with "
            "an EC P-256 key. Thredd does not publish which it expects: confirm with Thredd.",
        ),
        FieldSpec(
            "mtls",
            "Mutual TLS (transport certificate)",
            kind="bool",
            required=False,
            default=False,
            help_text="On: every call to Thredd (token and API) presents the binding's TLS "
            "client certificate, which must be the Transport Certificate Thredd issued "
            "(upload it and its key under TLS below). Thredd's mTLS hosts refuse connections "
            "without it.",
        ),
        FieldSpec(
            "token_url",
            "Token URL",
            required=False,
            help_text="OAuth2 token endpoint; Thredd's token hosts are not its API hosts. Empty "
            "only with the UAT Cards API base URL (then Thredd's documented UAT token URL, "
            f"{UAT_TOKEN_URL}) and client secret authentication; otherwise take it from "
            "Thredd for this environment.",
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
        """Fetch a fresh token, proving the client id, its secret or signed client assertion, the
        token URL and (with mTLS) the transport certificate, but not the API base URL.

        The token replaces any cached one. Thredd's answers are not encrypted (plain JSON over
        TLS), so there is no key to prove; the Cards API itself is not called. Raises
        `ProviderAuthError` for refused credentials, `ProviderConfigError` for an unusable
        configuration or an address that is not a token endpoint, and the other
        `ProviderError`s for transport failures.
        """
        token, lifetime = self._fetch_token()
        token_cache.put(self._cache_key(), token, lifetime)
        if self._client_auth() == PRIVATE_KEY_JWT:
            proved = (
                "Thredd's token endpoint accepted the client id and its signed client assertion"
            )
        else:
            proved = "Thredd's token endpoint accepted the client id and secret"
        if self.config.options.get("mtls"):
            proved += " over mutual TLS"
        return ConnectionProof(
            proved=proved,
            unproved="the Cards API itself was not called, so its base URL was not checked "
            "(Thredd's answers are not encrypted: there is no decryption to check)",
        )

    def refusal_words(self) -> tuple[str, str]:
        """The admin's words for refused credentials: the secret, or the client assertion."""
        if self._client_auth() != PRIVATE_KEY_JWT:
            return self.refused_credentials, self.credentials_advice
        return (
            "the client assertion signed with the binding's signing key",
            "check the client id, the signing key and its key ID are those registered with "
            "Thredd for this environment, the assertion algorithm is the one Thredd expects, "
            "the Token URL is the endpoint the assertion is addressed to, and this server's "
            "clock is right",
        )

    @classmethod
    def validate_secrets(
        cls, secrets: Mapping[str, bytes | str], options: Mapping[str, Any]
    ) -> dict[str, str]:
        """Check the credentials the chosen client authentication needs are present and usable
        (the signing key loads and fits the algorithm), the binding's TLS client certificate is
        there when mTLS is on, and the options are well formed.

        Returns field name -> error message; never echoes a secret.
        """
        errors: dict[str, str] = {}
        if not _text(secrets.get("client_id")):
            errors["client_id"] = "This credential is required."
        method = options.get("client_auth") or CLIENT_SECRET_POST
        if method not in CLIENT_AUTH_METHODS:
            errors["client_auth"] = f"Choose {' or '.join(CLIENT_AUTH_METHODS)}."
        elif method == CLIENT_SECRET_POST and not _text(secrets.get("client_secret")):
            errors["client_secret"] = "Required with client_secret_post authentication."  # noqa: S105
        elif method == PRIVATE_KEY_JWT:
            problem = _signing_key_problem(
                secrets.get("signing_key"),
                _text(secrets.get("signing_key_password")),
                str(options.get("assertion_algorithm") or DEFAULT_ASSERTION_ALGORITHM),
            )
            if problem:
                errors["signing_key"] = problem
        if options.get("mtls") and not (
            secrets.get("tls_client_certificate") and secrets.get("tls_client_key")
        ):
            errors["tls_client_certificate"] = (
                "Mutual TLS is on: upload Thredd's Transport Certificate here and its key below, "
                "or turn Mutual TLS off."
            )
        token_url = str(options.get("token_url") or "").strip()
        if token_url:
            parts = urlsplit(token_url)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                errors["token_url"] = "Enter an absolute https:// URL."  # noqa: S105
        region = options.get("region")
        if region not in (None, "", *_REGIONS):
            errors["region"] = "Choose 0, 1 or 2, or leave empty."
        return errors

    @classmethod
    def validate_endpoints(cls, *, base_url: str, options: Mapping[str, Any]) -> dict[str, str]:
        """Require the Token URL wherever Thredd publishes no token endpoint for the base URL."""
        try:
            resolve_token_url(base_url=base_url, options=options)
        except ProviderConfigError as exc:
            return {"token_url": exc.detail}
        return {}

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
        """The token endpoint (see `resolve_token_url`). Raises ProviderConfigError when the
        binding must name it and does not."""
        return resolve_token_url(base_url=self.base_url, options=self.config.options)

    def _client_auth(self) -> str:
        return str(self.config.options.get("client_auth") or CLIENT_SECRET_POST)

    def _client_authentication(self, client_id: str, token_url: str) -> list[tuple[str, str]]:
        """The token request's client authentication fields, for the binding's method.

        Raises ProviderConfigError for an unknown method, a missing secret, or a signing key
        that does not load or fit the algorithm.
        """
        method = self._client_auth()
        if method == CLIENT_SECRET_POST:
            secret = self.config.secret_text("client_secret")
            if not secret:
                raise ProviderConfigError("client_secret is required for client_secret_post")
            return [("client_id", client_id), ("client_secret", secret)]
        if method != PRIVATE_KEY_JWT:
            raise ProviderConfigError(
                "client_auth option must be client_secret_post or private_key_jwt"
            )
        algorithm = str(
            self.config.options.get("assertion_algorithm") or DEFAULT_ASSERTION_ALGORITHM
        )
        pem = self.config.secret_bytes("signing_key")
        if not pem:
            raise ProviderConfigError("signing_key is required for private_key_jwt")
        try:
            key = load_signing_key(pem, self.config.secret_text("signing_key_password"))
            assertion = client_assertion(
                client_id=client_id,
                audience=token_url,
                key=key,
                algorithm=algorithm,
                key_id=self.config.secret_text("signing_key_id").strip(),
            )
        except SigningKeyError as exc:
            raise ProviderConfigError(f"signing key: {exc}") from None
        return [
            ("client_id", client_id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ]

    def _fetch_token(self) -> tuple[Sensitive[str], float]:
        """POST the client credentials to the token endpoint; return (token, lifetime seconds).

        Raises `ProviderConfigError` when a credential is missing, mTLS is on without a client
        certificate, or the address is not a token endpoint; `ProviderAuthError` when the
        credentials are refused, `ProviderBadResponse` for a reply
        that is not a usable bearer token, and the transport `ProviderError`s.
        """
        client_id = self.config.secret_text("client_id")
        if not client_id:
            raise ProviderConfigError("client_id is required")
        if self.config.options.get("mtls") and not self.http.presents_client_certificate:
            raise ProviderConfigError(
                "mutual TLS is on but the binding has no TLS client certificate and key: upload "
                "Thredd's Transport Certificate and its key"
            )
        token_url = self.token_url
        form = [("grant_type", "client_credentials")]
        form += self._client_authentication(client_id, token_url)
        scope = str(self.config.options.get("scope") or "").strip()
        if scope:
            form.append(("scope", scope))
        # Asking for a token twice is harmless, so a connect failure may be retried.
        response = self.http.request(
            "POST",
            token_url,
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
    """Map a failed token request. An OAuth2 error (RFC 6749 5.2, 400 or 401) means the token
    endpoint refused our client: credentials to fix. A 401 without one, or a 404, comes from
    something that is not a token endpoint (a Cards API host answers 401 to a request without a
    token): the Token URL to fix, and the error says "token endpoint" so it is not read as a
    refused secret. The rest as usual."""
    status = response.status
    data = json_object(response.body)
    raw_code = data.get("error") if data is not None else None
    code = raw_code if isinstance(raw_code, str) and raw_code in _OAUTH_ERRORS else ""
    detail = f"token endpoint HTTP {status}"
    if status in (400, 401) and code:
        return ProviderAuthError(detail, provider_code=code)
    if status in (401, 404):
        return ProviderConfigError(
            f"the token endpoint answered HTTP {status}"
            + (" without an OAuth error" if status == 401 else " (not found)")
            + ": the Token URL does not look like Thredd's token endpoint; check the Token URL "
            "option (Thredd's token hosts are not its API hosts)"
        )
    if status in (400, 403):
        return ProviderAuthError(detail, provider_code=code)
    if status == 429:
        return ProviderRateLimited(detail, retry_after=response.retry_after or 5)
    if 500 <= status <= 599:
        return ProviderServerError(detail)
    return ProviderConfigError(
        f"the token endpoint answered HTTP {status}; check the Token URL option"
    )


def resolve_token_url(*, base_url: str, options: Mapping[str, Any]) -> str:
    """The token endpoint of a binding: its `token_url` option; else, with client secret
    authentication, the token URL Thredd documents for the base URL's host (UAT only); else, for
    the local sandbox on loopback, its own token path beside the API.

    Never derived from any other base URL (Thredd's token hosts are not its API hosts): raises
    ProviderConfigError saying the Token URL is needed.
    """
    configured = str(options.get("token_url") or "").strip()
    if configured:
        return configured
    base = base_url.rstrip("/")
    host = urlsplit(base).hostname or ""
    if _is_loopback(host):
        return base + SANDBOX_TOKEN_PATH
    if str(options.get("client_auth") or CLIENT_SECRET_POST) == PRIVATE_KEY_JWT:
        raise ProviderConfigError(
            "enter the Token URL: Thredd publishes no token endpoint for private_key_jwt client "
            "assertions (take it from Thredd with the signing certificate)"
        )
    documented = DOCUMENTED_TOKEN_URLS.get(host)
    if documented:
        return documented
    raise ProviderConfigError(
        "enter the Token URL: Thredd's token hosts are not its API hosts, and Thredd publishes "
        f"one only for the UAT Cards API ({UAT_TOKEN_URL}); take the one for this environment "
        "from Thredd"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return (value or "").strip()


def _signing_key_problem(pem: bytes | str | None, password: str, algorithm: str) -> str:
    """What is wrong with the signing key for `algorithm`, in the admin's words ('' if nothing)."""
    if not pem:
        return "Required with private_key_jwt authentication: upload the signing key."
    raw = pem.encode() if isinstance(pem, str) else pem
    try:
        check_key_fits(load_signing_key(raw, password), algorithm)
    except SigningKeyError as exc:
        return str(exc)
    return ""
