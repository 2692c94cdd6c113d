"""JWE (RSA-OAEP-256) as providers/jose.py implements it: round trips, tampering, hand-built tokens."""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.jose import (
    JWE_JSON_MEMBERS,
    JoseError,
    b64url_decode,
    b64url_encode,
    jwe_compact_from_json,
    jwe_decrypt,
    jwe_encrypt,
    jwe_header,
    key_fingerprint,
    looks_like_jwe,
)

OAEP_256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _hand_built(
    public_key: rsa.RSAPublicKey,
    header: dict[str, str],
    cek: bytes,
    iv: bytes,
    ciphertext: bytes,
    tag: bytes,
) -> tuple[str, str]:
    """A compact JWE assembled segment by segment; returns (token, encoded header)."""
    header_b64 = b64url_encode(json.dumps(header).encode())
    wrapped = public_key.encrypt(cek, OAEP_256)
    token = ".".join(
        [
            header_b64,
            b64url_encode(wrapped),
            b64url_encode(iv),
            b64url_encode(ciphertext),
            b64url_encode(tag),
        ]
    )
    return token, header_b64


def _replace_segment(token: str, index: int, segment: str) -> str:
    parts = token.split(".")
    parts[index] = segment
    return ".".join(parts)


def _flip_first_byte(segment: str) -> str:
    raw = bytearray(b64url_decode(segment))
    raw[0] ^= 0x01
    return b64url_encode(bytes(raw))


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("iv_size", [12, 16])
def test_round_trip(key: rsa.RSAPrivateKey, iv_size: int) -> None:
    token = jwe_encrypt(b'{"cardVerificationCode":"347"}', key.public_key(), iv_size=iv_size)
    assert len(b64url_decode(token.split(".")[2])) == iv_size
    assert jwe_decrypt(token, key) == b'{"cardVerificationCode":"347"}'


def test_header_carries_alg_enc_kid_and_cty(key: rsa.RSAPrivateKey) -> None:
    kid = key_fingerprint(key.public_key())
    token = jwe_encrypt(b"x", key.public_key(), kid=kid, cty="application/json")
    assert jwe_header(token) == {
        "alg": "RSA-OAEP-256",
        "enc": "A256GCM",
        "kid": kid,
        "cty": "application/json",
    }
    assert "kid" not in jwe_header(jwe_encrypt(b"x", key.public_key()))


def test_each_encryption_uses_a_fresh_key_and_iv(key: rsa.RSAPrivateKey) -> None:
    first = jwe_encrypt(b"same", key.public_key()).split(".")
    second = jwe_encrypt(b"same", key.public_key()).split(".")
    assert first[1] != second[1]
    assert first[2] != second[2]
    assert first[3] != second[3]


def test_iv_size_other_than_12_or_16_is_refused(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="iv_size"):
        jwe_encrypt(b"x", key.public_key(), iv_size=8)


# Module level: hypothesis runs the test many times, one key serves them all.
_PROPERTY_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@settings(max_examples=30, deadline=None)
@given(plaintext=st.binary(max_size=2048), iv_size=st.sampled_from([12, 16]))
def test_round_trip_property(plaintext: bytes, iv_size: int) -> None:
    token = jwe_encrypt(plaintext, _PROPERTY_KEY.public_key(), iv_size=iv_size)
    assert looks_like_jwe(token)
    assert jwe_decrypt(token, _PROPERTY_KEY) == plaintext


# ---------------------------------------------------------------------------- tampering


@pytest.mark.parametrize(
    ("index", "what"), [(0, "header"), (2, "iv"), (3, "ciphertext"), (4, "tag")]
)
def test_tampered_segment_is_rejected(key: rsa.RSAPrivateKey, index: int, what: str) -> None:
    token = jwe_encrypt(b'{"cardVerificationCode":"347"}', key.public_key(), kid="abc")
    parts = token.split(".")
    if what == "header":
        # A different but valid header: the AAD changes, so the tag must fail.
        tampered = _replace_segment(
            token,
            0,
            b64url_encode(
                json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "abd"}).encode()
            ),
        )
    else:
        tampered = _replace_segment(token, index, _flip_first_byte(parts[index]))
    with pytest.raises(JoseError, match="authentication failed"):
        jwe_decrypt(tampered, key)


def test_wrapped_key_from_another_key_is_rejected(
    key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    token = jwe_encrypt(b"secret", other_key.public_key())
    with pytest.raises(JoseError, match="could not be unwrapped"):
        jwe_decrypt(token, key)


def test_truncated_tag_is_rejected(key: rsa.RSAPrivateKey) -> None:
    token = jwe_encrypt(b"secret", key.public_key())
    tag = b64url_decode(token.split(".")[4])
    with pytest.raises(JoseError, match="wrong length"):
        jwe_decrypt(_replace_segment(token, 4, b64url_encode(tag[:8])), key)


@pytest.mark.parametrize(
    "token",
    [
        "a.b.c.d",
        "a.b.c.d.e.f",
        "!!!.b.c.d.e",
        b64url_encode(b"[1,2]") + ".b.c.d.e",
        b64url_encode(b"not json") + ".b.c.d.e",
    ],
)
def test_malformed_token_is_rejected(key: rsa.RSAPrivateKey, token: str) -> None:
    with pytest.raises(JoseError):
        jwe_decrypt(token, key)
    assert not looks_like_jwe(token)


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RSA-OAEP", "enc": "A256GCM"},
        {"alg": "RSA1_5", "enc": "A256GCM"},
        {"alg": "dir", "enc": "A256GCM"},
        {"alg": "RSA-OAEP-256", "enc": "A256CBC-HS512"},
    ],
)
def test_unsupported_alg_or_enc_is_rejected(key: rsa.RSAPrivateKey, header: dict[str, str]) -> None:
    token, _ = _hand_built(
        key.public_key(), header, os.urandom(32), os.urandom(12), b"ct", os.urandom(16)
    )
    with pytest.raises(JoseError, match="unsupported"):
        jwe_decrypt(token, key)


def test_looks_like_jwe_only_for_five_segments_with_a_json_header(key: rsa.RSAPrivateKey) -> None:
    assert looks_like_jwe(jwe_encrypt(b"x", key.public_key()))
    assert not looks_like_jwe("347")
    assert not looks_like_jwe(None)
    assert not looks_like_jwe({"encryptedValue": "a.b.c.d.e"})


# ---------------------------------------------------------------------------- other encs


def test_decrypts_a_hand_built_a128gcm_token(key: rsa.RSAPrivateKey) -> None:
    cek, iv = os.urandom(16), os.urandom(12)
    header_b64 = b64url_encode(json.dumps({"alg": "RSA-OAEP-256", "enc": "A128GCM"}).encode())
    sealed = AESGCM(cek).encrypt(iv, b"hello", header_b64.encode())
    token = ".".join(
        [
            header_b64,
            b64url_encode(key.public_key().encrypt(cek, OAEP_256)),
            b64url_encode(iv),
            b64url_encode(sealed[:-16]),
            b64url_encode(sealed[-16:]),
        ]
    )
    assert jwe_decrypt(token, key) == b"hello"


def test_gcm_cek_of_the_wrong_size_for_enc_is_rejected(key: rsa.RSAPrivateKey) -> None:
    token, _ = _hand_built(
        key.public_key(),
        {"alg": "RSA-OAEP-256", "enc": "A256GCM"},
        os.urandom(16),
        os.urandom(12),
        b"ct",
        os.urandom(16),
    )
    with pytest.raises(JoseError, match="wrong length"):
        jwe_decrypt(token, key)


def _cbc_hs256_token(key: rsa.RSAPrivateKey, plaintext: bytes) -> str:
    """A128CBC-HS256 per RFC 7518 5.2.2.1, step by step: MAC key first half, AES key second."""
    cek, iv = os.urandom(32), os.urandom(16)
    mac_key, enc_key = cek[:16], cek[16:]
    header_b64 = b64url_encode(json.dumps({"alg": "RSA-OAEP-256", "enc": "A128CBC-HS256"}).encode())
    padder = sym_padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    aad = header_b64.encode("ascii")
    al = (len(aad) * 8).to_bytes(8, "big")
    tag = hmac.new(mac_key, aad + iv + ciphertext + al, hashlib.sha256).digest()[:16]
    return ".".join(
        [
            header_b64,
            b64url_encode(key.public_key().encrypt(cek, OAEP_256)),
            b64url_encode(iv),
            b64url_encode(ciphertext),
            b64url_encode(tag),
        ]
    )


def test_decrypts_a_hand_built_a128cbc_hs256_token(key: rsa.RSAPrivateKey) -> None:
    token = _cbc_hs256_token(key, b'{"cardVerificationCode":"347"}')
    assert jwe_decrypt(token, key) == b'{"cardVerificationCode":"347"}'


@pytest.mark.parametrize("index", [2, 3, 4])
def test_a128cbc_hs256_tampering_is_rejected_by_the_hmac(
    key: rsa.RSAPrivateKey, index: int
) -> None:
    token = _cbc_hs256_token(key, b"0123456789abcdef-more")
    tampered = _replace_segment(token, index, _flip_first_byte(token.split(".")[index]))
    with pytest.raises(JoseError, match="authentication failed"):
        jwe_decrypt(tampered, key)


# ---------------------------------------------------------------------------- helpers


def test_key_fingerprint_is_sha256_of_the_der_spki(key: rsa.RSAPrivateKey) -> None:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key_fingerprint(key.public_key()) == hashlib.sha256(der).hexdigest()
    assert len(key_fingerprint(key.public_key())) == 64


@pytest.mark.parametrize("data", [b"", b"f", b"fo", b"foo", b"\xfb\xff\xfe"])
def test_b64url_round_trip_without_padding(data: bytes) -> None:
    encoded = b64url_encode(data)
    assert "=" not in encoded
    assert "+" not in encoded
    assert "/" not in encoded
    assert b64url_decode(encoded) == data


def test_b64url_decode_rejects_garbage() -> None:
    with pytest.raises(JoseError):
        b64url_decode("a")


@pytest.mark.parametrize("form", sorted(JWE_JSON_MEMBERS))
def test_a_json_form_converts_to_the_compact_token_it_splits(
    key: rsa.RSAPrivateKey, form: str
) -> None:
    token = jwe_encrypt(b'{"cvv":"123"}', key.public_key(), kid="k1")
    document = dict(zip(JWE_JSON_MEMBERS[form], token.split("."), strict=True))
    assert jwe_compact_from_json(document) == token
    assert jwe_decrypt(jwe_compact_from_json(document), key) == b'{"cvv":"123"}'


def test_a_json_form_with_a_compact_only_header_member_missing_is_refused_by_name(
    key: rsa.RSAPrivateKey,
) -> None:
    token = jwe_encrypt(b"{}", key.public_key())
    document = dict(zip(JWE_JSON_MEMBERS["flattened"], token.split("."), strict=True))
    del document["protected"]
    with pytest.raises(JoseError, match="exactly the members protected, encrypted_key"):
        jwe_compact_from_json(document)
    # The per-recipient `header` object of RFC 7516 is not Juspay's header string.
    with pytest.raises(JoseError, match="no compact form"):
        jwe_compact_from_json({**document, "header": {"alg": "RSA-OAEP-256"}})
