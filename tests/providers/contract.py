"""The contract every provider module passes: each upstream outcome becomes the right provider error,
and every option a binding offers is one its validation accepts.

A provider's test module subclasses `ProviderContract` and supplies a `harness` fixture returning a
`ContractHarness` (parametrise the fixture over a binding's options to run the contract under each).
Calls are intercepted by `responses`; an unmatched request fails the test.
"""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import responses
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from providers.base import CardRef, ClientKey, PlainCvv, Provider, ProviderSealedCvv
from providers.errors import (
    CardNotFound,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUndecryptable,
)
from providers.http import HttpDoor, HttpPolicy

BASE_URL = "https://provider.test/api"
# A marker placed in every error body; it must never appear in an error we raise.
BODY_MARKER = "BODY-MARKER-7Q9"


def door(**overrides: object) -> HttpDoor:
    """A door with the test policy (small body limit so the oversize test stays cheap)."""
    policy = HttpPolicy(**{"max_body_bytes": 64 * 1024, "connect_retries": 0, **overrides})  # type: ignore[arg-type]
    return HttpDoor(name="contract", policy=policy)


@dataclass
class CvvCall:
    method: str
    url: str


class ContractHarness(ABC):
    """How to drive one provider through the contract."""

    card: CardRef

    @abstractmethod
    def make_provider(self, base_url: str, http: HttpDoor) -> Provider:
        """A provider bound to `base_url` with working test credentials."""

    @abstractmethod
    def cvv_call(self, base_url: str) -> CvvCall:
        """The request that fetches the CVV for `self.card`."""

    @abstractmethod
    def success_body(self, cvv: str) -> bytes:
        """The provider's 200 body carrying `cvv` (encrypted if the provider encrypts)."""

    def success_body_to_another_key(self, cvv: str) -> bytes | None:
        """The 200 body carrying `cvv` encrypted to a key that is not the binding's, or None when
        the provider's answers are not encrypted."""
        return None

    def not_found(self) -> tuple[int, bytes]:
        """Status and body the provider sends for an unknown card."""
        return 404, json.dumps({"message": BODY_MARKER}).encode()

    def prepare(self, rsps: responses.RequestsMock, base_url: str) -> None:  # noqa: B027
        """Register any calls made before the CVV call (e.g. a token endpoint); none by default."""

    def path_check_body(self, cvv: str) -> bytes:
        """The 200 body answering the connection check's CVV request (made with a throwaway
        client key where the provider can seal to one); the success body by default."""
        return self.success_body(cvv)

    def sealed_success_body(self, cvv: str, client_key: rsa.RSAPublicKey) -> bytes | None:
        """The 200 body carrying `cvv` as the provider encrypts it to the viewer's `client_key`
        under the harness's options, or None when this binding does not have it do that."""
        return None

    def binding_secrets(self) -> Mapping[str, str | bytes] | None:
        """Credentials and keys that pass the provider's `validate_secrets`, or None to skip the
        option checks."""
        return None

    def binding_options(self) -> Mapping[str, Any]:
        """The options the harness runs under (merged over each option check)."""
        return {}


# How a viewer opens each scheme a provider may seal to its key: the paddings a browser's WebCrypto
# has (RSA-OAEP with SHA-256 or SHA-1, the same hash in MGF1), written out independently of the
# provider's own table. The SHA-1 entry mirrors a choice Mastercard may have made, not ours.
_SHA1 = hashes.SHA1()  # noqa: S303
VIEWER_OPENERS = {
    "rsa-oaep-256": padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
    ),
    "rsa-oaep-sha1": padding.OAEP(mgf=padding.MGF1(_SHA1), algorithm=_SHA1, label=None),
}
_WEBCRYPTO_HASHES = {"rsa-oaep-256": "SHA-256", "rsa-oaep-sha1": "SHA-1"}


def _opened(sealed: ProviderSealedCvv, key: rsa.RSAPrivateKey) -> str:
    """The CVV in `sealed`, opened as a viewer would from its scheme alone."""
    name, _, encoding = sealed.scheme.rpartition("-")
    hexed = encoding == "hex"
    raw = bytes.fromhex(sealed.ciphertext) if hexed else base64.b64decode(sealed.ciphertext)
    return key.decrypt(raw, VIEWER_OPENERS[name]).decode("ascii")


def _assert_no_body(exc: ProviderError) -> None:
    text = " ".join([str(exc), repr(exc), exc.detail, exc.message, repr(vars(exc))])
    assert BODY_MARKER not in text
    assert "9173" not in text


class ProviderContract:
    """Mix into a test class that provides a `harness` fixture."""

    @pytest.fixture
    def rsps(self):  # type: ignore[no-untyped-def]
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            yield mock

    def _run(
        self, harness: ContractHarness, rsps: responses.RequestsMock, **resp: object
    ) -> object:
        harness.prepare(rsps, BASE_URL)
        call = harness.cvv_call(BASE_URL)
        rsps.add(call.method, call.url, **resp)  # type: ignore[arg-type]
        provider = harness.make_provider(BASE_URL, door())
        return provider.fetch_cvv(card=harness.card)

    def _check_path(
        self, harness: ContractHarness, rsps: responses.RequestsMock, **resp: object
    ) -> object:
        harness.prepare(rsps, BASE_URL)
        call = harness.cvv_call(BASE_URL)
        rsps.add(call.method, call.url, **resp)  # type: ignore[arg-type]
        provider = harness.make_provider(BASE_URL, door())
        return provider.check_path(test_card=harness.card)

    def test_success_returns_the_cvv_wrapped(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        result = self._run(
            harness,
            rsps,
            status=200,
            body=harness.success_body("9173"),
            content_type="application/json",
        )
        assert isinstance(result, PlainCvv)
        assert result.value.reveal() == "9173"
        assert "9173" not in repr(result)

    def test_auth_failure_is_our_credentials(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderAuthError) as info:
            self._run(harness, rsps, status=401, json={"message": BODY_MARKER})
        _assert_no_body(info.value)

    def test_unknown_card_is_card_not_found(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        status, body = harness.not_found()
        with pytest.raises(CardNotFound) as info:
            self._run(harness, rsps, status=status, body=body, content_type="application/json")
        _assert_no_body(info.value)

    def test_429_is_rate_limited_with_capped_retry_after(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderRateLimited) as info:
            self._run(
                harness,
                rsps,
                status=429,
                json={"message": BODY_MARKER},
                headers={"Retry-After": "3600"},
            )
        assert info.value.retry_after == 60
        _assert_no_body(info.value)

    def test_5xx_is_server_error(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderServerError) as info:
            self._run(harness, rsps, status=503, json={"message": BODY_MARKER})
        _assert_no_body(info.value)

    def test_read_timeout_is_timeout(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderTimeout):
            self._run(harness, rsps, body=requests.exceptions.ReadTimeout("slow"))

    def test_connection_refused_is_unavailable(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderUnavailable):
            self._run(harness, rsps, body=requests.exceptions.ConnectionError("refused"))

    def test_malformed_body_is_bad_response(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderBadResponse) as info:
            self._run(
                harness,
                rsps,
                status=200,
                body=b"<html>" + BODY_MARKER.encode(),
                content_type="application/json",
            )
        _assert_no_body(info.value)

    def test_cvv_not_digits_is_bad_response(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderBadResponse):
            self._run(
                harness,
                rsps,
                status=200,
                body=harness.success_body("12a"),
                content_type="application/json",
            )

    def test_oversized_body_is_bad_response(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderBadResponse):
            self._run(
                harness, rsps, status=200, body=b"x" * (65 * 1024), content_type="application/json"
            )

    def test_redirect_is_refused(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderBadResponse):
            self._run(harness, rsps, status=302, headers={"Location": "https://evil.test/"})

    # ------------------------------------------------------------------ the connection check's path

    def test_path_check_with_a_test_card_makes_the_cvv_request_and_keeps_no_cvv(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        proof = self._check_path(
            harness,
            rsps,
            status=200,
            body=harness.path_check_body("9173"),
            content_type="application/json",
        )
        call = harness.cvv_call(BASE_URL)
        assert [c.request.url for c in rsps.calls][-1] == call.url
        assert proof.unproved == ""  # type: ignore[attr-defined]
        assert "whole reveal path works" in proof.proved  # type: ignore[attr-defined]
        assert "9173" not in repr(proof)

    def test_path_check_fails_as_the_cvv_request_fails(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderAuthError) as info:
            self._check_path(harness, rsps, status=401, json={"message": BODY_MARKER})
        _assert_no_body(info.value)

    def test_an_answer_encrypted_to_another_key_is_undecryptable(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        body = harness.success_body_to_another_key("9173")
        if body is None:
            pytest.skip("this provider's answers are not encrypted")
        with pytest.raises(ProviderUndecryptable) as info:
            self._check_path(harness, rsps, status=200, body=body, content_type="application/json")
        assert info.value.code == "provider_bad_response"  # cardholders see a bad answer
        _assert_no_body(info.value)

    def test_card_lock_is_implemented_where_declared_and_refused_elsewhere(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        provider = harness.make_provider(BASE_URL, door())
        if provider.supports_card_lock:
            assert type(provider).lock_card is not Provider.lock_card
            return
        with pytest.raises(ProviderConfigError):
            provider.lock_card(card=harness.card, reason="reported by the cardholder")
        assert len(rsps.calls) == 0

    # ------------------------------------------------------------------ options and sealing

    def test_a_sealed_answer_opens_with_the_viewers_key_as_its_scheme_says(
        self, harness: ContractHarness, rsps: responses.RequestsMock
    ) -> None:
        viewer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        body = harness.sealed_success_body("9173", viewer.public_key())
        if body is None:
            pytest.skip("this binding does not have the provider seal to the viewer's key")
        harness.prepare(rsps, BASE_URL)
        call = harness.cvv_call(BASE_URL)
        rsps.add(call.method, call.url, status=200, body=body, content_type="application/json")
        provider = harness.make_provider(BASE_URL, door())
        result = provider.fetch_cvv(card=harness.card, client_key=ClientKey(viewer.public_key()))
        assert isinstance(result, ProviderSealedCvv)
        assert _opened(result, viewer) == "9173"
        # The page makes its WebCrypto key with the hash the scheme needs.
        name = result.scheme.rpartition("-")[0]
        assert type(provider).client_key_hash(harness.binding_options()) == _WEBCRYPTO_HASHES[name]

    def test_every_choice_an_option_offers_passes_the_bindings_validation(
        self, harness: ContractHarness
    ) -> None:
        secrets = harness.binding_secrets()
        if secrets is None:
            pytest.skip("the harness gives no binding secrets")
        cls = type(harness.make_provider(BASE_URL, door()))
        assert cls.validate_secrets(secrets, harness.binding_options()) == {}
        for spec in cls.option_fields:
            if spec.kind != "choice":
                continue
            assert spec.default in spec.choices, spec.name
            for choice in spec.choices:
                options = {**harness.binding_options(), spec.name: choice}
                assert spec.name not in cls.validate_secrets(secrets, options), (spec.name, choice)

    def test_a_value_no_option_offers_is_refused_by_the_bindings_validation(
        self, harness: ContractHarness
    ) -> None:
        secrets = harness.binding_secrets()
        if secrets is None:
            pytest.skip("the harness gives no binding secrets")
        cls = type(harness.make_provider(BASE_URL, door()))
        for spec in cls.option_fields:
            if spec.kind != "choice":
                continue
            options = {**harness.binding_options(), spec.name: "not-offered"}
            errors = cls.validate_secrets(secrets, options)
            assert spec.name in errors, spec.name
            assert "not-offered" not in errors[spec.name]
