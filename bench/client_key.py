"""A viewer's device key for a reveal, as the bench's clients make it."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def client_key() -> tuple[rsa.RSAPrivateKey, str]:
    """A new RSA-2048 key pair: the private key, which opens the sealed answer, and the public key
    as a reveal sends it (`public_key`: base64 of its DER SubjectPublicKeyInfo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, base64.b64encode(der).decode()
