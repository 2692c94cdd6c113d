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
MAX_EXPONENT_BITS = 64
SEALED_SCHEME = "jwe-rsa-oaep-256-a256gcm"


class ClientKeyError(ValueError):
    """The client's public key is missing, malformed or too weak; the message says which."""


def parse_client_key(text: str | None) -> ClientKey:
    """Parse the viewer's public key: base64 DER SubjectPublicKeyInfo, or PEM.

    Raises ClientKeyError unless it is RSA of 2048-4096 bits with an odd exponent of 3 to 2^64
    and sealing to it works: everything `seal` could trip on is found here, before a code is
    spent on a reveal.
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
    if exponent < 3 or exponent % 2 == 0 or exponent.bit_length() > MAX_EXPONENT_BITS:
        # OpenSSL refuses to encrypt to a larger exponent (over 64 bits) with a modulus over 3072.
        raise ClientKeyError(
            "The public key's exponent must be odd, at least 3 and at most 64 bits; "
            "65537 is the usual one."
        )
    client_key = ClientKey(key)
    try:  # a trial seal: anything else the crypto library would refuse, refused now
        seal_plaintext(b"{}", client_key)
    except ValueError:
        raise ClientKeyError(
            "The public key cannot be used for encryption; send a freshly made RSA-OAEP key."
        ) from None
    return client_key


def seal_plaintext(payload: bytes, client_key: ClientKey) -> str:
    """`payload` as a compact JWE (RSA-OAEP-256, A256GCM) to `client_key`."""
    return jwe_encrypt(payload, client_key.public_key, cty="application/json")


def seal(result: PlainCvv | ProviderSealedCvv, client_key: ClientKey) -> tuple[str, str]:
    """Return (scheme, ciphertext) for the client. Plain CVVs become a JWE to the client key.

    The JWE plaintext is the JSON object {"cvv": "<digits>"}.
    """
    if isinstance(result, ProviderSealedCvv):
        return result.scheme, result.ciphertext
    return SEALED_SCHEME, seal_plaintext(
        json.dumps({"cvv": result.value.reveal()}).encode(), client_key
    )
