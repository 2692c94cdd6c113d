"""Mastercard's one-legged OAuth 1.0a: RSA-SHA256 request signatures with an `oauth_body_hash`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import string
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import pkcs12

SIGNATURE_METHOD = "RSA-SHA256"
OAUTH_VERSION = "1.0"
# base64(sha256(b"")): the body hash of a request without a body.
EMPTY_BODY_HASH = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

_NONCE_ALPHABET = string.ascii_letters + string.digits
_NONCE_LENGTH = 16
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The parameters a valid header must carry (oauth_signature is checked separately).
_REQUIRED_PARAMS = (
    "oauth_consumer_key",
    "oauth_nonce",
    "oauth_timestamp",
    "oauth_signature_method",
    "oauth_version",
    "oauth_body_hash",
)


class OAuthError(ValueError):
    """An OAuth header is missing, malformed, or its signature or body hash does not verify."""


@dataclass(frozen=True)
class OAuthParams:
    """The parameters of a verified header, for the caller's own policy checks."""

    consumer_key: str
    nonce: str
    timestamp: int


def percent_encode(text: str) -> str:
    """RFC 3986 percent-encoding: only A-Z a-z 0-9 - . _ ~ stay as they are, space is %20."""
    return quote(text, safe="~")


def body_hash(body: bytes) -> str:
    """base64(SHA-256(body)) over the exact bytes sent (the Google body hash extension)."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def normalized_url(url: str) -> str:
    """Scheme, lowercased host, port only when not the scheme's default, and path; no query.

    Raises OAuthError for a URL without a scheme or host.
    """
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        raise OAuthError("URL needs a scheme and a host")
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise OAuthError("URL has an invalid port") from exc
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def query_params(url: str) -> list[tuple[str, str]]:
    """The URL's query parameters as (name, value) pairs, exactly as they appear in the URL.

    Values stay in their encoded form: the whole parameter string is encoded once later, as
    Mastercard's libraries do, so signer and verifier agree whatever the query holds.
    """
    query = urlsplit(url).query
    pairs: list[tuple[str, str]] = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((name, value))
    return pairs


def signature_base_string(
    method: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]
) -> str:
    """The signature base string: METHOD & pct(normalised URL) & pct(parameter string).

    `params` are the oauth_* parameters (never `oauth_signature`); the URL's query parameters are
    added here. The parameter string is `k=v` pairs sorted and joined with `&`, deliberately NOT
    percent-encoded per value (Mastercard's quirk), then percent-encoded as a whole.
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    pairs.extend(query_params(url))
    param_string = "&".join(f"{name}={value}" for name, value in sorted(pairs))
    return "&".join(
        [method.upper(), percent_encode(normalized_url(url)), percent_encode(param_string)]
    )


def new_nonce() -> str:
    """16 random alphanumerics, as Mastercard's libraries send."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(_NONCE_LENGTH))


def oauth_header(
    *,
    method: str,
    url: str,
    body: bytes,
    consumer_key: str,
    signing_key: RSAPrivateKey,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> str:
    """The `Authorization` header value signing this exact request.

    `body` must be the final bytes sent (after any JWE encryption). `nonce` and `timestamp` are
    generated when not given (tests pass them for known answers). Returns `OAuth k="v",...`.
    """
    params = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce if nonce is not None else new_nonce(),
        "oauth_timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "oauth_signature_method": SIGNATURE_METHOD,
        "oauth_version": OAUTH_VERSION,
        "oauth_body_hash": body_hash(body),
    }
    sbs = signature_base_string(method, url, params)
    signature = signing_key.sign(sbs.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    params["oauth_signature"] = percent_encode(base64.b64encode(signature).decode("ascii"))
    return "OAuth " + ",".join(f'{name}="{value}"' for name, value in params.items())


def parse_oauth_header(authorization: str) -> dict[str, str]:
    """The `name -> value` pairs of an `OAuth ...` header, values percent-decoded.

    Raises OAuthError when the scheme is not OAuth, a pair is malformed, or a name repeats.
    """
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != "oauth" or not rest.strip():
        raise OAuthError("not an OAuth header")
    params: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, raw = item.strip().partition("=")
        if not sep or len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
            raise OAuthError("malformed OAuth parameter")
        if name in params:
            raise OAuthError("repeated OAuth parameter")
        params[name] = unquote(raw[1:-1])
    return params


def verify_oauth_header(
    *, authorization: str, method: str, url: str, body: bytes, public_key: RSAPublicKey
) -> OAuthParams:
    """Verify a request's OAuth header as Mastercard's gateway does.

    Checks the parameters are all present, the method is RSA-SHA256 and version 1.0, the body hash
    matches `body`, and the signature verifies over the base string recomputed from `method` and
    `url` (the URL as received, query included). Timestamp windows, nonce replay and consumer key
    lookup are the caller's policy. Returns the parameters; raises OAuthError naming the failure.
    """
    params = parse_oauth_header(authorization)
    missing = [name for name in (*_REQUIRED_PARAMS, "oauth_signature") if not params.get(name)]
    if missing:
        raise OAuthError(f"missing OAuth parameter(s): {', '.join(missing)}")
    if params["oauth_signature_method"] != SIGNATURE_METHOD:
        raise OAuthError("unsupported oauth_signature_method")
    if params["oauth_version"] != OAUTH_VERSION:
        raise OAuthError("unsupported oauth_version")
    if not params["oauth_timestamp"].isdigit():
        raise OAuthError("oauth_timestamp is not a number")
    if not secrets.compare_digest(params["oauth_body_hash"], body_hash(body)):
        raise OAuthError("oauth_body_hash does not match the body")
    try:
        signature = base64.b64decode(params["oauth_signature"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OAuthError("oauth_signature is not base64") from exc
    signed = {k: v for k, v in params.items() if k != "oauth_signature"}
    sbs = signature_base_string(method, url, signed)
    try:
        public_key.verify(signature, sbs.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise OAuthError("oauth_signature does not verify") from exc
    return OAuthParams(
        consumer_key=params["oauth_consumer_key"],
        nonce=params["oauth_nonce"],
        timestamp=int(params["oauth_timestamp"]),
    )


def load_pkcs12_signing_key(data: bytes, password: str) -> RSAPrivateKey:
    """The RSA private key inside a PKCS#12 (.p12) file, such as Mastercard's signing key.

    An empty `password` opens an unprotected file. Raises ValueError with a message an admin can
    act on when the password is wrong or the file is not PKCS#12, holds no key, or a non-RSA key.
    """
    try:
        key, _cert, _extra = pkcs12.load_key_and_certificates(
            data, password.encode("utf-8") if password else None
        )
    except ValueError as exc:
        raise ValueError(
            "The .p12 file could not be opened: the password is wrong or the file is not PKCS#12."
        ) from exc
    if key is None:
        raise ValueError("The .p12 file holds no private key.")
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("The .p12 file holds a key that is not RSA.")
    return key
