"""Mastercard OAuth 1.0a signing: known answers, URL normalisation, verification and key loading."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.oauth1 import (
    EMPTY_BODY_HASH,
    OAuthError,
    body_hash,
    load_pkcs12_signing_key,
    new_nonce,
    normalized_url,
    oauth_header,
    parse_oauth_header,
    percent_encode,
    signature_base_string,
    verify_oauth_header,
)

URL = "https://sandbox.api.mastercard.com/global-processing/core/cards/70001/card-verification-codes/searches"
BODY = b'{"cardExpiryDate":"3004"}'
NONCE = "uTeLPs6K5hUBWVhx"
TIMESTAMP = 1700000000
CONSUMER_KEY = "abc!123"

# Worked out by hand from the rules in providers.md and checked against `openssl dgst -sha256`:
# the params sorted, joined unencoded, then the whole string percent-encoded once.
EXPECTED_SBS = (
    "POST"
    "&https%3A%2F%2Fsandbox.api.mastercard.com%2Fglobal-processing%2Fcore%2Fcards%2F70001"
    "%2Fcard-verification-codes%2Fsearches"
    "&oauth_body_hash%3D4q4ZzFyTKMV47jpOEijY8thAb6OPwTaJVHERAWhzRrM%3D"
    "%26oauth_consumer_key%3Dabc%21123"
    "%26oauth_nonce%3DuTeLPs6K5hUBWVhx"
    "%26oauth_signature_method%3DRSA-SHA256"
    "%26oauth_timestamp%3D1700000000"
    "%26oauth_version%3D1.0"
)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sign(
    key: rsa.RSAPrivateKey, *, body: bytes = BODY, url: str = URL, method: str = "POST"
) -> str:
    return oauth_header(
        method=method,
        url=url,
        body=body,
        consumer_key=CONSUMER_KEY,
        signing_key=key,
        nonce=NONCE,
        timestamp=TIMESTAMP,
    )


def _verify(
    key: rsa.RSAPrivateKey, header: str, *, body: bytes = BODY, url: str = URL, method: str = "POST"
) -> object:
    return verify_oauth_header(
        authorization=header, method=method, url=url, body=body, public_key=key.public_key()
    )


# ---------------------------------------------------------------------------- known answers


def test_empty_body_hash_is_the_sha256_of_nothing() -> None:
    assert EMPTY_BODY_HASH == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert body_hash(b"") == EMPTY_BODY_HASH


def test_body_hash_matches_mastercard_published_vector() -> None:
    # Vector from Mastercard's oauth1-signer test suites (UTF-8 body with a non-ASCII char).
    assert body_hash('{"foõ":"bar"}'.encode()) == "+Z+PWW2TJDnPvRcTgol+nKO3LT7xm8smnsg+//XMIyI="


def test_signature_base_string_known_answer() -> None:
    params = {
        "oauth_consumer_key": CONSUMER_KEY,
        "oauth_nonce": NONCE,
        "oauth_timestamp": str(TIMESTAMP),
        "oauth_signature_method": "RSA-SHA256",
        "oauth_version": "1.0",
        "oauth_body_hash": body_hash(BODY),
    }
    assert signature_base_string("post", URL, params) == EXPECTED_SBS


def test_signature_base_string_matches_mastercard_published_vector() -> None:
    # The base string Mastercard's signer libraries (Java, C#, Python, Go) assert in their tests:
    # query params mixed into the sorted param string, values not encoded before joining.
    params = {
        "oauth_consumer_key": "x" * 48,
        "oauth_nonce": "1111111111111111111",
        "oauth_signature_method": "RSA-SHA256",
        "oauth_timestamp": "1111111111",
        "oauth_version": "1.0",
        "oauth_body_hash": "h2Pd7zlzEZjZVIKB4j94UZn/xxoR3RoCjYQ9/JdadGQ=",
    }
    url = (
        "https://sandbox.api.mastercard.com/fraud/merchant/v1/termination-inquiry"
        "?Format=XML&PageOffset=0&PageLength=10"
    )
    assert signature_base_string("POST", url, params) == (
        "POST&https%3A%2F%2Fsandbox.api.mastercard.com%2Ffraud%2Fmerchant%2Fv1%2Ftermination-"
        "inquiry&Format%3DXML%26PageLength%3D10%26PageOffset%3D0%26oauth_body_hash%3Dh2Pd7zlzE"
        "ZjZVIKB4j94UZn%2FxxoR3RoCjYQ9%2FJdadGQ%3D%26oauth_consumer_key%3Dxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxx%26oauth_nonce%3D1111111111111111111%26oauth_signature_metho"
        "d%3DRSA-SHA256%26oauth_timestamp%3D1111111111%26oauth_version%3D1.0"
    )


def test_header_signature_verifies_over_the_known_base_string(key: rsa.RSAPrivateKey) -> None:
    header = _sign(key)
    params = parse_oauth_header(header)
    signature = base64.b64decode(params["oauth_signature"])
    key.public_key().verify(signature, EXPECTED_SBS.encode(), padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        key.public_key().verify(
            signature, EXPECTED_SBS.encode() + b"x", padding.PKCS1v15(), hashes.SHA256()
        )


def test_header_format_is_quoted_comma_separated_without_spaces(key: rsa.RSAPrivateKey) -> None:
    header = _sign(key)
    assert header.startswith("OAuth ")
    pairs = header[len("OAuth ") :].split(",")
    names = [pair.split("=", 1)[0] for pair in pairs]
    assert names == [
        "oauth_consumer_key",
        "oauth_nonce",
        "oauth_timestamp",
        "oauth_signature_method",
        "oauth_version",
        "oauth_body_hash",
        "oauth_signature",
    ]
    assert all(pair.split("=", 1)[1].startswith('"') and pair.endswith('"') for pair in pairs)
    assert " " not in header[len("OAuth ") :]
    assert f'oauth_body_hash="{body_hash(BODY)}"' in header
    assert 'oauth_consumer_key="abc!123"' in header
    # The signature is percent-encoded in the header: no raw base64 '+', '/' or '='.
    raw_signature = header.rsplit('oauth_signature="', 1)[1].rstrip('"')
    assert not set("+/=") & set(raw_signature)


def test_pkcs1v15_signature_is_deterministic(key: rsa.RSAPrivateKey) -> None:
    assert _sign(key) == _sign(key)


def test_signature_changes_when_one_body_byte_changes(key: rsa.RSAPrivateKey) -> None:
    changed = BODY.replace(b"3004", b"3005")
    first, second = parse_oauth_header(_sign(key)), parse_oauth_header(_sign(key, body=changed))
    assert first["oauth_body_hash"] != second["oauth_body_hash"]
    assert first["oauth_signature"] != second["oauth_signature"]


def test_generated_nonce_and_timestamp(key: rsa.RSAPrivateKey) -> None:
    nonces = {new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) == 16 and n.isalnum() and n.isascii() for n in nonces)
    header = oauth_header(
        method="POST", url=URL, body=BODY, consumer_key=CONSUMER_KEY, signing_key=key
    )
    params = _verify(key, header)
    assert abs(params.timestamp - int(dt.datetime.now(dt.UTC).timestamp())) < 5  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://API.Mastercard.COM/Test/Path", "https://api.mastercard.com/Test/Path"),
        ("https://api.mastercard.com:443/test?query=param", "https://api.mastercard.com/test"),
        ("http://api.mastercard.com:80/test", "http://api.mastercard.com/test"),
        ("https://api.mastercard.com:17443/test", "https://api.mastercard.com:17443/test"),
        ("http://127.0.0.1:8765/mastercard/cards", "http://127.0.0.1:8765/mastercard/cards"),
        ("https://api.mastercard.com", "https://api.mastercard.com/"),
        ("https://api.mastercard.com/test?query=param#fragment", "https://api.mastercard.com/test"),
    ],
)
def test_normalized_url(url: str, expected: str) -> None:
    assert normalized_url(url) == expected


@pytest.mark.parametrize("url", ["/cards/70001", "https://h.test:443.x/p"])
def test_normalized_url_refuses_a_relative_url_or_bad_port(url: str) -> None:
    with pytest.raises(OAuthError):
        normalized_url(url)


def test_query_params_go_into_the_param_string_not_the_url() -> None:
    sbs = signature_base_string("GET", "https://Api.Example.com:443/p?b=2&a=1&a=0", {"z": "9"})
    method, url, params = sbs.split("&")
    assert method == "GET"
    assert url == "https%3A%2F%2Fapi.example.com%2Fp"
    assert params == "a%3D0%26a%3D1%26b%3D2%26z%3D9"


def test_query_values_are_encoded_once_as_part_of_the_whole_string() -> None:
    # 'x%20y' in the URL stays as sent, then the whole string is encoded: '%' becomes '%25'.
    sbs = signature_base_string("GET", "https://h.test/p?q=x%20y", {})
    assert sbs.endswith("&q%3Dx%2520y")


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("Format=XML", "Format%3DXML"),
        ("WhqqH+TU95VgZMItpdq78BWb4cE=&o", "WhqqH%2BTU95VgZMItpdq78BWb4cE%3D%26o"),
        ("a~b-c.d_e", "a~b-c.d_e"),
        ("a b/c!", "a%20b%2Fc%21"),
        ("õ", "%C3%B5"),
    ],
)
def test_percent_encode_is_rfc3986(raw: str, encoded: str) -> None:
    assert percent_encode(raw) == encoded


# ---------------------------------------------------------------------------- verification


def test_verify_accepts_a_genuine_header(key: rsa.RSAPrivateKey) -> None:
    params = _verify(key, _sign(key))
    assert params.consumer_key == CONSUMER_KEY  # type: ignore[attr-defined]
    assert params.nonce == NONCE  # type: ignore[attr-defined]
    assert params.timestamp == TIMESTAMP  # type: ignore[attr-defined]


def test_verify_accepts_an_equivalent_url_spelling(key: rsa.RSAPrivateKey) -> None:
    header = _sign(key, url=URL)
    _verify(
        key, header, url=URL.replace("sandbox.api.mastercard.com", "SANDBOX.api.mastercard.com:443")
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": BODY + b" "}, "body_hash does not match"),
        ({"url": URL.replace("70001", "70002")}, "does not verify"),
        ({"url": URL + "?extra=1"}, "does not verify"),
        ({"method": "PUT"}, "does not verify"),
    ],
)
def test_verify_rejects_a_changed_request(
    key: rsa.RSAPrivateKey, change: dict[str, object], message: str
) -> None:
    with pytest.raises(OAuthError, match=message):
        _verify(key, _sign(key), **change)  # type: ignore[arg-type]


def test_verify_rejects_another_key(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(OAuthError, match="does not verify"):
        _verify(key, _sign(other_key))


def test_verify_rejects_a_tampered_parameter(key: rsa.RSAPrivateKey) -> None:
    header = _sign(key).replace(f'oauth_nonce="{NONCE}"', 'oauth_nonce="AAAAAAAAAAAAAAAA"')
    with pytest.raises(OAuthError, match="does not verify"):
        _verify(key, header)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h: h.replace("OAuth ", "Bearer "), "not an OAuth header"),
        (lambda h: h.replace('oauth_version="1.0",', ""), "missing OAuth parameter"),
        (lambda h: h.replace("RSA-SHA256", "HMAC-SHA1"), "oauth_signature_method"),
        (lambda h: h.replace('oauth_version="1.0"', 'oauth_version="2.0"'), "oauth_version"),
        (lambda h: h.replace(f'"{TIMESTAMP}"', '"soon"'), "timestamp"),
        (lambda h: h + ',oauth_nonce="x"', "repeated"),
        (lambda h: h.replace('oauth_nonce="', "oauth_nonce="), "malformed"),
        (lambda h: h.rsplit('oauth_signature="', 1)[0] + 'oauth_signature="%%%"', "base64"),
    ],
)
def test_verify_rejects_a_malformed_header(
    key: rsa.RSAPrivateKey, mutate: object, message: str
) -> None:
    header = mutate(_sign(key))  # type: ignore[operator]
    with pytest.raises(OAuthError, match=message):
        _verify(key, header)


# Module level: hypothesis runs the test many times, one key serves them all.
_HYPOTHESIS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@settings(max_examples=40, deadline=None)
@given(
    body=st.binary(max_size=512),
    query=st.lists(
        st.tuples(
            st.from_regex(r"[a-z]{1,5}", fullmatch=True),
            st.from_regex(r"[A-Za-z0-9]{0,5}", fullmatch=True),
        ),
        max_size=4,
    ),
)
def test_any_signed_request_verifies_and_any_other_body_does_not(
    body: bytes, query: list[tuple[str, str]]
) -> None:
    signer = _HYPOTHESIS_KEY
    url = URL + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    header = oauth_header(
        method="POST", url=url, body=body, consumer_key=CONSUMER_KEY, signing_key=signer
    )
    verify_oauth_header(
        authorization=header, method="POST", url=url, body=body, public_key=signer.public_key()
    )
    with pytest.raises(OAuthError):
        verify_oauth_header(
            authorization=header,
            method="POST",
            url=url,
            body=body + b"\0",
            public_key=signer.public_key(),
        )


# ---------------------------------------------------------------------------- PKCS#12 loading


def _cert(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(private_key, hashes.SHA256())
    )


def _p12(
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None,
    password: str,
    *,
    cert_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        name=b"k", key=private_key, cert=_cert(cert_key), cas=None, encryption_algorithm=encryption
    )


def test_load_pkcs12_signing_key_opens_with_the_password(key: rsa.RSAPrivateKey) -> None:
    loaded = load_pkcs12_signing_key(
        _p12(key, "keystorepassword", cert_key=key), "keystorepassword"
    )
    assert loaded.private_numbers() == key.private_numbers()


def test_load_pkcs12_signing_key_without_a_password(key: rsa.RSAPrivateKey) -> None:
    loaded = load_pkcs12_signing_key(_p12(key, "", cert_key=key), "")
    assert loaded.public_key().public_numbers() == key.public_key().public_numbers()


def test_load_pkcs12_wrong_password_is_a_clear_error(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="password is wrong") as info:
        load_pkcs12_signing_key(_p12(key, "right-password", cert_key=key), "wrong-password")
    assert "wrong-password" not in str(info.value)
    assert "right-password" not in str(info.value)


def test_load_pkcs12_garbage_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not PKCS#12"):
        load_pkcs12_signing_key(b"-----BEGIN CERTIFICATE-----\nnope\n", "x")


def test_load_pkcs12_without_a_key_is_a_clear_error(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="holds no private key"):
        load_pkcs12_signing_key(_p12(None, "pw", cert_key=key), "pw")


def test_load_pkcs12_with_an_ec_key_is_refused() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValueError, match="not RSA"):
        load_pkcs12_signing_key(_p12(ec_key, "pw", cert_key=ec_key), "pw")
