"""Juspay JusBiz provider: the shared contract, the JWE answer, card image, keys, end to end."""

from __future__ import annotations

import base64
import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from providers import juspay
from providers.base import BindingConfig, CardRef, PlainCvv
from providers.errors import (
    CardNotFound,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderUndecryptable,
)
from providers.http import HttpDoor, HttpPolicy
from providers.jose import b64url_encode, jwe_encrypt
from providers.juspay import JuspayProvider, basic_authorization, join_url, load_response_key
from providers.sandbox.core import SandboxCard, SandboxRequest
from providers.sandbox.juspay import JuspayEmulator, card_png
from providers.sandbox.server import RunningSandbox
from providers.sensitive import Sensitive
from tests.conftest import shows
from tests.providers.contract import (
    BASE_URL,
    BODY_MARKER,
    ContractHarness,
    CvvCall,
    ProviderContract,
    door,
)

PAYOUT_ID = "Juspay123456789"
CARD = CardRef({"payout_id": PAYOUT_ID}, expiry_month=12, expiry_year=2029)
CVV_URL = f"{BASE_URL}/ardra/vt/cvv/v2"
API_KEY = "1D6AL0KEY9A21C3E5406AC0FB"
MERCHANT_ID = "merchant_one"
KEY_ID = "key_0a1b2c3d"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32


def _pem(
    key: Any,
    password: bytes | None = None,
    *,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return bytes(key.private_bytes(serialization.Encoding.PEM, fmt, encryption))


@pytest.fixture(scope="module")
def response_key() -> RSAPrivateKey:
    """The merchant's RSA key pair, generated for this run (JusBiz holds the public half)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def secrets_for(key: RSAPrivateKey, **overrides: str | bytes) -> dict[str, str | bytes]:
    values: dict[str, str | bytes] = {
        "api_key": API_KEY,
        "merchant_id": MERCHANT_ID,
        "key_id": KEY_ID,
        "response_decryption_key": _pem(key),
    }
    values.update(overrides)
    return values


def make_provider(
    key: RSAPrivateKey,
    *,
    base_url: str = BASE_URL,
    http: HttpDoor | None = None,
    options: dict[str, Any] | None = None,
    **secret_overrides: str | bytes,
) -> JuspayProvider:
    config = BindingConfig(
        key="juspay-test",
        base_url=base_url,
        secrets={k: Sensitive(v) for k, v in secrets_for(key, **secret_overrides).items()},
        options=options or {},
    )
    return JuspayProvider(config, http or door())


def document(
    cvv: str = "119", *, payout_id: str = PAYOUT_ID, status: str = "SUCCESS", **inner: str
) -> dict[str, Any]:
    """The decrypted 200 answer as JusBiz documents it."""
    return {
        "status": status,
        "payoutId": payout_id,
        "message": "Security Code Fetched Successfully",
        "response": {"SecurityCode": cvv, **inner},
    }


# How `encryptedResponse` may carry the JWE: the compact string JusBiz documents, RFC 7516's
# flattened JSON object, the split object of Juspay's SDKs, and that object sent as a string.
FORMS = ("compact", "flattened", "juspay", "juspay-as-text")
FLATTENED = ("protected", "encrypted_key", "iv", "ciphertext", "tag")
SPLIT = ("header", "encryptedKey", "iv", "encryptedPayload", "tag")


def in_form(token: str, form: str) -> object:
    """The compact `token` as `encryptedResponse` carries it in `form`."""
    if form == "compact":
        return token
    names = FLATTENED if form == "flattened" else SPLIT
    split = dict(zip(names, token.split("."), strict=True))
    return json.dumps(split) if form == "juspay-as-text" else split


def envelope(plain: dict[str, Any], key: RSAPrivateKey, form: str = "compact") -> bytes:
    """`{"encryptedResponse": JWE}` of `plain` to `key`'s public half, as JusBiz answers."""
    token = jwe_encrypt(json.dumps(plain).encode(), key.public_key())
    return json.dumps({"encryptedResponse": in_form(token, form)}).encode()


class JuspayHarness(ContractHarness):
    def __init__(self, key: RSAPrivateKey, form: str = "compact") -> None:
        self.key = key
        self.form = form
        self.card = CARD

    def binding_secrets(self) -> dict[str, str | bytes]:
        return secrets_for(self.key)

    def make_provider(self, base_url: str, http: HttpDoor) -> JuspayProvider:
        return make_provider(self.key, base_url=base_url, http=http)

    def cvv_call(self, base_url: str) -> CvvCall:
        return CvvCall("POST", f"{base_url}/ardra/vt/cvv/v2")

    def success_body(self, cvv: str) -> bytes:
        return envelope(document(cvv), self.key, self.form)

    def success_body_to_another_key(self, cvv: str) -> bytes | None:
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return envelope(document(cvv), other, self.form)


class TestJuspayContract(ProviderContract):
    @pytest.fixture(params=FORMS)
    def harness(self, request: pytest.FixtureRequest, response_key: RSAPrivateKey) -> JuspayHarness:
        return JuspayHarness(response_key, request.param)


@pytest.fixture
def rsps() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def fetch(
    rsps: responses.RequestsMock,
    key: RSAPrivateKey,
    *,
    status: int = 200,
    body: bytes,
    options: dict[str, Any] | None = None,
    **secret_overrides: str | bytes,
) -> Any:
    rsps.add("POST", CVV_URL, status=status, body=body, content_type="application/json")
    return make_provider(key, options=options, **secret_overrides).fetch_cvv(card=CARD)


def assert_safe(exc: ProviderError, *texts: str) -> None:
    """The error carries none of the body's text (nor any of `texts`)."""
    rendered = " ".join([str(exc), repr(exc), exc.detail, exc.message, repr(vars(exc))])
    for text in (BODY_MARKER, *texts):
        assert text not in rendered


# ------------------------------------------------------------------------------ the request


def test_request_is_documented_post_with_basic_key_and_empty_password(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    result = fetch(rsps, response_key, body=envelope(document("119"), response_key))
    assert result.value.reveal() == "119"
    sent = rsps.calls[0].request
    assert sent.method == "POST"
    assert sent.url == CVV_URL
    scheme, encoded = sent.headers["Authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded) == f"{API_KEY}:".encode()  # key as user, empty password
    assert sent.headers["X-merchantid"] == MERCHANT_ID
    assert sent.headers["KeyId"] == KEY_ID
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {"payoutId": PAYOUT_ID, "isCardImageRequired": False}


def test_basic_authorization_is_the_key_then_a_colon() -> None:
    assert basic_authorization(api_key="abc") == "Basic " + base64.b64encode(b"abc:").decode()


@pytest.mark.parametrize(
    "base",
    ["https://x.test", "https://x.test/", "https://x.test//"],
)
def test_base_url_with_or_without_slash_gives_one_slash(base: str) -> None:
    assert join_url(base, "ardra/vt/cvv/v2") == "https://x.test/ardra/vt/cvv/v2"
    assert join_url(base + "bank", "/ardra/vt/cvv/v2").endswith("bank/ardra/vt/cvv/v2")


def test_base_url_with_trailing_slash_calls_the_same_endpoint(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    rsps.add("POST", CVV_URL, status=200, body=envelope(document("731"), response_key))
    provider = make_provider(response_key, base_url=BASE_URL + "/")
    assert provider.fetch_cvv(card=CARD).value.reveal() == "731"
    assert rsps.calls[0].request.url == CVV_URL


@pytest.mark.parametrize(
    "payout_id",
    ["", "has space", "x" * 22, "semi;colon", "ü", "with-hyphen", "cardreveal-connection-check"],
)
def test_payout_id_outside_the_documented_format_is_config_error_before_any_call(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, payout_id: str
) -> None:
    provider = make_provider(response_key)
    with pytest.raises(ProviderConfigError) as info:
        provider.fetch_cvv(card=CardRef({"payout_id": payout_id}, 1, 2030))
    assert "at most 21 letters, digits or '_'" in info.value.detail
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("payout_id", ["x" * 21, "Juspay_123", "A", "0123456789"])
def test_payout_id_in_the_documented_format_is_sent(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, payout_id: str
) -> None:
    rsps.add("POST", CVV_URL, body=envelope(document("119", payout_id=payout_id), response_key))
    provider = make_provider(response_key)
    assert provider.fetch_cvv(card=CardRef({"payout_id": payout_id}, 1, 2030)).value.reveal() == (
        "119"
    )
    assert json.loads(rsps.calls[0].request.body)["payoutId"] == payout_id


# ------------------------------------------------------------------------------ the JSON forms


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("nested", [False, True], ids=["top-level", "under-response"])
def test_encrypted_response_in_any_form_is_decrypted(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, form: str, nested: bool
) -> None:
    token = jwe_encrypt(json.dumps(document("582")).encode(), response_key.public_key())
    carried = {"encryptedResponse": in_form(token, form)}
    body = json.dumps({"response": carried} if nested else carried).encode()
    assert fetch(rsps, response_key, body=body).value.reveal() == "582"


def _split(response_key: RSAPrivateKey, names: tuple[str, ...] = FLATTENED) -> dict[str, Any]:
    token = jwe_encrypt(json.dumps(document("582")).encode(), response_key.public_key())
    return dict(zip(names, token.split("."), strict=True))


def _malformed_forms(key: RSAPrivateKey) -> list[tuple[str, object, str]]:
    flat = _split(key)
    split = _split(key, SPLIT)
    mixed = {**{k: v for k, v in flat.items() if k != "ciphertext"}, "encryptedPayload": "AA"}
    return [
        ("member missing", {k: v for k, v in flat.items() if k != "tag"}, "exactly the members"),
        ("member added", {**flat, "kid": "k1"}, "exactly the members"),
        ("names mixed", mixed, "exactly the members"),
        ("not text", {**flat, "iv": 12}, "member iv is not base64url text"),
        ("empty", {**split, "tag": ""}, "member tag is not base64url text"),
        ("padded", {**flat, "tag": flat["tag"] + "=="}, "member tag is not base64url text"),
        ("standard alphabet", {**split, "iv": "a+b/"}, "member iv is not base64url text"),
        ("with aad", {**flat, "aad": "AA"}, "has no compact form"),
        ("unprotected", {**flat, "unprotected": {"kid": "x"}}, "has no compact form"),
        ("header object", {**flat, "header": {"kid": "x"}}, "has no compact form"),
        ("several recipients", {"recipients": [], "iv": "AA"}, "has no compact form"),
        ("text not JSON", "{not json", "not a JSON object nor a compact JWE"),
        ("text of a list", "[1, 2]", "is not a compact JWE"),
        ("a list", [flat], "neither a compact JWE nor a JSON object"),
        ("a number", 7, "neither a compact JWE nor a JSON object"),
    ]


@pytest.mark.parametrize("case", range(15), ids=lambda i: f"case{i}")
def test_a_malformed_json_form_is_a_bad_response_saying_what_is_wrong(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, case: int
) -> None:
    name, carried, words = _malformed_forms(response_key)[case]
    body = json.dumps({"encryptedResponse": carried, "note": BODY_MARKER}).encode()
    with pytest.raises(ProviderBadResponse) as info:
        fetch(rsps, response_key, body=body)
    assert words in info.value.detail, name
    assert_safe(info.value)
    # Nothing chained on that a traceback would print quotes the body (a JSON error would).
    chained: BaseException | None = info.value
    while chained is not None:
        assert BODY_MARKER not in repr(chained)
        assert not isinstance(chained, json.JSONDecodeError)
        chained = chained.__cause__ or chained.__context__


def test_a_json_form_that_was_tampered_with_does_not_open(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    split = _split(response_key, SPLIT)
    # The protected header is the AAD: changing it must fail the tag, not be glossed over.
    split["header"] = b64url_encode(
        json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "x"}).encode()
    )
    body = json.dumps({"encryptedResponse": split}).encode()
    with pytest.raises(ProviderUndecryptable):
        fetch(rsps, response_key, body=body)


def test_unusable_decryption_key_is_config_error_before_any_call(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    provider = make_provider(response_key, response_decryption_key=b"not a key")
    with pytest.raises(ProviderConfigError) as info:
        provider.fetch_cvv(card=CARD)
    assert "decryption key" in info.value.detail
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("missing", ["api_key", "merchant_id", "key_id"])
def test_missing_credential_is_config_error_before_any_call(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, missing: str
) -> None:
    with pytest.raises(ProviderConfigError):
        make_provider(response_key, **{missing: ""}).fetch_cvv(card=CARD)
    assert len(rsps.calls) == 0


def test_header_injection_in_a_credential_is_refused_before_any_call(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    with pytest.raises(ProviderConfigError):
        make_provider(response_key, key_id="k\r\nX-Evil: 1").fetch_cvv(card=CARD)
    assert len(rsps.calls) == 0


# ------------------------------------------------------------------------------ the JWE answer


def test_encrypted_response_nested_under_response_is_opened(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    token = jwe_encrypt(json.dumps(document("482")).encode(), response_key.public_key())
    body = json.dumps({"response": {"encryptedResponse": token}}).encode()
    assert fetch(rsps, response_key, body=body).value.reveal() == "482"


def test_only_the_inner_response_encrypted_takes_status_from_the_envelope(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    token = jwe_encrypt(json.dumps({"SecurityCode": "903"}).encode(), response_key.public_key())
    body = json.dumps(
        {
            "status": "SUCCESS",
            "payoutId": PAYOUT_ID,
            "message": "ok",
            "response": {"encryptedResponse": token},
        }
    ).encode()
    assert fetch(rsps, response_key, body=body).value.reveal() == "903"


def test_lowercase_field_names_of_the_docs_sample_are_accepted(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    plain = {
        "status": "SUCCESS",
        "payoutId": PAYOUT_ID,
        "message": "ok",
        "response": {"securityCode": "6502", "cardImage": base64.b64encode(JPEG).decode()},
    }
    result = fetch(
        rsps,
        response_key,
        body=envelope(plain, response_key),
        options={"card_image_required": True},
    )
    assert result.value.reveal() == "6502"
    assert result.card_image.reveal() == JPEG


def test_jwe_with_a_kid_header_is_accepted(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    token = jwe_encrypt(
        json.dumps(document("555")).encode(),
        response_key.public_key(),
        kid="some-other-kid",
        iv_size=16,
    )
    body = json.dumps({"encryptedResponse": token}).encode()
    assert fetch(rsps, response_key, body=body).value.reveal() == "555"


def test_tampered_jwe_is_bad_response(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    token = jwe_encrypt(json.dumps(document("9173")).encode(), response_key.public_key())
    header, wrapped, iv, ciphertext, tag = token.split(".")
    flipped = ("A" if ciphertext[0] != "A" else "B") + ciphertext[1:]
    body = json.dumps({"encryptedResponse": ".".join([header, wrapped, iv, flipped, tag])})
    with pytest.raises(ProviderBadResponse) as info:
        fetch(rsps, response_key, body=body.encode())
    assert_safe(info.value, token)


def test_jwe_to_a_different_key_is_bad_response_naming_the_likely_cause(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, other_key: RSAPrivateKey
) -> None:
    # JusBiz encrypted to a key that is not the pair of the binding's private key. RSA-OAEP cannot
    # tell that from a corrupted answer, so it is a bad response whose detail names the key.
    with pytest.raises(ProviderBadResponse) as info:
        fetch(rsps, response_key, body=envelope(document("9173"), other_key))
    assert "KeyId" in info.value.detail
    assert_safe(info.value)


def _jwe_a128gcm(plain: bytes, key: RSAPrivateKey) -> str:
    """A well-formed JWE with enc A128GCM, which JusBiz does not use."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = b64url_encode(json.dumps({"alg": "RSA-OAEP-256", "enc": "A128GCM"}).encode())
    cek, iv = os.urandom(16), os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, plain, header.encode())
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    wrapped = key.public_key().encrypt(cek, oaep)
    return ".".join(
        [
            header,
            b64url_encode(wrapped),
            b64url_encode(iv),
            b64url_encode(sealed[:-16]),
            b64url_encode(sealed[-16:]),
        ]
    )


def test_undocumented_jwe_algorithms_are_refused(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    token = _jwe_a128gcm(json.dumps(document("119")).encode(), response_key)
    body = json.dumps({"encryptedResponse": token}).encode()
    with pytest.raises(ProviderBadResponse) as info:
        fetch(rsps, response_key, body=body)
    assert "algorithms" in info.value.detail


@pytest.mark.parametrize(
    "body",
    [
        {"encryptedResponse": "not.a.jwe"},
        {"encryptedResponse": 42},
        {"response": {"SecurityCode": "119"}, "status": "SUCCESS", "payoutId": PAYOUT_ID},
        {},
    ],
    ids=["not-a-jwe", "not-a-string", "plaintext-success", "empty"],
)
def test_answers_without_a_usable_jwe_are_bad_response(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, body: dict[str, Any]
) -> None:
    # A plaintext SUCCESS is refused too: JusBiz always encrypts 200 answers.
    with pytest.raises(ProviderBadResponse):
        fetch(rsps, response_key, body=json.dumps(body).encode())


def test_decrypted_text_that_is_not_an_object_is_bad_response(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    token = jwe_encrypt(b'["119"]', response_key.public_key())
    with pytest.raises(ProviderBadResponse):
        fetch(rsps, response_key, body=json.dumps({"encryptedResponse": token}).encode())


@pytest.mark.parametrize(
    "plain",
    [
        document("119", payout_id="SomeoneElse1"),
        {k: v for k, v in document("119").items() if k != "payoutId"},
        document("119", status="PENDING"),
        {"status": "SUCCESS", "payoutId": PAYOUT_ID, "response": "119"},
        {"status": "SUCCESS", "payoutId": PAYOUT_ID, "response": {}},
    ],
    ids=["other-payout", "no-echo", "unknown-status", "response-not-object", "no-code"],
)
def test_success_answers_that_do_not_fit_are_bad_response(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, plain: dict[str, Any]
) -> None:
    with pytest.raises(ProviderBadResponse):
        fetch(rsps, response_key, body=envelope(plain, response_key))


# ------------------------------------------------------------------------------ failures


def test_failure_saying_not_found_in_a_200_is_card_not_found(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    plain = {
        "status": "FAILURE",
        "payoutId": PAYOUT_ID,
        "message": f"Payout not found {BODY_MARKER}",
    }
    with pytest.raises(CardNotFound) as info:
        fetch(rsps, response_key, body=envelope(plain, response_key))
    assert info.value.provider_code == "PAYOUT_NOT_FOUND"
    assert_safe(info.value)


def test_other_failure_in_a_200_is_bad_response_without_its_message(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    plain = {"status": "FAILURE", "payoutId": PAYOUT_ID, "message": f"Card is frozen {BODY_MARKER}"}
    with pytest.raises(ProviderBadResponse) as info:
        fetch(rsps, response_key, body=envelope(plain, response_key))
    assert_safe(info.value, "frozen")


def test_unencrypted_failure_in_a_200_is_mapped_too(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    body = {"status": "FAILURE", "payoutId": PAYOUT_ID, "message": "payoutId does not exist"}
    with pytest.raises(CardNotFound):
        fetch(rsps, response_key, body=json.dumps(body).encode())


@pytest.mark.parametrize(
    ("status", "message", "error", "code"),
    [
        (400, "Invalid Key ID passed", ProviderAuthError, "INVALID_KEY_ID"),
        (
            401,
            "Basic Auth & Key ID missing in Headers",
            ProviderAuthError,
            "BASIC_AUTH_AND_KEY_ID_MISSING",
        ),
        (401, "Key ID missing in Headers", ProviderAuthError, "KEY_ID_MISSING"),
        (401, "Basic Auth missing in Headers", ProviderAuthError, "BASIC_AUTH_MISSING"),
        (401, "Unauthorised: No key given", ProviderAuthError, "UNAUTHORISED"),
        (400, "Invalid payoutId", CardNotFound, "PAYOUT_NOT_FOUND"),
        (400, "isCardImageRequired must be a boolean", ProviderBadResponse, ""),
        (404, "No Data found for the given path", ProviderConfigError, "UNKNOWN_PATH"),
        (500, "Error Message: Validated Expense Data cannot be Empty", ProviderServerError, ""),
    ],
)
def test_unencrypted_error_answers_map_by_status_and_message(
    rsps: responses.RequestsMock,
    response_key: RSAPrivateKey,
    status: int,
    message: str,
    error: type[ProviderError],
    code: str,
) -> None:
    body = {"status": "FAILURE", "payoutId": PAYOUT_ID, "message": message + " " + BODY_MARKER}
    with pytest.raises(error) as info:
        fetch(rsps, response_key, status=status, body=json.dumps(body).encode())
    assert type(info.value) is error
    assert info.value.provider_code == code
    assert_safe(info.value, message)


# ------------------------------------------------------------------------------ card image


def test_card_image_is_not_asked_for_nor_returned_by_default(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    png = card_png()
    plain = document("119", CardImage=base64.b64encode(png).decode())
    result = fetch(rsps, response_key, body=envelope(plain, response_key))
    assert json.loads(rsps.calls[0].request.body)["isCardImageRequired"] is False
    assert result.card_image is None  # sent unasked, dropped


@pytest.mark.parametrize("option", [True, "true", "on"])
def test_card_image_when_asked_is_returned_wrapped(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, option: object
) -> None:
    png = card_png()
    encoded = base64.b64encode(png).decode()
    plain = document("119", CardImage=encoded)
    result = fetch(
        rsps,
        response_key,
        body=envelope(plain, response_key),
        options={"card_image_required": option},
    )
    assert json.loads(rsps.calls[0].request.body)["isCardImageRequired"] is True
    assert isinstance(result, PlainCvv)
    assert result.card_image.reveal() == png
    for rendered in (repr(result), str(result), f"{result.card_image}"):
        assert encoded[:16] not in rendered
        assert "PNG" not in rendered
        assert not shows("119", rendered)
    with pytest.raises(TypeError):
        pickle.dumps(result)


@pytest.mark.parametrize(
    "encoded",
    [
        base64.b64encode(JPEG).decode(),
        "data:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
        base64.urlsafe_b64encode(JPEG).decode().rstrip("="),
        "\n".join(base64.encodebytes(JPEG).decode().split()),
    ],
    ids=["standard", "data-uri", "url-safe-unpadded", "line-wrapped"],
)
def test_card_image_encodings_are_tolerated(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, encoded: str
) -> None:
    plain = document("119", CardImage=encoded)
    result = fetch(
        rsps,
        response_key,
        body=envelope(plain, response_key),
        options={"card_image_required": True},
    )
    assert result.card_image.reveal() == JPEG


def test_card_image_asked_but_absent_gives_the_cvv_alone(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    result = fetch(
        rsps,
        response_key,
        body=envelope(document("119"), response_key),
        options={"card_image_required": True},
    )
    assert result.value.reveal() == "119"
    assert result.card_image is None


@pytest.mark.parametrize(
    "image",
    [
        base64.b64encode(b"GIF89a" + b"\x00" * 20).decode(),
        "!!not base64!!",
        base64.b64encode(b"<svg/>").decode(),
    ],
    ids=["gif", "not-base64", "svg"],
)
def test_card_image_that_is_not_png_or_jpeg_is_bad_response(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, image: str
) -> None:
    with pytest.raises(ProviderBadResponse):
        fetch(
            rsps,
            response_key,
            body=envelope(document("119", CardImage=image), response_key),
            options={"card_image_required": True},
        )


def test_card_image_over_the_size_limit_is_bad_response(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    png = card_png()
    monkeypatch.setattr(juspay, "MAX_CARD_IMAGE_BYTES", len(png) - 1)
    plain = document("119", CardImage=base64.b64encode(png).decode())
    with pytest.raises(ProviderBadResponse) as info:
        fetch(
            rsps,
            response_key,
            body=envelope(plain, response_key),
            options={"card_image_required": True},
        )
    assert "too large" in info.value.detail


def test_emulator_card_image_is_a_valid_png() -> None:
    import struct
    import zlib

    png = card_png(width=4, height=3)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    offset, chunks = 8, []
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + data)
        chunks.append((kind, data))
        offset += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">II", chunks[0][1][:8]) == (4, 3)
    assert len(zlib.decompress(chunks[1][1])) == 3 * (1 + 4 * 3)


# ------------------------------------------------------------------------------ check_connection


def test_check_connection_passes_when_jusbiz_says_the_probe_is_unknown(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    plain = {
        "status": "FAILURE",
        "payoutId": juspay.PROBE_PAYOUT_ID,
        "message": "No payout found for the given payoutId",
    }
    rsps.add("POST", CVV_URL, status=200, body=envelope(plain, response_key))
    proof = make_provider(response_key).check_connection()
    assert json.loads(rsps.calls[0].request.body)["payoutId"] == juspay.PROBE_PAYOUT_ID
    # The encrypted answer opened: the decryption key is proven without a test card.
    assert proof.unproved == ""
    assert "decrypted with this binding's private key" in proof.proved


def test_check_connection_with_an_answer_to_another_key_is_undecryptable(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey, other_key: RSAPrivateKey
) -> None:
    plain = {"status": "FAILURE", "payoutId": juspay.PROBE_PAYOUT_ID, "message": "not found"}
    rsps.add("POST", CVV_URL, status=200, body=envelope(plain, other_key))
    with pytest.raises(ProviderUndecryptable):
        make_provider(response_key).check_connection()


def test_check_connection_with_an_unencrypted_not_found_says_decryption_was_not_checked(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    rsps.add(
        "POST",
        CVV_URL,
        status=404,
        json={"status": "FAILURE", "payoutId": juspay.PROBE_PAYOUT_ID, "message": "not found"},
    )
    proof = make_provider(response_key).check_connection()
    assert proof.unproved.startswith("decryption was not checked")


def test_check_connection_with_a_bare_404_suspects_the_base_url(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    rsps.add("POST", CVV_URL, status=404, body=b"<html>Not Found</html>")
    with pytest.raises(ProviderConfigError) as info:
        make_provider(response_key).check_connection()
    assert "base URL" in info.value.detail


def test_check_connection_with_bad_credentials_is_auth_error(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    rsps.add(
        "POST",
        CVV_URL,
        status=401,
        json={"status": "FAILURE", "payoutId": None, "message": "Unauthorised: No key given"},
    )
    with pytest.raises(ProviderAuthError):
        make_provider(response_key).check_connection()


# ------------------------------------------------------------------------------ binding secrets


def test_validate_secrets_accepts_a_good_binding(response_key: RSAPrivateKey) -> None:
    assert JuspayProvider.validate_secrets(secrets_for(response_key), {}) == {}


def test_validate_secrets_accepts_encrypted_pkcs1_with_its_password(
    response_key: RSAPrivateKey,
) -> None:
    pem = _pem(response_key, b"pa55word", fmt=serialization.PrivateFormat.TraditionalOpenSSL)
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    secrets = secrets_for(
        response_key, response_decryption_key=pem, response_decryption_key_password="pa55word"
    )
    assert JuspayProvider.validate_secrets(secrets, {}) == {}
    # And the provider opens answers with it.
    config = BindingConfig(
        key="k", base_url=BASE_URL, secrets={k: Sensitive(v) for k, v in secrets.items()}
    )
    assert JuspayProvider(config, door())._private_key().key_size == 2048


def _key_error(key_bytes: bytes, password: str = "") -> str:
    secrets = secrets_for(
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        response_decryption_key=key_bytes,
        response_decryption_key_password=password,
    )
    return JuspayProvider.validate_secrets(secrets, {}).get("response_decryption_key", "")


def test_validate_secrets_explains_each_unusable_key(response_key: RSAPrivateKey) -> None:
    encrypted = _pem(response_key, b"right-password")
    assert "enter its password" in _key_error(encrypted)
    assert "wrong password" in _key_error(encrypted, "wrong-password")
    assert "not encrypted" in _key_error(_pem(response_key), "unneeded")
    assert "not a PEM or DER" in _key_error(b"-----BEGIN PRIVATE KEY-----\nnope\n")
    assert "Upload" in _key_error(b"")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assert "must be an RSA" in _key_error(_pem(ec_key))
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test
    assert "at least 2048 bits (it is 1024)" in _key_error(_pem(small))


def test_load_response_key_reads_der_pkcs8(response_key: RSAPrivateKey) -> None:
    der = response_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    loaded = load_response_key(der)
    assert loaded.private_numbers() == response_key.private_numbers()


def test_validate_secrets_reports_missing_and_unsafe_credentials(
    response_key: RSAPrivateKey,
) -> None:
    secret_key = "SECRET:KEY-VALUE"
    errors = JuspayProvider.validate_secrets(
        secrets_for(response_key, api_key=secret_key, merchant_id="has space", key_id=""), {}
    )
    assert set(errors) == {"api_key", "merchant_id", "key_id"}
    assert "':'" in errors["api_key"]
    assert "without spaces" in errors["merchant_id"]
    assert errors["key_id"] == "This value is required."
    assert not any(secret_key in message for message in errors.values())
    missing = JuspayProvider.validate_secrets({}, {})
    assert set(missing) == {"api_key", "merchant_id", "key_id", "response_decryption_key"}


def test_fields_describe_the_binding() -> None:
    assert JuspayProvider.kind == "juspay"
    assert JuspayProvider.default_base_url == "https://sandbox.biz.juspay.in/"
    assert [f.name for f in JuspayProvider.reference_fields] == ["payout_id"]
    kinds = {f.name: (f.kind, f.required) for f in JuspayProvider.secret_fields}
    assert kinds == {
        "api_key": ("secret", True),
        "merchant_id": ("text", True),
        "key_id": ("text", True),
        "response_decryption_key": ("file", True),
        "response_decryption_key_password": ("secret", False),
    }
    [image] = JuspayProvider.option_fields
    assert (image.name, image.kind, image.default) == ("card_image_required", "bool", False)


def test_registered_under_its_kind() -> None:
    from providers.registry import provider_class

    assert provider_class("juspay") is JuspayProvider


# ------------------------------------------------------------------------------ the emulator


def _emulator_request(
    emulator: JuspayEmulator,
    *,
    headers: dict[str, str] | None = None,
    body: object = None,
    path: str = "/ardra/vt/cvv/v2",
    method: str = "POST",
) -> tuple[int, dict[str, Any]]:
    base = {
        "authorization": basic_authorization(api_key=emulator.api_key),
        "x-merchantid": emulator.merchant_id,
        "keyid": emulator.key_id,
        "content-type": "application/json",
    }
    merged = {k: v for k, v in {**base, **(headers or {})}.items() if v is not None}
    raw = json.dumps({"payoutId": PAYOUT_ID} if body is None else body).encode()
    response = emulator.handle(
        SandboxRequest(method, path, "", merged, raw, f"http://127.0.0.1/juspay{path}")
    )
    return response.status, json.loads(response.body)


@pytest.fixture(scope="module")
def emulator() -> JuspayEmulator:
    return JuspayEmulator()


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"authorization": None, "keyid": None}, 401, "Basic Auth & Key ID missing in Headers"),
        ({"keyid": None}, 401, "Key ID missing in Headers"),
        ({"authorization": None}, 401, "Basic Auth missing in Headers"),
        ({"authorization": "Bearer abc"}, 401, "Basic Auth missing in Headers"),
        (
            {"authorization": "Basic " + base64.b64encode(b":").decode()},
            401,
            "Unauthorised: No key given",
        ),
        (
            {"authorization": basic_authorization(api_key="WRONG")},
            401,
            "Unauthorised: Invalid API Key",
        ),
        (
            {"x-merchantid": "someone_else"},
            401,
            "Unauthorised: merchant id does not match the API Key",
        ),
        ({"keyid": "key_wrong"}, 400, "Invalid Key ID passed"),
        ({"content-type": "text/plain"}, 400, "Content-Type must be application/json"),
    ],
)
def test_emulator_checks_headers_with_the_documented_messages(
    emulator: JuspayEmulator, headers: dict[str, str], status: int, message: str
) -> None:
    got_status, got = _emulator_request(emulator, headers=headers)
    assert (got_status, got) == (
        status,
        {"status": "FAILURE", "payoutId": PAYOUT_ID, "message": message},
    )


def test_emulator_refuses_a_basic_password(emulator: JuspayEmulator) -> None:
    encoded = base64.b64encode(f"{emulator.api_key}:pw".encode()).decode()
    status, _ = _emulator_request(emulator, headers={"authorization": f"Basic {encoded}"})
    assert status == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "payoutId is mandatory"),
        ({"payoutId": 7}, "payoutId is mandatory"),
        (
            {"payoutId": PAYOUT_ID, "isCardImageRequired": "yes"},
            "isCardImageRequired must be a boolean",
        ),
        (["not", "an", "object"], "Request body must be a JSON object"),
        ({"payoutId": "with-hyphen"}, "payoutId must be at most 21 alphanumeric characters or _"),
        ({"payoutId": "x" * 22}, "payoutId must be at most 21 alphanumeric characters or _"),
    ],
)
def test_emulator_validates_the_body(emulator: JuspayEmulator, body: object, message: str) -> None:
    status, got = _emulator_request(emulator, body=body)
    assert status == 400
    assert got["message"] == message


def test_emulator_success_is_only_an_encrypted_response(
    emulator: JuspayEmulator, response_key: RSAPrivateKey
) -> None:
    status, got = _emulator_request(
        emulator, body={"payoutId": PAYOUT_ID, "isCardImageRequired": True}
    )
    assert status == 200
    assert list(got) == ["encryptedResponse"]
    assert not shows("119", got["encryptedResponse"])
    # It opens only with the private half of the uploaded key.
    pem = emulator.binding_secrets()["response_decryption_key"]
    assert isinstance(pem, bytes)
    key = load_response_key(pem)
    from providers.jose import jwe_decrypt, jwe_header

    header = jwe_header(got["encryptedResponse"])
    assert (header["alg"], header["enc"]) == ("RSA-OAEP-256", "A256GCM")
    plain = json.loads(jwe_decrypt(got["encryptedResponse"], key))
    assert plain["status"] == "SUCCESS"
    assert plain["payoutId"] == PAYOUT_ID
    assert plain["response"]["SecurityCode"] == "119"
    assert base64.b64decode(plain["response"]["CardImage"]) == emulator.card_image


def test_emulator_unknown_path_and_method(emulator: JuspayEmulator) -> None:
    assert _emulator_request(emulator, path="/ardra/vt/nope")[0] == 404
    assert _emulator_request(emulator, method="GET")[0] == 405


def test_emulator_keeps_its_keys_and_credentials_in_the_state_dir(tmp_path: Path) -> None:
    first, second = JuspayEmulator(tmp_path), JuspayEmulator(tmp_path)
    assert first.binding_secrets() == second.binding_secrets()
    assert (tmp_path / "juspay" / "client_private_key.pem").stat().st_mode & 0o777 == 0o600
    assert JuspayEmulator(tmp_path / "other").api_key != first.api_key


def test_emulator_binding_secrets_pass_validation(emulator: JuspayEmulator) -> None:
    assert (
        JuspayProvider.validate_secrets(emulator.binding_secrets(), emulator.binding_options())
        == {}
    )


def test_emulator_seeds_demo_cards_and_one_card_per_fault(emulator: JuspayEmulator) -> None:
    behaviours = [card.behaviour for card in emulator.seed_cards()]
    assert behaviours.count("ok") == 2
    assert set(behaviours) == {
        "ok",
        "unauthorized",
        "rate_limited",
        "server_error",
        "slow",
        "malformed",
        "failure",
    }
    demo = emulator.find_card(payout_id=PAYOUT_ID)
    assert demo is not None
    assert (demo.cvv, demo.brand, demo.last4) == ("119", "visa", "4412")
    for card in emulator.seed_cards():
        assert card.label
        assert len(card.last4) == 4
        assert juspay._PAYOUT_ID_RE.fullmatch(card.reference["payout_id"])


# ------------------------------------------------------------------------------ end to end


def jusbiz(sandbox: RunningSandbox) -> JuspayEmulator:
    emulator = sandbox.emulator("juspay")
    assert isinstance(emulator, JuspayEmulator)
    return emulator


def e2e_provider(
    sandbox: RunningSandbox,
    *,
    http: HttpDoor | None = None,
    base_url: str | None = None,
    options: dict[str, Any] | None = None,
    **secret_overrides: str | bytes,
) -> JuspayProvider:
    emulator = jusbiz(sandbox)
    secrets = {**emulator.binding_secrets(), **secret_overrides}
    config = BindingConfig(
        key="juspay-e2e",
        base_url=base_url or sandbox.url_for("juspay"),
        secrets={k: Sensitive(v) for k, v in secrets.items()},
        options={**emulator.binding_options(), **(options or {})},
    )
    policy = HttpPolicy(allow_loopback_http=True, connect_retries=0)
    return JuspayProvider(config, http or HttpDoor(name="juspay-e2e", policy=policy))


def test_e2e_reveal_of_the_demo_card(sandbox: RunningSandbox) -> None:
    result = e2e_provider(sandbox).fetch_cvv(card=CARD)
    assert isinstance(result, PlainCvv)
    assert result.value.reveal() == "119"
    assert result.card_image is None


def test_e2e_reveal_with_card_image_and_trailing_slash_base(sandbox: RunningSandbox) -> None:
    provider = e2e_provider(
        sandbox, base_url=sandbox.url_for("juspay") + "/", options={"card_image_required": True}
    )
    result = provider.fetch_cvv(card=CardRef({"payout_id": "JuspayTravel0002"}, 3, 2028))
    assert result.value.reveal() == "582"
    assert result.card_image is not None
    assert result.card_image.reveal() == jusbiz(sandbox).card_image
    assert result.card_image.reveal().startswith(b"\x89PNG")


@pytest.mark.parametrize("form", ["compact", "flattened", "juspay"])
def test_e2e_each_form_of_encrypted_response_is_opened(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.setattr(jusbiz(sandbox), "response_form", form)
    result = e2e_provider(sandbox).fetch_cvv(card=CARD)
    assert result.value.reveal() == "119"
    proof = e2e_provider(sandbox).check_connection()
    assert "decrypted with this binding's private key" in proof.proved


def test_the_connection_probe_uses_a_payout_id_in_the_documented_format(
    rsps: responses.RequestsMock, response_key: RSAPrivateKey
) -> None:
    assert len(juspay.PROBE_PAYOUT_ID) <= 21
    assert juspay._PAYOUT_ID_RE.fullmatch(juspay.PROBE_PAYOUT_ID)
    plain = {"status": "FAILURE", "payoutId": juspay.PROBE_PAYOUT_ID, "message": "not found"}
    rsps.add("POST", CVV_URL, body=envelope(plain, response_key))
    make_provider(response_key).check_connection()
    assert json.loads(rsps.calls[0].request.body)["payoutId"] == "cardreveal_conn_check"


def test_e2e_check_connection(sandbox: RunningSandbox) -> None:
    e2e_provider(sandbox).check_connection()
    with pytest.raises(ProviderAuthError):
        e2e_provider(sandbox, api_key="WRONGKEY").check_connection()


def test_e2e_wrong_api_key_is_auth_error(sandbox: RunningSandbox) -> None:
    with pytest.raises(ProviderAuthError) as info:
        e2e_provider(sandbox, api_key="WRONGKEY").fetch_cvv(card=CARD)
    assert info.value.provider_code == "UNAUTHORISED"


def test_e2e_wrong_key_id_is_auth_error(sandbox: RunningSandbox) -> None:
    with pytest.raises(ProviderAuthError) as info:
        e2e_provider(sandbox, key_id="key_not_uploaded").fetch_cvv(card=CARD)
    assert info.value.provider_code == "INVALID_KEY_ID"


def test_e2e_missing_key_id_is_refused_by_us_and_by_jusbiz(sandbox: RunningSandbox) -> None:
    emulator = jusbiz(sandbox)
    before = emulator.cvv_requests
    # The provider never sends a request without KeyId...
    with pytest.raises(ProviderConfigError):
        e2e_provider(sandbox, key_id="").fetch_cvv(card=CARD)
    assert emulator.cvv_requests == before
    # ...and JusBiz (here, the emulator over HTTP) would refuse one with the documented 401.
    url = join_url(sandbox.url_for("juspay"), juspay.CVV_PATH)
    response = requests.post(
        url,
        data=json.dumps({"payoutId": PAYOUT_ID}),
        headers={
            "Authorization": basic_authorization(api_key=emulator.api_key),
            "X-merchantid": emulator.merchant_id,
            "Content-Type": "application/json",
        },
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json() == {
        "status": "FAILURE",
        "payoutId": PAYOUT_ID,
        "message": "Key ID missing in Headers",
    }


def test_e2e_wrong_decryption_key_is_bad_response(
    sandbox: RunningSandbox, other_key: RSAPrivateKey
) -> None:
    with pytest.raises(ProviderBadResponse):
        e2e_provider(sandbox, response_decryption_key=_pem(other_key)).fetch_cvv(card=CARD)


def test_e2e_unknown_payout_is_card_not_found(sandbox: RunningSandbox) -> None:
    with pytest.raises(CardNotFound):
        e2e_provider(sandbox).fetch_cvv(card=CardRef({"payout_id": "NeverIssued42"}, 1, 2030))


@pytest.mark.parametrize(
    ("payout_id", "error"),
    [
        ("JuspayFault0401", ProviderAuthError),
        ("JuspayFault0429", ProviderRateLimited),
        ("JuspayFault0500", ProviderServerError),
        ("JuspayFault0502", ProviderBadResponse),
        ("JuspayFault0422", ProviderBadResponse),
    ],
)
def test_e2e_fault_cards(
    sandbox: RunningSandbox, payout_id: str, error: type[ProviderError]
) -> None:
    with pytest.raises(error) as info:
        e2e_provider(sandbox).fetch_cvv(card=CardRef({"payout_id": payout_id}, 6, 2029))
    assert type(info.value) is error
    if error is ProviderRateLimited:
        assert info.value.retry_after == jusbiz(sandbox).rate_limit_retry_after


def test_e2e_slow_card_times_out(sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jusbiz(sandbox), "slow_delay", 0.3)
    policy = HttpPolicy(allow_loopback_http=True, read_timeout=0.3, deadline=2.0, connect_retries=0)
    provider = e2e_provider(sandbox, http=HttpDoor(name="juspay-slow", policy=policy))
    with pytest.raises(ProviderTimeout):
        provider.fetch_cvv(card=CardRef({"payout_id": "JuspayFault0504"}, 6, 2029))


def test_e2e_no_cvv_key_or_body_in_logs(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = jusbiz(sandbox)
    emulator.add_card(
        SandboxCard({"payout_id": "JuspayCanary01"}, "8526", 6, 2029, label="canary", last4="8526")
    )
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "providers", "providers.sandbox"):
        caplog.set_level(logging.DEBUG, logger=name)
    provider = e2e_provider(sandbox, options={"card_image_required": True})
    result = provider.fetch_cvv(card=CardRef({"payout_id": "JuspayCanary01"}, 6, 2029))
    assert result.value.reveal() == "8526"
    with pytest.raises(ProviderAuthError):
        e2e_provider(sandbox, api_key="WRONGKEY").fetch_cvv(card=CARD)
    # The port is random and could contain the canary's digits by chance.
    text = caplog.text.replace(f":{urlsplit(sandbox.base_url).port}", ":PORT")
    assert "juspay" in text  # the calls were logged...
    for secret in (
        "8526",
        emulator.api_key,
        "encryptedResponse",
        "eyJ",
        "Unauthorised",
        base64.b64encode(emulator.card_image).decode()[:24],
    ):
        assert secret not in text  # ...without any of this
