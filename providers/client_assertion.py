"""OAuth2 `private_key_jwt` client authentication (RFC 7523 client assertions), signed with PyJWT."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The algorithms a client assertion may be signed with: RSASSA-PSS and PKCS#1 v1.5 over SHA-256
# with an RSA key, ECDSA P-256 with an EC key (FAPI allows PS256 and ES256).
ALGORITHMS = ("PS256", "RS256", "ES256")
# How long an assertion is valid: long enough for one token request, short enough that a copy is
# useless soon after (RFC 7523 leaves it to the server; a minute is the common choice).
ASSERTION_LIFETIME_SECONDS = 60
_MIN_RSA_BITS = 2048

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class SigningKeyError(ValueError):
    """The signing key does not load, or does not fit the algorithm. The message names the
    problem in the admin's words and never holds key material."""


def load_signing_key(data: bytes, password: str = "") -> SigningKey:
    """Load a private key from PEM (PKCS#8 or traditional), DER PKCS#8 or PKCS#12 (.p12, the
    key taken from it), encrypted when `password` is given.

    Raises SigningKeyError when it does not load or is neither RSA nor EC.
    """
    secret = password.encode() if password else None
    key: object
    try:
        if data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_private_key(data, secret)
        else:
            try:
                key = serialization.load_der_private_key(data, secret)
            except ValueError:
                key, _certificate, _chain = pkcs12.load_key_and_certificates(data, secret)
    except TypeError:
        raise SigningKeyError(
            "The signing key is encrypted: enter its password."
            if not password
            else "The signing key is not encrypted: leave its password empty."
        ) from None
    except ValueError:
        raise SigningKeyError(
            "The signing key is not a PEM, DER or .p12 private key, or the password does not "
            "open it."
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SigningKeyError("The signing key must be an RSA or an EC private key.")
    return key


def check_key_fits(key: SigningKey, algorithm: str) -> None:
    """Raise SigningKeyError unless `key` can sign with `algorithm` (one of ALGORITHMS)."""
    if algorithm not in ALGORITHMS:
        raise SigningKeyError(f"Choose one of {', '.join(ALGORITHMS)}.")
    if algorithm == "ES256":
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise SigningKeyError("ES256 needs an EC P-256 signing key.")
        return
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningKeyError(f"{algorithm} needs an RSA signing key; an EC key signs ES256.")
    if key.key_size < _MIN_RSA_BITS:
        raise SigningKeyError(f"The RSA signing key must be at least {_MIN_RSA_BITS} bits.")


def client_assertion(
    *,
    client_id: str,
    audience: str,
    key: SigningKey,
    algorithm: str,
    key_id: str = "",
    clock: Callable[[], float] = time.time,
) -> str:
    """A compact JWT authenticating `client_id` to the token endpoint `audience` (RFC 7523 3):
    `iss` and `sub` the client id, `aud` the endpoint, a random `jti`, issued now and expiring
    ASSERTION_LIFETIME_SECONDS later, with `kid` in the header when given.

    Raises SigningKeyError when the key does not fit the algorithm.
    """
    check_key_fits(key, algorithm)
    now = int(clock())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": secrets.token_urlsafe(24),
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECONDS,
    }
    headers = {"kid": key_id} if key_id else None
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)
