"""The server-side seal: only the viewer's private key opens it, tampering is detected, and weak or
malformed client keys are refused with a clear message."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cardreveal.cards.sealing import SEALED_SCHEME, ClientKeyError, parse_client_key, seal
from providers.base import PlainCvv, ProviderSealedCvv
from providers.jose import JoseError, b64url_decode, b64url_encode, jwe_decrypt, jwe_header
from providers.sensitive import Sensitive
from tests.conftest import make_client_key


def sealed_for(key_pair, cvv: str = "4821") -> str:
    scheme, token = seal(PlainCvv(Sensitive(cvv)), parse_client_key(key_pair.public_b64))
    assert scheme == SEALED_SCHEME
    return token


def test_seal_opens_with_the_matching_private_key_only(client_key):
    token = sealed_for(client_key)
    assert json.loads(jwe_decrypt(token, client_key.private_key)) == {"cvv": "4821"}
    assert jwe_header(token)["alg"] == "RSA-OAEP-256"
    assert jwe_header(token)["enc"] == "A256GCM"
    assert "4821" not in token
    other = make_client_key()
    with pytest.raises(JoseError):
        jwe_decrypt(token, other.private_key)


def test_each_seal_is_fresh(client_key):
    assert sealed_for(client_key) != sealed_for(client_key)


@pytest.mark.parametrize("part", [0, 1, 2, 3, 4], ids=["header", "key", "iv", "ciphertext", "tag"])
def test_tampering_with_any_part_of_the_seal_fails(client_key, part):
    parts = sealed_for(client_key).split(".")
    raw = bytearray(b64url_decode(parts[part]))
    raw[len(raw) // 2] ^= 0x01
    parts[part] = b64url_encode(bytes(raw))
    with pytest.raises((JoseError, ValueError)):
        jwe_decrypt(".".join(parts), client_key.private_key)


def test_provider_sealed_answer_passes_through_untouched(client_key):
    answer = ProviderSealedCvv(ciphertext="AB" * 256, scheme="rsa-oaep-256-hex")
    assert seal(answer, parse_client_key(client_key.public_b64)) == ("rsa-oaep-256-hex", "AB" * 256)


def test_pem_and_base64_der_keys_are_both_read(client_key):
    pem = client_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert parse_client_key(pem.decode()).der() == base64.b64decode(client_key.public_b64)


def _even_exponent_spki() -> str:
    """A 2048-bit SPKI whose exponent was edited from 65537 to 65538 (no library makes one)."""
    der = base64.b64decode(make_client_key().public_b64)
    assert der.endswith(b"\x02\x03\x01\x00\x01")
    return base64.b64encode(der[:-1] + b"\x02").decode()


def _ec_spki() -> str:
    der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


@pytest.mark.parametrize(
    ("make_text", "message"),
    [
        (lambda: "", "A public key is required"),
        (lambda: "not base64!", "could not be read"),
        (lambda: base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), "could not be read"),
        (lambda: make_client_key(1024).public_b64, "1024 bits; it must be 2048-4096"),
        # OpenSSL itself may refuse to load it; either way it is refused before any use.
        (_even_exponent_spki, "exponent must be odd|could not be read"),
        (_ec_spki, "must be an RSA key"),
        (lambda: "A" * 2001, "too long"),
    ],
    ids=["missing", "garbage", "bad-der", "1024-bit", "even-exponent", "ec-key", "too-long"],
)
def test_weak_or_malformed_client_keys_are_refused_with_a_clear_message(make_text, message):
    with pytest.raises(ClientKeyError, match=message):
        parse_client_key(make_text())
