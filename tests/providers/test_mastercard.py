"""The Mastercard Processing Core provider: contract, wire shape, JWE, client-key sealing, admin
validation, and end to end against the emulator over real HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from providers.base import BindingConfig, CardRef, ClientKey, PlainCvv, ProviderSealedCvv
from providers.errors import (
    CardDetailsMismatch,
    CardNotFound,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from providers.http import HttpDoor, HttpPolicy
from providers.jose import b64url_decode, jwe_decrypt, jwe_encrypt, jwe_header, key_fingerprint
from providers.mastercard import CLIENT_KEY_PADDINGS, MastercardProvider
from providers.oauth1 import oauth_header, verify_oauth_header
from providers.sandbox.mastercard import MastercardEmulator
from providers.sandbox.server import RunningSandbox, start_sandbox
from providers.sensitive import Sensitive
from tests.providers.contract import (
    BASE_URL,
    BODY_MARKER,
    ContractHarness,
    CvvCall,
    ProviderContract,
    door,
)

CARD = CardRef(reference={"card_contract_id": "70001"}, expiry_month=4, expiry_year=2030)
SEARCH_URL = f"{BASE_URL}/cards/70001/card-verification-codes/searches"
# The padding under test is Mastercard's choice, not ours: SHA-1 here only mirrors an option.
SHA1 = hashes.SHA1()  # noqa: S303
OAEP_256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
# Mastercard's documented sandbox answer for a mismatched expiry, verbatim.
INVALID_EXPIRY_BODY = {
    "Errors": {
        "Error": [
            {
                "Source": "MASTERCARD PROCESSING",
                "ReasonCode": "INVALID_EXPIRY_DATE",
                "Description": "Expiry date 2101 does not match for the card contract with id 70001.",
                "Recoverable": False,
            }
        ]
    }
}


@pytest.fixture(scope="module")
def keys() -> MastercardEmulator:
    """An in-memory emulator: the source of a consistent set of keys for the unit tests."""
    return MastercardEmulator()


@pytest.fixture(scope="module")
def client_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _config(
    keys: MastercardEmulator,
    base_url: str = BASE_URL,
    *,
    secrets: dict[str, str | bytes] | None = None,
    **options: Any,
) -> BindingConfig:
    raw = {**keys.binding_secrets(), **(secrets or {})}
    return BindingConfig(
        key="mastercard-test",
        base_url=base_url,
        secrets={name: Sensitive(value) for name, value in raw.items()},
        options={**keys.binding_options(), **options},
    )


def _provider(
    keys: MastercardEmulator, http: HttpDoor | None = None, **kwargs: Any
) -> MastercardProvider:
    return MastercardProvider(_config(keys, **kwargs), http or door())


def _encrypted(
    keys: MastercardEmulator, payload: dict[str, Any], field: str = "encryptedValue"
) -> bytes:
    """A body as Mastercard sends it in encryption mode: the payload as JWE to our key."""
    token = jwe_encrypt(
        json.dumps(payload).encode(), keys.response_public_key, cty="application/json", iv_size=16
    )
    return json.dumps({field: token}).encode()


def _mastercard_side_decrypt(
    keys: MastercardEmulator, body: bytes, field: str = "encryptedValue"
) -> dict[str, Any]:
    token = json.loads(body)[field]
    return json.loads(jwe_decrypt(token, keys.mastercard_encryption_key))  # type: ignore[no-any-return]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# ---------------------------------------------------------------------------- the contract


def _sealed_hex(public_key: rsa.RSAPublicKey, cvv: str, chosen: padding.AsymmetricPadding) -> str:
    return public_key.encrypt(cvv.encode(), chosen).hex().upper()


_PADDINGS = {
    "oaep-sha256": OAEP_256,
    "oaep-sha1": padding.OAEP(mgf=padding.MGF1(SHA1), algorithm=SHA1, label=None),
}


class _Harness(ContractHarness):
    """A binding with payload encryption on or off and, when `pass_through` names a padding,
    Mastercard encrypting the CVC to the viewer's key with it."""

    def __init__(self, keys: MastercardEmulator, *, encrypt: bool, pass_through: str = "") -> None:
        self.keys = keys
        self.encrypt = encrypt
        self.pass_through = pass_through
        self.card = CARD

    def binding_secrets(self) -> dict[str, str | bytes]:
        return self.keys.binding_secrets()

    def binding_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {**self.keys.binding_options(), "encrypt_payloads": self.encrypt}
        if self.pass_through:
            options.update(pass_client_key=True, client_key_padding=self.pass_through)
        return options

    def make_provider(self, base_url: str, http: HttpDoor) -> MastercardProvider:
        return MastercardProvider(_config(self.keys, base_url, **self.binding_options()), http)

    def cvv_call(self, base_url: str) -> CvvCall:
        return CvvCall("POST", f"{base_url}/cards/70001/card-verification-codes/searches")

    def _body(self, payload: dict[str, Any]) -> bytes:
        return _encrypted(self.keys, payload) if self.encrypt else json.dumps(payload).encode()

    def success_body(self, cvv: str) -> bytes:
        return self._body({"cardVerificationCode": cvv})

    def path_check_body(self, cvv: str) -> bytes:
        if not self.pass_through:
            return self.success_body(cvv)
        # Sealed to the check's throwaway key, which nobody holds: any one block will do.
        return self._body({"encryptedCardVerificationCode": os.urandom(256).hex().upper()})

    def sealed_success_body(self, cvv: str, client_key: rsa.RSAPublicKey) -> bytes | None:
        if not self.pass_through:
            return None
        sealed = _sealed_hex(client_key, cvv, _PADDINGS[self.pass_through])
        return self._body({"encryptedCardVerificationCode": sealed})

    def success_body_to_another_key(self, cvv: str) -> bytes | None:
        if not self.encrypt:
            return None
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        token = jwe_encrypt(
            json.dumps({"cardVerificationCode": cvv}).encode(), other, cty="application/json"
        )
        return json.dumps({"encryptedValue": token}).encode()


class TestMastercardContract(ProviderContract):
    @pytest.fixture(
        params=[
            (False, ""),
            (True, ""),
            (True, "oaep-sha256"),
            (True, "oaep-sha1"),
            (False, "oaep-sha1"),
        ],
        ids=["plaintext", "jwe", "jwe-pass-through-sha256", "jwe-pass-through-sha1", "sha1-plain"],
    )
    def harness(self, request: pytest.FixtureRequest, keys: MastercardEmulator) -> _Harness:
        encrypt, pass_through = request.param
        return _Harness(keys, encrypt=encrypt, pass_through=pass_through)


# ---------------------------------------------------------------------------- the request on the wire


def test_plaintext_request_shape_and_signature(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    rsps.post(SEARCH_URL, json={"cardVerificationCode": "347"})
    result = _provider(keys, encrypt_payloads=False).fetch_cvv(card=CARD)
    assert isinstance(result, PlainCvv)
    assert result.value.reveal() == "347"
    sent = rsps.calls[0].request
    assert sent.url == SEARCH_URL
    assert sent.body == b'{"cardExpiryDate":"3004"}'
    assert sent.headers["Content-Type"] == "application/json;charset=utf-8"
    assert str(uuid.UUID(sent.headers["Idempotency-Key"])) == sent.headers["Idempotency-Key"]
    assert "Customer-Public-Rsa-Key" not in sent.headers
    params = verify_oauth_header(
        authorization=sent.headers["Authorization"],
        method="POST",
        url=SEARCH_URL,
        body=sent.body,
        public_key=keys.signing_public_key,
    )
    assert params.consumer_key == keys.consumer_key


def test_encrypted_request_is_a_jwe_of_the_payload_signed_as_sent(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    rsps.post(SEARCH_URL, body=_encrypted(keys, {"cardVerificationCode": "347"}))
    result = _provider(keys, encrypt_payloads=True).fetch_cvv(card=CARD)
    assert isinstance(result, PlainCvv)
    assert result.value.reveal() == "347"
    sent = rsps.calls[0].request
    assert list(json.loads(sent.body)) == ["encryptedValue"]
    token = json.loads(sent.body)["encryptedValue"]
    assert jwe_header(token) == {
        "alg": "RSA-OAEP-256",
        "enc": "A256GCM",
        "kid": key_fingerprint(keys.mastercard_encryption_key.public_key()),
        "cty": "application/json",
    }
    assert len(b64url_decode(token.split(".")[2])) == 16
    assert _mastercard_side_decrypt(keys, sent.body) == {"cardExpiryDate": "3004"}
    # The signature covers the encrypted bytes actually sent.
    verify_oauth_header(
        authorization=sent.headers["Authorization"],
        method="POST",
        url=SEARCH_URL,
        body=sent.body,
        public_key=keys.signing_public_key,
    )


def test_encryption_options_field_iv_and_explicit_kid(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    rsps.post(
        SEARCH_URL, body=_encrypted(keys, {"cardVerificationCode": "347"}, field="encryptedData")
    )
    provider = _provider(
        keys,
        encrypted_value_field="encryptedData",
        jwe_iv_size="12",
        encryption_key_fingerprint="AB" * 32,
    )
    assert provider.fetch_cvv(card=CARD).value.reveal() == "347"  # type: ignore[union-attr]
    token = json.loads(rsps.calls[0].request.body)["encryptedData"]
    assert jwe_header(token)["kid"] == "ab" * 32
    assert len(b64url_decode(token.split(".")[2])) == 12


@pytest.mark.parametrize("field", ["encryptedValue", "encryptedData", "somethingElse"])
def test_response_jwe_is_found_in_any_known_or_single_field(
    keys: MastercardEmulator, rsps: responses.RequestsMock, field: str
) -> None:
    rsps.post(SEARCH_URL, body=_encrypted(keys, {"cardVerificationCode": "582"}, field=field))
    assert _provider(keys).fetch_cvv(card=CARD).value.reveal() == "582"  # type: ignore[union-attr]


def test_response_encrypted_to_another_key_is_a_bad_response(
    keys: MastercardEmulator, rsps: responses.RequestsMock, client_rsa: rsa.RSAPrivateKey
) -> None:
    token = jwe_encrypt(b'{"cardVerificationCode":"347"}', client_rsa.public_key())
    rsps.post(SEARCH_URL, json={"encryptedValue": token})
    with pytest.raises(ProviderBadResponse, match="could not be decrypted"):
        _provider(keys).fetch_cvv(card=CARD)


def test_decrypted_response_that_is_not_an_object_is_a_bad_response(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    token = jwe_encrypt(b'["347"]', keys.response_public_key)
    rsps.post(SEARCH_URL, json={"encryptedValue": token})
    with pytest.raises(ProviderBadResponse):
        _provider(keys).fetch_cvv(card=CARD)


def test_without_idempotency_key_a_connect_failure_is_not_retried(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    rsps.post(SEARCH_URL, body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(ProviderUnavailable):
        _provider(keys, door(connect_retries=1), send_idempotency_key=False).fetch_cvv(card=CARD)
    assert len(rsps.calls) == 1
    assert "Idempotency-Key" not in rsps.calls[0].request.headers


def test_with_idempotency_key_a_connect_failure_is_retried_with_the_same_key(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    rsps.post(SEARCH_URL, body=requests.exceptions.ConnectionError("refused"))
    rsps.post(SEARCH_URL, body=_encrypted(keys, {"cardVerificationCode": "347"}))
    result = _provider(keys, door(connect_retries=1)).fetch_cvv(card=CARD)
    assert result.value.reveal() == "347"  # type: ignore[union-attr]
    first, second = (call.request.headers for call in rsps.calls)
    assert first["Idempotency-Key"] == second["Idempotency-Key"]


@pytest.mark.parametrize(
    "reference",
    [
        {},
        {"card_contract_id": ""},
        {"card_contract_id": "70001/../x"},
        {"card_contract_id": "7000a"},
    ],
)
def test_bad_card_reference_is_a_config_error_without_a_call(
    keys: MastercardEmulator, rsps: responses.RequestsMock, reference: dict[str, str]
) -> None:
    card = CardRef(reference=reference, expiry_month=4, expiry_year=2030)
    with pytest.raises(ProviderConfigError):
        _provider(keys).fetch_cvv(card=card)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    ("secrets", "options"),
    [
        ({"consumer_key": ""}, {}),
        ({"signing_key_p12": b""}, {}),
        ({"signing_key_password": "not-the-password"}, {}),
        ({"encryption_certificate": b"garbage"}, {}),
        ({"decryption_key_password": "not-the-password"}, {}),
        ({}, {"jwe_iv_size": "8"}),
        ({}, {"encrypt_payloads": "perhaps"}),
    ],
)
def test_misconfigured_binding_is_a_config_error_that_names_no_secret(
    keys: MastercardEmulator,
    rsps: responses.RequestsMock,
    secrets: dict[str, Any],
    options: dict[str, Any],
) -> None:
    rsps.post(SEARCH_URL, body=_encrypted(keys, {"cardVerificationCode": "347"}))
    with pytest.raises(ProviderConfigError) as info:
        _provider(keys, secrets=secrets, **options).fetch_cvv(card=CARD)
    text = f"{info.value} {info.value!r} {info.value.__cause__!r}"
    assert keys.signing_password not in text
    assert keys.consumer_key not in text
    assert "not-the-password" not in text


# ---------------------------------------------------------------------------- errors


def test_invalid_expiry_date_is_card_details_mismatch(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    rsps.post(SEARCH_URL, status=404, json=INVALID_EXPIRY_BODY)
    with pytest.raises(CardDetailsMismatch) as info:
        _provider(keys).fetch_cvv(card=CARD)
    assert info.value.provider_code == "INVALID_EXPIRY_DATE"
    assert "does not match" not in repr(vars(info.value))


def test_camel_case_envelope_is_understood(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    rsps.post(
        SEARCH_URL,
        status=404,
        json={
            "errors": {
                "error": [
                    {
                        "source": "MASTERCARD PROCESSING",
                        "reasonCode": "INVALID_EXPIRY_DATE",
                        "description": BODY_MARKER,
                        "recoverable": False,
                    }
                ]
            }
        },
    )
    with pytest.raises(CardDetailsMismatch):
        _provider(keys).fetch_cvv(card=CARD)


def test_other_404_is_card_not_found_with_the_reason_code(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    rsps.post(
        SEARCH_URL,
        status=404,
        json={
            "Errors": {
                "Error": {
                    "Source": "MASTERCARD PROCESSING",
                    "ReasonCode": "CARD_CONTRACT_NOT_FOUND",
                    "Description": BODY_MARKER,
                }
            }
        },
    )
    with pytest.raises(CardNotFound) as info:
        _provider(keys).fetch_cvv(card=CARD)
    assert info.value.provider_code == "CARD_CONTRACT_NOT_FOUND"
    assert BODY_MARKER not in repr(vars(info.value))


def test_reason_code_that_is_not_an_identifier_is_dropped(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    rsps.post(
        SEARCH_URL,
        status=404,
        json={"Errors": {"Error": [{"ReasonCode": f"<script>{BODY_MARKER} 347</script>"}]}},
    )
    with pytest.raises(CardNotFound) as info:
        _provider(keys).fetch_cvv(card=CARD)
    assert info.value.provider_code == ""


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (400, ProviderBadResponse),
        (500, ProviderServerError),
        (502, ProviderServerError),
    ],
)
def test_status_mapping(
    keys: MastercardEmulator, rsps: responses.RequestsMock, status: int, error: type[Exception]
) -> None:
    rsps.post(
        SEARCH_URL,
        status=status,
        json={
            "Errors": {
                "Error": [
                    {"Source": "Gateway", "ReasonCode": "SOMETHING", "Description": BODY_MARKER}
                ]
            }
        },
    )
    with pytest.raises(error):
        _provider(keys).fetch_cvv(card=CARD)


def test_429_passes_on_retry_after(keys: MastercardEmulator, rsps: responses.RequestsMock) -> None:
    rsps.post(
        SEARCH_URL,
        status=429,
        headers={"Retry-After": "7"},
        json={"Errors": {"Error": [{"ReasonCode": "TOO_MANY_REQUESTS"}]}},
    )
    with pytest.raises(ProviderRateLimited) as info:
        _provider(keys).fetch_cvv(card=CARD)
    assert info.value.retry_after == 7
    assert info.value.provider_code == "TOO_MANY_REQUESTS"


def test_no_body_is_logged(
    keys: MastercardEmulator, rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    rsps.post(SEARCH_URL, json={"cardVerificationCode": "9173"})
    rsps.post(
        SEARCH_URL,
        status=404,
        json={"Errors": {"Error": [{"ReasonCode": "X", "Description": BODY_MARKER}]}},
    )
    with caplog.at_level(logging.DEBUG):
        _provider(keys, encrypt_payloads=False).fetch_cvv(card=CARD)
        with pytest.raises(CardNotFound):
            _provider(keys, encrypt_payloads=False).fetch_cvv(card=CARD)
    assert caplog.records  # the door does log the calls
    assert "9173" not in caplog.text
    assert BODY_MARKER not in caplog.text
    assert "3004" not in caplog.text


# ---------------------------------------------------------------------------- Customer-Public-Rsa-Key


@pytest.mark.parametrize("encrypt", [False, True])
def test_client_key_is_passed_as_hex_der_and_the_result_is_sealed(
    keys: MastercardEmulator,
    rsps: responses.RequestsMock,
    client_rsa: rsa.RSAPrivateKey,
    encrypt: bool,
) -> None:
    payload = {
        "encryptedCardVerificationCode": _sealed_hex(client_rsa.public_key(), "347", OAEP_256)
    }
    rsps.post(
        SEARCH_URL, body=_encrypted(keys, payload) if encrypt else json.dumps(payload).encode()
    )
    provider = _provider(keys, pass_client_key=True, encrypt_payloads=encrypt)
    result = provider.fetch_cvv(card=CARD, client_key=ClientKey(client_rsa.public_key()))
    assert isinstance(result, ProviderSealedCvv)
    assert result.scheme == "rsa-oaep-256-hex"
    assert client_rsa.decrypt(bytes.fromhex(result.ciphertext), OAEP_256) == b"347"
    der = client_rsa.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = rsps.calls[0].request.headers["Customer-Public-Rsa-Key"]
    assert header == der.hex().upper()
    assert header.startswith("30820122300D06092A864886F70D0101010500")  # RSA-2048 SPKI


def test_client_key_padding_oaep_sha1_names_its_scheme(
    keys: MastercardEmulator, rsps: responses.RequestsMock, client_rsa: rsa.RSAPrivateKey
) -> None:
    chosen = _PADDINGS["oaep-sha1"]
    rsps.post(
        SEARCH_URL,
        body=_encrypted(
            keys,
            {"encryptedCardVerificationCode": _sealed_hex(client_rsa.public_key(), "347", chosen)},
        ),
    )
    result = _provider(keys, pass_client_key=True, client_key_padding="oaep-sha1").fetch_cvv(
        card=CARD, client_key=ClientKey(client_rsa.public_key())
    )
    assert isinstance(result, ProviderSealedCvv)
    assert result.scheme == "rsa-oaep-sha1-hex"
    assert client_rsa.decrypt(bytes.fromhex(result.ciphertext), chosen) == b"347"


def test_a_stored_padding_no_browser_can_open_fails_before_any_call(
    keys: MastercardEmulator, rsps: responses.RequestsMock, client_rsa: rsa.RSAPrivateKey
) -> None:
    # A binding saved before PKCS#1 v1.5 was withdrawn: the CVC must not be asked for in a form
    # the viewer's device could never open.
    provider = _provider(keys, pass_client_key=True, client_key_padding="pkcs1v15")
    with pytest.raises(ProviderConfigError) as info:
        provider.fetch_cvv(card=CARD, client_key=ClientKey(client_rsa.public_key()))
    assert "oaep-sha256 or oaep-sha1" in info.value.detail
    assert len(rsps.calls) == 0


def test_check_connection_names_a_stored_padding_no_browser_can_open(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    provider = _provider(keys, pass_client_key=True, client_key_padding="pkcs1v15")
    with pytest.raises(ProviderConfigError) as info:
        provider.check_connection()
    assert "client_key_padding must be oaep-sha256 or oaep-sha1" in info.value.detail
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "SHA-256"),
        ({"pass_client_key": True}, "SHA-256"),
        ({"pass_client_key": True, "client_key_padding": "oaep-sha1"}, "SHA-1"),
        ({"pass_client_key": False, "client_key_padding": "oaep-sha1"}, "SHA-256"),
        ({"pass_client_key": "on", "client_key_padding": "oaep-sha1"}, "SHA-1"),
        ({"pass_client_key": "maybe", "client_key_padding": "oaep-sha1"}, "SHA-256"),
    ],
)
def test_the_viewers_key_hash_follows_the_pass_through_padding(
    options: dict[str, Any], expected: str
) -> None:
    assert MastercardProvider.client_key_hash(options) == expected


def test_base64_sealed_value_is_reported_as_base64(
    keys: MastercardEmulator, rsps: responses.RequestsMock, client_rsa: rsa.RSAPrivateKey
) -> None:
    sealed = base64.b64encode(client_rsa.public_key().encrypt(b"347", OAEP_256)).decode()
    rsps.post(SEARCH_URL, body=_encrypted(keys, {"encryptedCardVerificationCode": sealed}))
    result = _provider(keys, pass_client_key=True).fetch_cvv(
        card=CARD, client_key=ClientKey(client_rsa.public_key())
    )
    assert isinstance(result, ProviderSealedCvv)
    assert result.scheme == "rsa-oaep-256-base64"
    assert result.ciphertext == sealed


@pytest.mark.parametrize(
    "payload",
    [
        {"cardVerificationCode": "347"},
        {"encryptedCardVerificationCode": "ABCD"},
        {"encryptedCardVerificationCode": "not hex, not base64!"},
        {"encryptedCardVerificationCode": 347},
    ],
)
def test_sealed_mode_refuses_a_missing_or_malformed_ciphertext(
    keys: MastercardEmulator,
    rsps: responses.RequestsMock,
    client_rsa: rsa.RSAPrivateKey,
    payload: dict[str, Any],
) -> None:
    rsps.post(SEARCH_URL, body=_encrypted(keys, payload))
    with pytest.raises(ProviderBadResponse):
        _provider(keys, pass_client_key=True).fetch_cvv(
            card=CARD, client_key=ClientKey(client_rsa.public_key())
        )


def test_client_key_is_not_sent_unless_the_binding_asks(
    keys: MastercardEmulator, rsps: responses.RequestsMock, client_rsa: rsa.RSAPrivateKey
) -> None:
    rsps.post(SEARCH_URL, body=_encrypted(keys, {"cardVerificationCode": "347"}))
    result = _provider(keys, pass_client_key=False).fetch_cvv(
        card=CARD, client_key=ClientKey(client_rsa.public_key())
    )
    assert isinstance(result, PlainCvv)
    assert "Customer-Public-Rsa-Key" not in rsps.calls[0].request.headers


# ---------------------------------------------------------------------------- check_connection


def test_check_connection_without_payload_encryption_has_no_decryption_left_to_prove(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    url = f"{BASE_URL}/cards/0/card-verification-codes/searches"
    rsps.post(url, status=404, json={"Errors": {"Error": [{"ReasonCode": "NOT_FOUND"}]}})
    proof = _provider(keys, encrypt_payloads=False).check_connection()
    assert proof.unproved == ""
    assert "OAuth1 signature" in proof.proved


def test_path_check_with_pass_through_seals_to_a_throwaway_key(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    # A binding that promises the CVC never exists here in plaintext keeps it in the check too.
    rsps.post(SEARCH_URL, body=_encrypted(keys, {"encryptedCardVerificationCode": "00" * 256}))
    proof = _provider(keys, pass_client_key=True).check_path(test_card=CARD)
    assert proof.unproved == ""
    assert len(rsps.calls[0].request.headers["Customer-Public-Rsa-Key"]) > 500


def test_check_connection_accepts_a_mastercard_404(
    keys: MastercardEmulator, rsps: responses.RequestsMock
) -> None:
    url = f"{BASE_URL}/cards/0/card-verification-codes/searches"
    rsps.post(url, status=404, json={"Errors": {"Error": [{"ReasonCode": "NOT_FOUND"}]}})
    proof = _provider(keys).check_connection()
    # Mastercard's error envelope is never encrypted: the decryption key stays unproven.
    assert proof.unproved.startswith("decryption was not checked")
    sent = rsps.calls[0].request
    verify_oauth_header(
        authorization=sent.headers["Authorization"],
        method="POST",
        url=url,
        body=sent.body,
        public_key=keys.signing_public_key,
    )


@pytest.mark.parametrize(
    "reason_code",
    ["INVALID_CARD_CONTRACT_TYPE", "BadRequestInvalidCardContractTypeError", "contractType"],
)
@pytest.mark.parametrize("encrypt", [True, False], ids=["jwe", "plaintext"])
def test_check_connection_reads_the_invalid_contract_type_400_as_working_credentials(
    keys: MastercardEmulator, rsps: responses.RequestsMock, reason_code: str, encrypt: bool
) -> None:
    url = f"{BASE_URL}/cards/0/card-verification-codes/searches"
    rsps.post(url, status=400, json={"Errors": {"Error": [{"ReasonCode": reason_code}]}})
    proof = _provider(keys, encrypt_payloads=encrypt).check_connection()
    assert proof.proved.startswith("Mastercard accepted the OAuth1 signature")
    assert "the credentials work" in proof.proved
    assert "encryption" not in proof.proved
    if encrypt:
        # Whether the request was decrypted before the contract was refused is not said.
        assert proof.unproved.startswith("encryption was not checked")
    else:
        assert proof.unproved == ""


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"Errors": {"Error": [{"ReasonCode": "AUTHENTICATION_FAILED"}]}}, ProviderAuthError),
        (400, {"Errors": {"Error": [{"ReasonCode": "INVALID_CARD_STATUS"}]}}, ProviderConfigError),
        (400, {"message": "CONTRACT_TYPE"}, ProviderConfigError),
        (400, {"Errors": {"Error": [{"ReasonCode": "DECRYPTION_ERROR"}]}}, ProviderConfigError),
        (404, {"message": "no such route"}, ProviderConfigError),
        (503, {}, ProviderServerError),
    ],
)
def test_check_connection_failures(
    keys: MastercardEmulator,
    rsps: responses.RequestsMock,
    status: int,
    body: dict[str, Any],
    error: type[Exception],
) -> None:
    rsps.post(f"{BASE_URL}/cards/0/card-verification-codes/searches", status=status, json=body)
    with pytest.raises(error):
        _provider(keys).check_connection()


# ---------------------------------------------------------------------------- validate_secrets


def _cert_pem(
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, *, days: int = 30
) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mc")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(private_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_validate_secrets_accepts_the_emulator_credentials(keys: MastercardEmulator) -> None:
    assert MastercardProvider.validate_secrets(keys.binding_secrets(), keys.binding_options()) == {}


def test_validate_secrets_wrong_p12_password(keys: MastercardEmulator) -> None:
    secrets = {**keys.binding_secrets(), "signing_key_password": "Hunter2-wrong"}
    errors = MastercardProvider.validate_secrets(secrets, {})
    assert set(errors) == {"signing_key_p12"}
    assert "password" in errors["signing_key_p12"]
    assert "Hunter2-wrong" not in errors["signing_key_p12"]
    assert keys.signing_password not in errors["signing_key_p12"]


@pytest.mark.parametrize(
    ("cert", "message"),
    [
        (b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", "not a PEM or DER"),
        ("ec", "not RSA"),
        ("expired", "expired"),
    ],
)
def test_validate_secrets_bad_encryption_certificate(
    keys: MastercardEmulator, cert: object, message: str
) -> None:
    if cert == "ec":
        cert = _cert_pem(ec.generate_private_key(ec.SECP256R1()))
    elif cert == "expired":
        cert = _cert_pem(keys.mastercard_encryption_key, days=-1)
    errors = MastercardProvider.validate_secrets(
        {**keys.binding_secrets(), "encryption_certificate": cert}, {}
    )  # type: ignore[dict-item]
    assert set(errors) == {"encryption_certificate"}
    assert message in errors["encryption_certificate"]


def test_validate_secrets_accepts_a_current_certificate_and_a_pem_decryption_key(
    keys: MastercardEmulator, client_rsa: rsa.RSAPrivateKey
) -> None:
    pem = client_rsa.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pem-pass"),
    )
    secrets = {
        **keys.binding_secrets(),
        "encryption_certificate": _cert_pem(keys.mastercard_encryption_key),
        "decryption_key": pem,
        "decryption_key_password": "pem-pass",
    }
    assert MastercardProvider.validate_secrets(secrets, {}) == {}
    wrong = {**secrets, "decryption_key_password": "nope-nope"}
    errors = MastercardProvider.validate_secrets(wrong, {})
    assert set(errors) == {"decryption_key"}
    assert "password" in errors["decryption_key"]
    assert "nope-nope" not in errors["decryption_key"]


@pytest.mark.parametrize("pass_through", [True, False])
def test_validate_secrets_accepts_exactly_the_paddings_the_option_offers(
    keys: MastercardEmulator, pass_through: bool
) -> None:
    (spec,) = [f for f in MastercardProvider.option_fields if f.name == "client_key_padding"]
    assert spec.choices == ("oaep-sha256", "oaep-sha1")
    options = {**keys.binding_options(), "pass_client_key": pass_through}
    for choice in spec.choices:
        options["client_key_padding"] = choice
        assert MastercardProvider.validate_secrets(keys.binding_secrets(), options) == {}
    options["client_key_padding"] = "pkcs1v15"
    errors = MastercardProvider.validate_secrets(keys.binding_secrets(), options)
    assert set(errors) == {"client_key_padding"}
    assert "oaep-sha256 or oaep-sha1" in errors["client_key_padding"]


def test_the_padding_help_says_what_to_confirm_with_mastercard() -> None:
    (spec,) = [f for f in MastercardProvider.option_fields if f.name == "client_key_padding"]
    assert "confirm with Mastercard" in spec.help_text
    assert "SHA-256" in spec.help_text
    assert "SHA-1" in spec.help_text
    assert spec.default == "oaep-sha256"


def test_validate_secrets_requires_encryption_keys_only_when_encrypting(
    keys: MastercardEmulator,
) -> None:
    secrets = {
        name: value
        for name, value in keys.binding_secrets().items()
        if name not in ("encryption_certificate", "decryption_key")
    }
    errors = MastercardProvider.validate_secrets(secrets, {"encrypt_payloads": True})
    assert set(errors) == {"encryption_certificate", "decryption_key"}
    assert MastercardProvider.validate_secrets(secrets, {"encrypt_payloads": False}) == {}


def test_validate_secrets_missing_credentials(keys: MastercardEmulator) -> None:
    errors = MastercardProvider.validate_secrets({"consumer_key": " "}, {"encrypt_payloads": False})
    assert set(errors) == {"consumer_key", "signing_key_p12"}


def test_provider_describes_its_fields() -> None:
    assert MastercardProvider.kind == "mastercard"
    assert MastercardProvider.can_seal_to_client_key is True
    assert MastercardProvider.default_base_url == (
        "https://sandbox.api.mastercard.com/global-processing/core"
    )
    assert [f.name for f in MastercardProvider.reference_fields] == ["card_contract_id"]
    names = {f.name for f in MastercardProvider.option_fields}
    assert names == {
        "encrypt_payloads",
        "encrypted_value_field",
        "jwe_iv_size",
        "encryption_key_fingerprint",
        "pass_client_key",
        "client_key_padding",
        "send_idempotency_key",
    }


# ---------------------------------------------------------------------------- end to end


def _live_door(**overrides: Any) -> HttpDoor:
    policy = HttpPolicy(**{"allow_loopback_http": True, "connect_retries": 0, **overrides})
    return HttpDoor(name="mastercard-e2e", policy=policy)


@pytest.fixture
def emulator(sandbox: RunningSandbox) -> MastercardEmulator:
    emulator = sandbox.emulator("mastercard")
    assert isinstance(emulator, MastercardEmulator)
    return emulator


def _live(
    sandbox: RunningSandbox,
    emulator: MastercardEmulator,
    *,
    http: HttpDoor | None = None,
    **kwargs: Any,
) -> MastercardProvider:
    return MastercardProvider(
        _config(emulator, sandbox.url_for("mastercard"), **kwargs), http or _live_door()
    )


def _card(contract_id: str, month: int = 4, year: int = 2030) -> CardRef:
    return CardRef(
        reference={"card_contract_id": contract_id}, expiry_month=month, expiry_year=year
    )


@pytest.mark.parametrize("encrypt", [True, False], ids=["jwe", "plaintext"])
def test_live_sandbox_card_70001_is_347(
    sandbox: RunningSandbox, emulator: MastercardEmulator, encrypt: bool
) -> None:
    result = _live(sandbox, emulator, encrypt_payloads=encrypt).fetch_cvv(card=CARD)
    assert isinstance(result, PlainCvv)
    assert result.value.reveal() == "347"


def test_live_demo_cards_have_their_own_cvvs(
    sandbox: RunningSandbox, emulator: MastercardEmulator
) -> None:
    provider = _live(sandbox, emulator)
    for seeded in emulator.cards:
        if seeded.behaviour == "ok":
            card = _card(
                seeded.reference["card_contract_id"], seeded.expiry_month, seeded.expiry_year
            )
            assert provider.fetch_cvv(card=card).value.reveal() == seeded.cvv  # type: ignore[union-attr]


def test_live_emulator_really_decrypts_requests(
    sandbox: RunningSandbox, emulator: MastercardEmulator
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider = _live(sandbox, emulator, secrets={"encryption_certificate": _cert_pem(stranger)})
    with pytest.raises(ProviderBadResponse) as info:
        provider.fetch_cvv(card=CARD)
    assert info.value.provider_code == "DECRYPTION_ERROR"


def test_live_emulator_really_encrypts_responses(
    sandbox: RunningSandbox, emulator: MastercardEmulator, client_rsa: rsa.RSAPrivateKey
) -> None:
    pem = client_rsa.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    provider = _live(
        sandbox, emulator, secrets={"decryption_key": pem, "decryption_key_password": ""}
    )
    with pytest.raises(ProviderBadResponse, match="could not be decrypted"):
        provider.fetch_cvv(card=CARD)


def test_live_wrong_expiry_is_card_details_mismatch(
    sandbox: RunningSandbox, emulator: MastercardEmulator
) -> None:
    with pytest.raises(CardDetailsMismatch):
        _live(sandbox, emulator).fetch_cvv(card=_card("70001", 1, 2021))


def test_live_unknown_card_is_card_not_found(
    sandbox: RunningSandbox, emulator: MastercardEmulator
) -> None:
    with pytest.raises(CardNotFound) as info:
        _live(sandbox, emulator).fetch_cvv(card=_card("123456789"))
    assert info.value.provider_code == "CARD_CONTRACT_NOT_FOUND"


def test_live_wrong_consumer_key_is_an_auth_error(
    sandbox: RunningSandbox, emulator: MastercardEmulator
) -> None:
    provider = _live(sandbox, emulator, secrets={"consumer_key": "someone-else!0123"})
    with pytest.raises(ProviderAuthError) as info:
        provider.fetch_cvv(card=CARD)
    assert info.value.provider_code == "AUTHENTICATION_FAILED"
    with pytest.raises(ProviderAuthError):
        provider.check_connection()


def test_live_signature_by_another_key_is_an_auth_error(
    sandbox: RunningSandbox, emulator: MastercardEmulator
) -> None:
    impostor = MastercardEmulator()  # same shape of credentials, different signing key
    provider = _live(
        sandbox,
        emulator,
        secrets={
            "signing_key_p12": impostor.signing_p12,
            "signing_key_password": impostor.signing_password,
        },
    )
    with pytest.raises(ProviderAuthError):
        provider.fetch_cvv(card=CARD)


def test_live_replayed_nonce_is_rejected(
    sandbox: RunningSandbox, emulator: MastercardEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    nonce = uuid.uuid4().hex[:16]
    monkeypatch.setattr("providers.oauth1.new_nonce", lambda: nonce)
    provider = _live(sandbox, emulator, encrypt_payloads=False, send_idempotency_key=False)
    assert provider.fetch_cvv(card=CARD).value.reveal() == "347"  # type: ignore[union-attr]
    with pytest.raises(ProviderAuthError):
        provider.fetch_cvv(card=CARD)


def test_live_check_connection(sandbox: RunningSandbox, emulator: MastercardEmulator) -> None:
    _live(sandbox, emulator).check_connection()
    _live(sandbox, emulator, encrypt_payloads=False).check_connection()


def test_live_client_key_pass_through(
    sandbox: RunningSandbox, emulator: MastercardEmulator, client_rsa: rsa.RSAPrivateKey
) -> None:
    result = _live(sandbox, emulator, pass_client_key=True).fetch_cvv(
        card=CARD, client_key=ClientKey(client_rsa.public_key())
    )
    assert isinstance(result, ProviderSealedCvv)
    assert result.scheme == "rsa-oaep-256-hex"
    assert len(result.ciphertext) == 512
    assert client_rsa.decrypt(bytes.fromhex(result.ciphertext), OAEP_256) == b"347"


@pytest.mark.parametrize("padding_name", ["oaep-sha256", "oaep-sha1"])
def test_live_pass_through_with_each_padding_opens_only_with_that_padding(
    sandbox: RunningSandbox,
    emulator: MastercardEmulator,
    client_rsa: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
    padding_name: str,
) -> None:
    monkeypatch.setattr(emulator, "client_key_padding", padding_name)
    options = emulator.binding_options()
    assert options["client_key_padding"] == padding_name
    result = _live(sandbox, emulator, **{**options, "pass_client_key": True}).fetch_cvv(
        card=CARD, client_key=ClientKey(client_rsa.public_key())
    )
    assert isinstance(result, ProviderSealedCvv)
    assert result.scheme == CLIENT_KEY_PADDINGS[padding_name] + "-hex"
    sealed = bytes.fromhex(result.ciphertext)
    assert client_rsa.decrypt(sealed, _PADDINGS[padding_name]) == b"347"
    other = next(p for name, p in _PADDINGS.items() if name != padding_name)
    with pytest.raises(ValueError, match="Decryption failed"):
        client_rsa.decrypt(sealed, other)


@pytest.mark.parametrize("encrypt", [True, False], ids=["jwe", "plaintext"])
def test_live_check_connection_when_mastercard_answers_the_probe_with_the_contract_type_400(
    sandbox: RunningSandbox,
    emulator: MastercardEmulator,
    monkeypatch: pytest.MonkeyPatch,
    encrypt: bool,
) -> None:
    monkeypatch.setattr(emulator, "contract_zero_answer", "invalid_contract_type")
    proof = _live(sandbox, emulator, encrypt_payloads=encrypt).check_connection()
    assert "the credentials work" in proof.proved
    # A wrong signature is still refused as such, not read as working credentials.
    with pytest.raises(ProviderAuthError):
        _live(sandbox, emulator, secrets={"consumer_key": "someone-else"}).check_connection()


@pytest.mark.parametrize(
    ("contract_id", "error"),
    [
        ("79401", ProviderAuthError),
        ("79429", ProviderRateLimited),
        ("79500", ProviderServerError),
        ("79600", ProviderBadResponse),
    ],
)
def test_live_fault_cards(
    sandbox: RunningSandbox, emulator: MastercardEmulator, contract_id: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        _live(sandbox, emulator).fetch_cvv(card=_card(contract_id))
    if contract_id == "79429":
        assert info.value.retry_after == 2  # type: ignore[attr-defined]


def test_live_slow_card_times_out(
    sandbox: RunningSandbox, emulator: MastercardEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "slow_delay", 0.3)
    provider = _live(sandbox, emulator, http=_live_door(read_timeout=0.3))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        provider.fetch_cvv(card=_card("79504"))
    assert time.monotonic() - started < 2


# ---------------------------------------------------------------------------- the emulator on the wire


def _raw_post(
    sandbox: RunningSandbox,
    emulator: MastercardEmulator,
    body: bytes,
    *,
    contract_id: str = "70001",
    timestamp: int | None = None,
    sign_body: bytes | None = None,
    extra: dict[str, str] | None = None,
) -> requests.Response:
    """A hand-made signed call, to drive the emulator where our provider never goes."""
    url = f"{sandbox.url_for('mastercard')}/cards/{contract_id}/card-verification-codes/searches"
    signing_key = MastercardProvider(_config(emulator), door())._signing_key
    headers = {"Content-Type": "application/json", **(extra or {})}
    headers["Authorization"] = oauth_header(
        method="POST",
        url=url,
        body=body if sign_body is None else sign_body,
        consumer_key=emulator.consumer_key,
        signing_key=signing_key,
        timestamp=timestamp,
    )
    return requests.post(url, data=body, headers=headers, timeout=5)


def test_emulator_rejects_a_body_changed_after_signing(
    sandbox: RunningSandbox, emulator: MastercardEmulator
) -> None:
    response = _raw_post(
        sandbox, emulator, b'{"cardExpiryDate":"3004"}', sign_body=b'{"cardExpiryDate":"3005"}'
    )
    assert response.status_code == 401
    error = response.json()["Errors"]["Error"][0]
    assert error["Source"] == "Security.Credential"
    assert error["ReasonCode"] == "AUTHENTICATION_FAILED"


def test_emulator_rejects_a_stale_timestamp(
    sandbox: RunningSandbox, emulator: MastercardEmulator
) -> None:
    response = _raw_post(
        sandbox, emulator, b'{"cardExpiryDate":"3004"}', timestamp=int(time.time()) - 3600
    )
    assert response.status_code == 401


def test_emulator_rejects_a_missing_signature(sandbox: RunningSandbox) -> None:
    url = f"{sandbox.url_for('mastercard')}/cards/70001/card-verification-codes/searches"
    response = requests.post(
        url,
        data=b'{"cardExpiryDate":"3004"}',
        timeout=5,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body", [b'{"cardExpiryDate":"3013"}', b'{"cardExpiryDate":3004}', b"{}", b"[]", b"not json"]
)
def test_emulator_rejects_a_bad_expiry_format_with_400(
    sandbox: RunningSandbox, emulator: MastercardEmulator, body: bytes
) -> None:
    response = _raw_post(sandbox, emulator, body)
    assert response.status_code == 400
    assert response.json()["Errors"]["Error"][0]["Source"] == "MASTERCARD PROCESSING"


def test_emulator_answers_the_documented_invalid_expiry_envelope(
    sandbox: RunningSandbox, emulator: MastercardEmulator
) -> None:
    response = _raw_post(sandbox, emulator, b'{"cardExpiryDate":"2101"}')
    assert response.status_code == 404
    assert response.json() == {
        "Errors": {"Error": [{**INVALID_EXPIRY_BODY["Errors"]["Error"][0], "Details": None}]}
    }


def test_emulator_accepts_a_base64_customer_key(
    sandbox: RunningSandbox, emulator: MastercardEmulator, client_rsa: rsa.RSAPrivateKey
) -> None:
    der = client_rsa.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    response = _raw_post(
        sandbox,
        emulator,
        b'{"cardExpiryDate":"3004"}',
        extra={"Customer-Public-Rsa-Key": base64.b64encode(der).decode()},
    )
    assert response.status_code == 200
    sealed = response.json()["encryptedCardVerificationCode"]
    assert sealed == sealed.upper()
    assert client_rsa.decrypt(bytes.fromhex(sealed), OAEP_256) == b"347"
    bad = _raw_post(
        sandbox, emulator, b'{"cardExpiryDate":"3004"}', extra={"Customer-Public-Rsa-Key": "00FF"}
    )
    assert bad.status_code == 400


def test_emulator_replays_an_idempotent_request() -> None:
    # A sandbox of its own: the shared one may still be finishing other tests' slow answers,
    # which would move the call counter under this test.
    private = MastercardEmulator()
    running = start_sandbox(emulators=[private])
    try:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = _raw_post(running, private, b'{"cardExpiryDate":"3004"}', extra=key)
        second = _raw_post(running, private, b'{"cardExpiryDate":"3004"}', extra=key)
    finally:
        running.stop()
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert private.calls == 1


def test_emulator_keys_persist_in_the_state_dir(tmp_path: Any) -> None:
    first = MastercardEmulator(tmp_path)
    second = MastercardEmulator(tmp_path)
    assert first.binding_secrets() == second.binding_secrets()
    assert all(
        (path.stat().st_mode & 0o777) == 0o600 for path in (tmp_path / "mastercard").iterdir()
    )
    assert (
        MastercardProvider.validate_secrets(first.binding_secrets(), first.binding_options()) == {}
    )


def test_emulator_seeds_the_documented_sandbox_card_and_one_card_per_fault(
    keys: MastercardEmulator,
) -> None:
    cards = keys.seed_cards()
    first = cards[0]
    assert first.reference == {"card_contract_id": "70001"}
    assert (first.cvv, first.expiry_month, first.expiry_year) == ("347", 4, 2030)
    assert {c.behaviour for c in cards} >= {
        "ok",
        "unauthorized",
        "rate_limited",
        "server_error",
        "slow",
        "malformed",
    }
    assert all(c.label and c.brand == "mastercard" and len(c.last4) == 4 for c in cards)
