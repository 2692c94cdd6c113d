"""A binding's secrets in their stored form: key files as base64 text, handed back to providers as
bytes; the rest as given."""

from __future__ import annotations

import base64

from cardreveal.cards.bindings import decoded_secrets, encoded_secrets


def test_a_key_file_is_stored_as_base64_text_and_handed_back_as_bytes():
    key_file = b"\x30\x82\x01\x00 a PKCS#12 file"
    stored = encoded_secrets("mastercard", {"signing_key_p12": key_file, "consumer_key": "ck-1"})
    assert stored == {
        "signing_key_p12": base64.b64encode(key_file).decode("ascii"),
        "consumer_key": "ck-1",
    }
    assert decoded_secrets("mastercard", stored) == {
        "signing_key_p12": key_file,
        "consumer_key": "ck-1",
    }


def test_a_key_file_given_as_text_is_stored_as_base64_of_its_bytes():
    stored = encoded_secrets(
        "mastercard", {"encryption_certificate": "-----BEGIN CERTIFICATE-----"}
    )
    assert decoded_secrets("mastercard", stored) == {
        "encryption_certificate": b"-----BEGIN CERTIFICATE-----"
    }
