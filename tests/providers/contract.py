"""The contract every provider module passes: each upstream outcome becomes the right provider error.

A provider's test module subclasses `ProviderContract` and supplies a `harness` fixture returning a
`ContractHarness`. Calls are intercepted by `responses`; an unmatched request fails the test.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass

import pytest
import requests
import responses

from providers.base import CardRef, PlainCvv, Provider
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
            body=harness.success_body("9173"),
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
