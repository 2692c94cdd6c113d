"""Client keys and sealing: the CVV leaves our process only encrypted to the viewer's device key."""

from __future__ import annotations

import base64
import binascii
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from providers.base import ClientKey, PlainCvv, ProviderSealedCvv
from providers.jose import jwe_encrypt

MIN_CLIENT_KEY_BITS = 2048
MAX_CLIENT_KEY_BITS = 4096
MAX_CLIENT_KEY_CHARS = 2000
SEALED_SCHEME = "jwe-rsa-oaep-256-a256gcm"


class ClientKeyError(ValueError):
    """The client's public key is missing, malformed or too weak; the message says which."""


def parse_client_key(text: str | None) -> ClientKey:
    """Parse the viewer's public key: base64 DER SubjectPublicKeyInfo, or PEM.

    Raises ClientKeyError unless it is RSA of 2048-4096 bits with an odd exponent of at least 3.
    """
    text = (text or "").strip()
    if not text:
        raise ClientKeyError("A public key is required to receive the security code.")
    if len(text) > MAX_CLIENT_KEY_CHARS:
        raise ClientKeyError("The public key is too long; send an RSA key of 2048-4096 bits.")
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        raise ClientKeyError(
            "The public key could not be read; send base64 DER SubjectPublicKeyInfo or PEM."
        ) from None
    if not isinstance(key, RSAPublicKey):
        raise ClientKeyError("The public key must be an RSA key.")
    bits = key.key_size
    if bits < MIN_CLIENT_KEY_BITS or bits > MAX_CLIENT_KEY_BITS:
        raise ClientKeyError(
            f"The public key is {bits} bits; it must be {MIN_CLIENT_KEY_BITS}-{MAX_CLIENT_KEY_BITS}."
        )
    exponent = key.public_numbers().e
    if exponent < 3 or exponent % 2 == 0:
        raise ClientKeyError("The public key's exponent must be odd and at least 3.")
    return ClientKey(key)


def seal(result: PlainCvv | ProviderSealedCvv, client_key: ClientKey) -> tuple[str, str]:
    """Return (scheme, ciphertext) for the client. Plain CVVs become a JWE to the client key.

    The JWE plaintext is the JSON object {"cvv": "<digits>"}.
    """
    if isinstance(result, ProviderSealedCvv):
        return result.scheme, result.ciphertext
    payload = json.dumps({"cvv": result.value.reveal()}).encode()
    return SEALED_SCHEME, jwe_encrypt(payload, client_key.public_key, cty="application/json")
