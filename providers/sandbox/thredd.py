"""Thredd Cards API emulator: OAuth2 client-credentials tokens (client secret or private_key_jwt),
the CVV, its status, the card status."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from providers.client_assertion import ALGORITHMS, ASSERTION_TYPE
from providers.sandbox.core import Emulator, SandboxCard, SandboxRequest, SandboxResponse

# ASP.NET Core's default problem "type" per status, which Thredd's API answers with.
_PROBLEM_TYPES = {
    400: "https://tools.ietf.org/html/rfc7231#section-6.5.1",
    404: "https://tools.ietf.org/html/rfc7231#section-6.5.4",
    405: "https://tools.ietf.org/html/rfc7231#section-6.5.5",
    409: "https://tools.ietf.org/html/rfc7231#section-6.5.8",
    415: "https://tools.ietf.org/html/rfc7231#section-6.5.13",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
    500: "https://tools.ietf.org/html/rfc7231#section-6.6.1",
}
_TITLES = {
    404: "Not Found",
    405: "Method Not Allowed",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "An error occurred while processing your request.",
}
_VALIDATION_TITLE = "One or more validation errors occurred."

_CARD_PATH_RE = re.compile(r"^/cards/(?P<token>[^/]+)/cvv(?P<status>/status)?/?$")
_CARD_STATUS_PATH_RE = re.compile(r"^/cards/(?P<token>[^/]+)/status/?$")
# Thredd's card status codes [confirmed: cardsapidocs "Card Status Codes"]: the description the
# API answers with, and the Archived ones, which can never be changed again. Only 00 lets the
# CVV be retrieved here (how Thredd answers for the others is not published; see `_cvv`).
CARD_STATUSES = {
    "00": "Active", "02": "Inactive", "04": "Capture card", "05": "Do not honour",
    "14": "Invalid card", "41": "Lost card", "43": "Stolen card", "46": "Closed account",
    "54": "Expired card", "57": "Transaction not permitted to cardholder",
    "59": "Suspected fraud", "62": "Restricted card", "63": "Security violation",
    "70": "Cardholder to contact issuer", "75": "Allowable number of PIN tries exceeded",
    "83": "Card destroyed", "98": "Refund given to customer", "99": "Card voided",
    "G1": "Short-term block", "G2": "Short-term full block", "G3": "Long-term block",
    "G4": "Long-term full block",
}  # fmt: skip
_ARCHIVED_STATUSES = frozenset({"43", "54", "83", "99"})
_PUBLIC_TOKEN_RE = re.compile(r"^[0-9]{9}$")
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_EXPIRED_CHALLENGE = 'Bearer error="invalid_token", error_description="The token expired"'
_SCOPES = frozenset({"coreapi", "claimsapi", "ctslite", "dalapi", "mdesrttapi", "relayapi"})
# Thredd keeps an idempotency key for one hour after first use [confirmed].
IDEMPOTENCY_TTL_SECONDS = 3600.0
# Client assertions (RFC 7523): the longest lifetime taken, and the clock skew allowed on exp and
# iat. Thredd's own limits are not published; these are common authorization-server values.
MAX_ASSERTION_LIFETIME_SECONDS = 300
ASSERTION_CLOCK_SKEW_SECONDS = 30
_REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti"]


@dataclass
class _Token:
    client_id: str
    expires_at: float


@dataclass
class _Replay:
    fingerprint: str
    response: SandboxResponse
    expires_at: float


class ThreddEmulator(Emulator):
    """Answers like the Thredd Cards API and its token server, under /thredd.

    Routes: POST /connect/token (form client credentials), GET /cards/{publicToken}/cvv,
    GET and PUT /cards/{publicToken}/cvv/status, GET and PUT /cards/{publicToken}/status (the
    card status: a card that is not 00, active, has its CVV refused). A blocked CVV is refused
    with 409 problem details titled "CVV is blocked" (the real signal is unconfirmed; the
    provider matches on it).
    The token endpoint takes the client secret (`client_secret_post`) or a client assertion
    (`private_key_jwt`, RFC 7523) signed with the registered signing key: its signature,
    `iss` = `sub` = the client id, `aud` = this token endpoint's URL, `exp`, a sane `iat` and a
    `jti` never seen before are all checked, and a refusal is 401 `invalid_client` with a
    description. Mutual TLS is the server's (`providers.sandbox.tls.server_tls_context` with
    `require_client_certs_from`): without a client certificate there is no connection.
    Card behaviours: "ok", "cvv_blocked", "unauthorized", "rate_limited", "server_error", "slow",
    "malformed". Tests may set `token_lifetime`, `slow_delay`, `clock` and `wall_clock`, call
    `expire_tokens()`, and register another signing key with `register_signing_key`.
    """

    kind: ClassVar[str] = "thredd"
    token_lifetime: int = 3600
    # The "slow" card answers after twice this many seconds (capped at 6), past the tests' read
    # timeout; tests shorten it on the instance.
    slow_delay: float = 2.0
    rate_limit_retry_after = 7

    def __init__(self, state_dir: Path | None = None) -> None:
        super().__init__(state_dir)
        self.clock: Callable[[], float] = time.monotonic
        # Client assertions carry epoch times, so they are checked against the wall clock.
        self.wall_clock: Callable[[], float] = time.time
        credentials = json.loads(self.load_or_create("credentials.json", _new_credentials))
        self.client_id: str = credentials["client_id"]
        self._client_secret: str = credentials["client_secret"]
        self.signing_key_id: str = credentials.get("signing_key_id") or "sandbox-signing-key"
        # The client's signing key (its side), and the public half registered here (Thredd's).
        self._client_signing_key_pem = self.load_or_create(
            "client-signing-key.pem", _new_signing_key
        )
        self.register_signing_key(self._client_signing_key_pem)
        self._seen_jtis: dict[str, float] = {}
        self._lock = threading.Lock()
        self._idempotency_lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._cvv_status: dict[str, str] = {}
        self._card_status: dict[str, str] = {}
        self._replays: dict[tuple[str, str], _Replay] = {}
        self.token_requests = 0

    # ------------------------------------------------------------------ Emulator interface

    def seed_cards(self) -> list[SandboxCard]:
        """Two happy cards (the documented sample token 103169946 -> 955) and one per fault."""

        def fault(public_token: str, cvv: str, behaviour: str, label: str) -> SandboxCard:
            return SandboxCard(
                {"public_token": public_token}, cvv, 5, 2029,
                label=f"Thredd fault: {label}", last4=public_token[-4:], behaviour=behaviour,
            )  # fmt: skip

        return [
            SandboxCard(
                {"public_token": "103169946"}, "955", 2, 2030,
                label="Thredd demo card", brand="visa", last4="0134",
            ),
            SandboxCard(
                {"public_token": "111191022"}, "318", 11, 2028,
                label="Thredd travel card", brand="mastercard", last4="3644",
            ),
            fault("900000423", "761", "cvv_blocked", "CVV blocked"),
            fault("900000401", "284", "unauthorized", "401"),
            fault("900000429", "539", "rate_limited", "429"),
            fault("900000500", "917", "server_error", "500"),
            fault("900000504", "346", "slow", "slow answer"),
            fault("900000502", "628", "malformed", "malformed body"),
        ]  # fmt: skip

    def binding_secrets(self) -> dict[str, str | bytes]:
        """The client id, its secret, and its signing key and key id (for private_key_jwt)."""
        return {
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "signing_key": self._client_signing_key_pem,
            "signing_key_id": self.signing_key_id,
        }

    def binding_options(self) -> dict[str, Any]:
        """No options: with `token_url` unset the provider calls the sandbox's token endpoint
        beside its API (only on loopback; a real Thredd binding names its token URL)."""
        return {}

    def register_signing_key(self, pem: bytes) -> None:
        """Take `pem` (a public key, a certificate, or a private key whose public half is meant)
        as the key client assertions must be signed with, replacing the one before."""
        key: Any
        if b"CERTIFICATE" in pem:
            key = x509.load_pem_x509_certificate(pem).public_key()
        elif b"PRIVATE KEY" in pem:
            key = serialization.load_pem_private_key(pem, None).public_key()
        else:
            key = serialization.load_pem_public_key(pem)
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise ValueError("the signing key must be RSA or EC")
        self._signing_public_key = key  # one assignment: requests see the old key or the new

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Dispatch to the token endpoint or the card CVV routes."""
        if request.path.rstrip("/") == "/connect/token":
            if request.method != "POST":
                return SandboxResponse(405, headers={"Allow": "POST"})
            return self._issue_token(request)
        card_status = _CARD_STATUS_PATH_RE.match(request.path)
        match = card_status or _CARD_PATH_RE.match(request.path)
        if match is None:
            return _problem(404)
        allowed = ("GET", "PUT") if card_status or match["status"] else ("GET",)
        if request.method not in allowed:
            return _problem(405, headers={"Allow": ", ".join(allowed)})
        client_id, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        region = request.header("X-Region")
        if region and region not in ("0", "1", "2"):
            return _validation_problem({"X-Region": ["The X-Region header must be 0, 1 or 2."]})
        public_token = match["token"]
        if not _PUBLIC_TOKEN_RE.match(public_token):
            return _validation_problem({"publicToken": ["The publicToken must be 9 digits."]})
        card = self.find_card(public_token=public_token)
        if card is None:
            return _problem(404, detail="Card not found.")
        fault = self._fault(card)
        if fault is not None:
            return fault
        if card_status:
            if request.method == "GET":
                return SandboxResponse.json(200, self._status_answer(card))
            return self._idempotent(
                request, client_id, lambda: self._set_card_status(request, card)
            )
        if not match["status"]:
            return self._cvv(card)
        if request.method == "GET":
            return SandboxResponse.json(200, {"status": self.cvv_status_of(card)})
        return self._idempotent(request, client_id, lambda: self._set_status(request, card))

    # ------------------------------------------------------------------ test helpers

    def expire_tokens(self) -> None:
        """Make every token issued so far expired, as if its lifetime had passed."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = self.clock() - 1

    def cvv_status_of(self, card: SandboxCard) -> str:
        """The card's CVV status: "Blocked" or "Unblocked"."""
        with self._lock:
            default = "Blocked" if card.behaviour == "cvv_blocked" else "Unblocked"
            return self._cvv_status.get(card.reference["public_token"], default)

    def card_status_of(self, card: SandboxCard) -> str:
        """The card's two-character status code; "00" (active) until changed."""
        with self._lock:
            return self._card_status.get(card.reference["public_token"], "00")

    # ------------------------------------------------------------------ token server

    def _issue_token(self, request: SandboxRequest) -> SandboxResponse:
        content_type = request.header("Content-Type").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _oauth_error("invalid_request")
        try:
            form = parse_qs(
                request.body.decode("ascii"),
                keep_blank_values=True,
                strict_parsing=bool(request.body),
            )
        except (UnicodeDecodeError, ValueError):
            return _oauth_error("invalid_request")
        if any(len(values) != 1 for values in form.values()):
            return _oauth_error("invalid_request")
        fields = {name: values[0] for name, values in form.items()}
        if fields.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type")
        if "client_assertion" in fields or "client_assertion_type" in fields:
            refusal = self._check_client_assertion(fields, _endpoint_url(request.url))
            if refusal is not None:
                return refusal
        else:
            id_ok = hmac.compare_digest(
                fields.get("client_id", "").encode(), self.client_id.encode()
            )
            secret_ok = hmac.compare_digest(
                fields.get("client_secret", "").encode(), self._client_secret.encode()
            )
            if not (id_ok and secret_ok):
                return _oauth_error("invalid_client")
        scope = fields.get("scope", "coreapi") or "coreapi"
        if not set(scope.split()) <= _SCOPES:
            return _oauth_error("invalid_scope")
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self.token_requests += 1
            now = self.clock()
            self._tokens = {k: v for k, v in self._tokens.items() if v.expires_at > now}
            self._tokens[access_token] = _Token(self.client_id, now + self.token_lifetime)
        return SandboxResponse.json(
            200,
            {
                "access_token": access_token,
                "expires_in": self.token_lifetime,
                "token_type": "Bearer",
                "scope": scope,
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _check_client_assertion(
        self, fields: dict[str, str], endpoint: str
    ) -> SandboxResponse | None:
        """Authenticate the client by its assertion (RFC 7523 3), or say why not: None when it
        is signed with the registered key, names this client as `iss` and `sub` and this
        endpoint as `aud`, has not expired, was issued recently and not in the future, and its
        `jti` was never used before (it is then spent)."""
        if "client_secret" in fields:
            return _oauth_error("invalid_request", "Use one client authentication method.")
        if fields.get("client_assertion_type") != ASSERTION_TYPE:
            return _client_refusal("The client_assertion_type is not supported.")
        now = self.wall_clock()
        try:
            claims = _decode_assertion(
                fields.get("client_assertion", ""), self._signing_public_key, endpoint
            )
        except jwt.InvalidAudienceError:
            return _client_refusal("The client assertion's audience is not this token endpoint.")
        except jwt.MissingRequiredClaimError as exc:
            return _client_refusal(f"The client assertion has no {exc.claim} claim.")
        except jwt.InvalidSignatureError:
            return _client_refusal("The client assertion's signature does not verify.")
        except jwt.PyJWTError:  # malformed, another algorithm, or a key that does not fit it
            return _client_refusal("The client assertion is not a valid signed JWT.")
        client_id = fields.get("client_id", claims["iss"])
        if not (claims["iss"] == claims["sub"] == client_id == self.client_id):
            return _client_refusal("The client assertion's iss and sub are not this client.")
        exp, iat = claims["exp"], claims["iat"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat)):
            return _client_refusal("The client assertion's exp and iat must be numbers.")
        if exp <= now - ASSERTION_CLOCK_SKEW_SECONDS:
            return _client_refusal("The client assertion has expired.")
        if iat > now + ASSERTION_CLOCK_SKEW_SECONDS:
            return _client_refusal("The client assertion was issued in the future.")
        if exp - iat > MAX_ASSERTION_LIFETIME_SECONDS or now - iat > MAX_ASSERTION_LIFETIME_SECONDS:
            return _client_refusal(
                "The client assertion lives too long, or was issued too long ago."
            )
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            return _client_refusal("The client assertion's jti must be a string.")
        with self._lock:
            self._seen_jtis = {k: v for k, v in self._seen_jtis.items() if v > now}
            if jti in self._seen_jtis:
                return _client_refusal("The client assertion's jti was already used.")
            # Kept until it could no longer pass the expiry check anyway.
            self._seen_jtis[jti] = float(exp) + ASSERTION_CLOCK_SKEW_SECONDS
        return None

    def _authenticate(self, request: SandboxRequest) -> tuple[str, SandboxResponse | None]:
        """The client id behind the bearer token, or a 401 the way ASP.NET's JwtBearer sends it:
        no body, the reason in WWW-Authenticate."""
        scheme, _, value = request.header("Authorization").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return "", SandboxResponse(401, headers={"WWW-Authenticate": "Bearer"})
        with self._lock:
            token = self._tokens.get(value.strip())
            now = self.clock()
        if token is None:
            return "", SandboxResponse(
                401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        if token.expires_at <= now:
            return "", SandboxResponse(
                401,
                headers={"WWW-Authenticate": _EXPIRED_CHALLENGE},
            )
        return token.client_id, None

    # ------------------------------------------------------------------ card routes

    def _fault(self, card: SandboxCard) -> SandboxResponse | None:
        if card.behaviour == "unauthorized":
            return SandboxResponse(
                401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        if card.behaviour == "rate_limited":
            return _problem(429, headers={"Retry-After": str(self.rate_limit_retry_after)})
        if card.behaviour == "server_error":
            return _problem(500)
        if card.behaviour == "slow":
            time.sleep(min(2 * self.slow_delay, 6.0))
        if card.behaviour == "malformed":
            return SandboxResponse(200, b'{"cvv":"', {"Content-Type": "application/json"})
        return None

    def _cvv(self, card: SandboxCard) -> SandboxResponse:
        status = self.card_status_of(card)
        if status != "00":
            # Thredd does not publish its answer for a card that is not active; this is the
            # emulator's: a conflict that names the status and not the CVV.
            return _problem(
                409,
                title="Card status does not allow this operation",
                detail=f"The card status is {status} ({CARD_STATUSES[status]}).",
            )
        if self.cvv_status_of(card) == "Blocked":
            return _problem(
                409,
                title="CVV is blocked",
                detail="The CVV of this card is blocked after the maximum number of attempts. "
                "Unblock it before retrieving it.",
            )
        return SandboxResponse.json(200, {"cvv": card.cvv, "resultStatus": "Success"})

    def _set_status(self, request: SandboxRequest, card: SandboxCard) -> SandboxResponse:
        body = _json_object(request)
        if isinstance(body, SandboxResponse):
            return body
        errors: dict[str, list[str]] = {}
        if body.get("status") not in ("Blocked", "Unblocked"):
            errors["status"] = ["The status must be Blocked or Unblocked."]
        for name, limit in (("description", 800), ("updatedBy", 100)):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                errors[name] = [f"The field {name} must be a string of at most {limit} characters."]
        if errors:
            return _validation_problem(errors)
        with self._lock:
            self._cvv_status[card.reference["public_token"]] = body["status"]
        return SandboxResponse(204)

    def _status_answer(self, card: SandboxCard, **fields: str) -> dict[str, Any]:
        code = self.card_status_of(card)
        return {"status": CARD_STATUSES[code], "cardStatusCode": code, **fields}

    def _set_card_status(self, request: SandboxRequest, card: SandboxCard) -> SandboxResponse:
        """Update Card Status: `cardStatusCode` (or the `status` description), with optional
        `description` and `updatedBy` of at most 1000 characters; 200 with the new status."""
        body = _json_object(request)
        if isinstance(body, SandboxResponse):
            return body
        errors: dict[str, list[str]] = {}
        code = body.get("cardStatusCode")
        if code is None and isinstance(body.get("status"), str):
            by_name = {name.lower(): key for key, name in CARD_STATUSES.items()}
            code = by_name.get(body["status"].strip().lower())
        if isinstance(code, int) and not isinstance(code, bool):
            code = f"{code:02d}"
        if code not in CARD_STATUSES:
            errors["cardStatusCode"] = ["The cardStatusCode is not a valid card status code."]
        for name in ("description", "updatedBy"):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > 1000):
                errors[name] = [f"The field {name} must be a string of at most 1000 characters."]
        if errors:
            return _validation_problem(errors)
        public_token = card.reference["public_token"]
        with self._lock:
            if self._card_status.get(public_token, "00") in _ARCHIVED_STATUSES:
                return _validation_problem(
                    {"cardStatusCode": ["The card is archived: its status cannot be changed."]}
                )
            self._card_status[public_token] = str(code)
        return SandboxResponse.json(
            200,
            self._status_answer(
                card,
                updated=time.strftime("%d-%m-%Y", time.gmtime()),
                updatedBy=str(body.get("updatedBy") or ""),
                description=str(body.get("description") or ""),
            ),
        )

    def _idempotent(
        self, request: SandboxRequest, client_id: str, operate: Callable[[], SandboxResponse]
    ) -> SandboxResponse:
        """Run `operate` once per IdempotencyKey: a replay gets the stored answer, the same key on
        a different request gets Thredd's documented 400."""
        key = request.header("IdempotencyKey")
        if not key:
            return operate()
        if not _GUID_RE.match(key):
            return _validation_problem({"IdempotencyKey": ["The IdempotencyKey must be a GUID."]})
        fingerprint = hashlib.sha256(
            b"\n".join([request.method.encode(), request.path.encode(), request.body])
        ).hexdigest()
        # Held across the operation so two concurrent requests with one key run it once.
        with self._idempotency_lock:
            now = self.clock()
            self._replays = {k: v for k, v in self._replays.items() if v.expires_at > now}
            stored = self._replays.get((client_id, key))
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return _validation_problem(
                        {
                            "IdempotencyKey": [
                                f"The Idempotency header key value '{key}' was used in a different "
                                "request."
                            ]
                        }
                    )
                return stored.response
            response = operate()
            # Only answers that changed something are kept; a rejected request may be resent.
            if response.status < 400:
                self._replays[(client_id, key)] = _Replay(
                    fingerprint, response, now + IDEMPOTENCY_TTL_SECONDS
                )
            return response


def _new_credentials() -> bytes:
    return json.dumps(
        {
            "client_id": f"sandbox-{uuid.uuid4()}",
            "client_secret": secrets.token_urlsafe(32),
            "signing_key_id": f"sandbox-{secrets.token_hex(8)}",
        }
    ).encode()


def _new_signing_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _decode_assertion(assertion: str, key: Any, endpoint: str) -> dict[str, Any]:
    """The assertion's claims once its signature (one of ALGORITHMS, never `none` or HMAC), its
    audience and the presence of every required claim are verified. Its times are left to the
    caller's clock. Raises jwt.InvalidTokenError subclasses."""
    claims: dict[str, Any] = jwt.decode(
        assertion,
        key,
        algorithms=list(ALGORITHMS),
        audience=endpoint,
        options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
    )
    return claims


def _endpoint_url(url: str) -> str:
    """The URL a client called, without its query: the audience its assertion must name."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _client_refusal(description: str) -> SandboxResponse:
    # A client that authenticated and failed is refused with 401 (RFC 6749 5.2).
    return SandboxResponse.json(
        401,
        {"error": "invalid_client", "error_description": description},
        {"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _trace_id() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def _problem(
    status: int, *, title: str = "", detail: str = "", headers: dict[str, str] | None = None
) -> SandboxResponse:
    payload: dict[str, Any] = {
        "type": _PROBLEM_TYPES.get(status, "about:blank"),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
    }
    if detail:
        payload["detail"] = detail
    payload["traceId"] = _trace_id()
    return SandboxResponse.json(
        status, payload, {"Content-Type": "application/problem+json", **(headers or {})}
    )


def _validation_problem(errors: dict[str, list[str]]) -> SandboxResponse:
    return SandboxResponse.json(
        400,
        {
            "type": _PROBLEM_TYPES[400],
            "title": _VALIDATION_TITLE,
            "status": 400,
            "traceId": _trace_id(),
            "errors": errors,
        },
        {"Content-Type": "application/problem+json"},
    )


def _oauth_error(code: str, description: str = "") -> SandboxResponse:
    # IdentityServer answers every client-secret token-request failure, bad client included,
    # with 400.
    payload = {"error": code, **({"error_description": description} if description else {})}
    return SandboxResponse.json(400, payload, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def _json_object(request: SandboxRequest) -> dict[str, Any] | SandboxResponse:
    """The request's JSON object body, or the problem answer Thredd gives for a body it cannot
    take (415 for another content type, 400 with field errors for bad JSON or a non-object)."""
    content_type = request.header("Content-Type").split(";")[0].strip().lower()
    if content_type not in ("application/json", "text/json", "application/*+json"):
        return _problem(415)
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _validation_problem({"$": ["The request body is not valid JSON."]})
    if not isinstance(body, dict):
        return _validation_problem({"$": ["The request body must be a JSON object."]})
    return body
