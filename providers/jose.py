"""JWE compact serialisation (RFC 7516) with RSA-OAEP-256 key wrapping, as Mastercard, Juspay and our
own client sealing use it, and the JSON forms of one JWE that convert to it. Decryption always
verifies the authentication tag.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_OAEP_SHA256 = asym_padding.OAEP(
    mgf=asym_padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)
# The five parts of one JWE in its JSON forms, in compact order: RFC 7516's flattened JSON
# serialisation, and the split form Juspay's published SDKs read and write.
JWE_JSON_MEMBERS = {
    "flattened": ("protected", "encrypted_key", "iv", "ciphertext", "tag"),
    "juspay": ("header", "encryptedKey", "iv", "encryptedPayload", "tag"),
}
# Members that would change what is authenticated (AAD, unprotected headers) or add recipients:
# such a JWE has no compact form, and nobody we talk to sends one.
_JSON_ONLY_MEMBERS = frozenset({"aad", "unprotected", "recipients"})
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+")
_GCM_KEY_BYTES = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}
_CBC_KEY_BYTES = {"A128CBC-HS256": 32}


class JoseError(ValueError):
    """A JWE could not be parsed, unwrapped or authenticated. The message never holds key or text."""


def b64url_encode(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """base64url, padding optional; raises JoseError on bad input."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JoseError("JWE segment is not base64url") from exc


def key_fingerprint(public_key: RSAPublicKey) -> str:
    """hex(SHA-256(DER SubjectPublicKeyInfo)): Mastercard's default `kid`."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def jwe_encrypt(
    plaintext: bytes,
    public_key: RSAPublicKey,
    *,
    kid: str | None = None,
    cty: str | None = None,
    iv_size: int = 12,
) -> str:
    """Encrypt `plaintext` to `public_key` as compact JWE with RSA-OAEP-256 and A256GCM.

    `iv_size` is 12 (the JOSE default) or 16 (what Mastercard's client libraries send).
    """
    if iv_size not in (12, 16):
        raise ValueError("iv_size must be 12 or 16")
    header: dict[str, Any] = {"alg": "RSA-OAEP-256", "enc": "A256GCM"}
    if kid is not None:
        header["kid"] = kid
    if cty is not None:
        header["cty"] = cty
    header_b64 = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    cek = AESGCM.generate_key(bit_length=256)
    iv = os.urandom(iv_size)
    sealed = AESGCM(cek).encrypt(iv, plaintext, header_b64.encode("ascii"))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    wrapped = public_key.encrypt(cek, _OAEP_SHA256)
    return ".".join(
        [
            header_b64,
            b64url_encode(wrapped),
            b64url_encode(iv),
            b64url_encode(ciphertext),
            b64url_encode(tag),
        ]
    )


def jwe_compact_from_json(document: Mapping[str, Any]) -> str:
    """The compact serialisation of a JWE given in a JSON form: RFC 7516's flattened JSON
    (protected, encrypted_key, iv, ciphertext, tag) or Juspay's split form (header,
    encryptedKey, iv, encryptedPayload, tag).

    Exactly one form's five members, each non-empty base64url text, and nothing else: AAD,
    unprotected headers and several recipients have no compact form and are refused. Raises
    JoseError naming what is wrong (member names only, never their values).
    """
    names = set(document)
    if names & _JSON_ONLY_MEMBERS or isinstance(document.get("header"), Mapping):
        raise JoseError(
            "JWE JSON with additional authenticated data, unprotected headers or several "
            "recipients has no compact form"
        )
    for members in JWE_JSON_MEMBERS.values():
        if names != set(members):
            continue
        parts = []
        for name in members:
            value = document[name]
            if not isinstance(value, str) or not _B64URL_RE.fullmatch(value):
                raise JoseError(f"JWE JSON member {name} is not base64url text")
            parts.append(value)
        return ".".join(parts)
    expected = " or ".join(", ".join(members) for members in JWE_JSON_MEMBERS.values())
    raise JoseError(f"JWE JSON must have exactly the members {expected}")


def jwe_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWE, without decrypting it."""
    parts = token.split(".")
    if len(parts) != 5:
        raise JoseError("not a compact JWE (expected 5 segments)")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError as exc:
        raise JoseError("JWE header is not JSON") from exc
    if not isinstance(header, dict):
        raise JoseError("JWE header is not an object")
    return header


def looks_like_jwe(value: object) -> bool:
    """True for a string shaped like a compact JWE (five dot-separated base64url segments)."""
    if not isinstance(value, str) or value.count(".") != 4:
        return False
    try:
        jwe_header(value)
    except JoseError:
        return False
    return True


def jwe_decrypt(token: str, private_key: RSAPrivateKey) -> bytes:
    """Decrypt a compact JWE (RSA-OAEP-256 with A128/192/256GCM or A128CBC-HS256).

    Raises JoseError when the token is malformed, the key does not open it, or the tag fails.
    """
    header = jwe_header(token)
    header_b64, wrapped_b64, iv_b64, ct_b64, tag_b64 = token.split(".")
    if header.get("alg") != "RSA-OAEP-256":
        raise JoseError("unsupported JWE alg")
    enc = header.get("enc")
    wrapped, iv = b64url_decode(wrapped_b64), b64url_decode(iv_b64)
    ciphertext, tag = b64url_decode(ct_b64), b64url_decode(tag_b64)
    try:
        cek = private_key.decrypt(wrapped, _OAEP_SHA256)
    except ValueError as exc:
        raise JoseError("JWE key could not be unwrapped") from exc
    aad = header_b64.encode("ascii")
    if enc in _GCM_KEY_BYTES:
        if len(cek) != _GCM_KEY_BYTES[enc] or len(iv) not in (12, 16) or len(tag) != 16:
            raise JoseError("JWE key, IV or tag has the wrong length")
        try:
            return AESGCM(cek).decrypt(iv, ciphertext + tag, aad)
        except InvalidTag as exc:
            raise JoseError("JWE authentication failed") from exc
    if enc in _CBC_KEY_BYTES:
        return _decrypt_cbc_hs256(cek, iv, ciphertext, tag, aad)
    raise JoseError("unsupported JWE enc")


def _decrypt_cbc_hs256(cek: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
    """A128CBC-HS256 (RFC 7518 5.2.3): HMAC over AAD, IV, ciphertext and AAD length, then AES-CBC."""
    if len(cek) != 32 or len(iv) != 16:
        raise JoseError("JWE key or IV has the wrong length")
    mac_key, enc_key = cek[:16], cek[16:]
    al = (len(aad) * 8).to_bytes(8, "big")
    expected = hmac.new(mac_key, aad + iv + ciphertext + al, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(expected, tag):
        raise JoseError("JWE authentication failed")
    decryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise JoseError("JWE padding is invalid") from exc
