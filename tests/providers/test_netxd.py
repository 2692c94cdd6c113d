"""NetXD provider: the shared contract, the signature over the exact payload bytes sent, the
JSON-RPC error mapping, key validation, and the sandbox emulator end to end over loopback HTTP."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

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
    ProviderUnavailable,
)
from providers.http import HttpDoor, HttpPolicy, HttpResponse
from providers.netxd import PAYLOAD_SERIALISATIONS, NetxdProvider
from providers.sandbox.core import SandboxCard, SandboxRequest
from providers.sandbox.netxd import NetxdEmulator, raw_payload
from providers.sandbox.server import RunningSandbox
from providers.sensitive import Sensitive
from tests.providers.contract import (
    BASE_URL,
    BODY_MARKER,
    ContractHarness,
    CvvCall,
    ProviderContract,
    door,
)

REQUEST_ID = "req-0001"
REFERENCE = "ref-0001"
CVV_URL = f"{BASE_URL}/cardv2"
CARD = CardRef(
    reference={"customer_id": "CUST-1", "account_number": "1234567890", "card_id": "card-1"},
    expiry_month=4,
    expiry_year=2030,
)
SECRETS: dict[str, str] = {
    "username": "ops@issuer.test",
    "credential_secret": "cred-secret-77",
    "api_key": "api-key-55",
    "key_id": "key-id-33",
}


def pem(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
    encryption: serialization.KeySerializationEncryption | None = None,
) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, fmt, encryption or serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def client_key() -> ec.EllipticCurvePrivateKey:
    """The binding's signing key, generated for this run."""
    return ec.generate_private_key(ec.SECP256R1())


def binding(base_url: str, secrets: Mapping[str, str | bytes], **options: Any) -> BindingConfig:
    return BindingConfig(
        key="netxd-test",
        base_url=base_url,
        secrets={name: Sensitive(value) for name, value in secrets.items()},
        options=options,
    )


def secrets_with(
    key: ec.EllipticCurvePrivateKey, **overrides: str | bytes
) -> dict[str, str | bytes]:
    return {**SECRETS, "signing_key": pem(key), **overrides}


class PinnedIdsProvider(NetxdProvider):
    """Fixed JSON-RPC id and reference, so a canned answer can echo them."""

    def _new_ids(self) -> tuple[str, str]:
        return REQUEST_ID, REFERENCE


def success_body(cvv: str, *, request_id: str = REQUEST_ID, reference: str = REFERENCE) -> bytes:
    """The documented GET_CVV success shape."""
    return json.dumps(
        {
            "id": request_id,
            "result": {
                "card": {"cardId": "card-1", "allowAtm": True, "cvv": cvv, "isReplace": False},
                "api": {
                    "type": "GET_CVV_ACK",
                    "reference": "srv-1",
                    "dateCreated": 1700000000,
                    "originalReference": reference,
                },
            },
        }
    ).encode()


def error_body(code: str, message: str, *, request_id: str = REQUEST_ID) -> bytes:
    return json.dumps({"id": request_id, "error": {"code": code, "message": message}}).encode()


class NetxdHarness(ContractHarness):
    def __init__(self, key: ec.EllipticCurvePrivateKey, serialisation: str = "compact") -> None:
        self.key = key
        self.serialisation = serialisation
        self.card = CARD

    def binding_secrets(self) -> dict[str, str | bytes]:
        return secrets_with(self.key)

    def binding_options(self) -> dict[str, Any]:
        return {"payload_serialisation": self.serialisation}

    def make_provider(self, base_url: str, http: HttpDoor) -> NetxdProvider:
        return PinnedIdsProvider(
            binding(base_url, secrets_with(self.key), **self.binding_options()), http
        )

    def cvv_call(self, base_url: str) -> CvvCall:
        return CvvCall("POST", f"{base_url}/cardv2")

    def success_body(self, cvv: str) -> bytes:
        return success_body(cvv)

    def not_found(self) -> tuple[int, bytes]:
        # The ledger reports an unknown card as a JSON-RPC error with HTTP 200.
        return 200, error_body("1010", f"CARD NOT FOUND {BODY_MARKER}")


class TestNetxdContract(ProviderContract):
    @pytest.fixture(params=PAYLOAD_SERIALISATIONS)
    def harness(
        self, request: pytest.FixtureRequest, client_key: ec.EllipticCurvePrivateKey
    ) -> NetxdHarness:
        return NetxdHarness(client_key, request.param)


@pytest.fixture
def rsps() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


Sent = list[requests.PreparedRequest]


def answer(
    rsps: responses.RequestsMock, body: bytes | Callable[[dict[str, Any]], bytes], status: int = 200
) -> Sent:
    """Answer POST /cardv2 with `body` (or body(request JSON)); return the requests sent."""
    sent: Sent = []

    def reply(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        sent.append(request)
        raw = request.body if isinstance(request.body, bytes) else b""
        text = body(json.loads(raw)) if callable(body) else body
        return status, {"Content-Type": "application/json"}, text

    rsps.add_callback("POST", CVV_URL, callback=reply)
    return sent


def echoing(cvv: str) -> Callable[[dict[str, Any]], bytes]:
    """A success answer that echoes whatever id and reference the request carried."""
    return lambda req: success_body(
        cvv, request_id=req["id"], reference=req["params"]["payload"]["reference"]
    )


def fetch(
    key: ec.EllipticCurvePrivateKey,
    *,
    provider_class: type[NetxdProvider] = PinnedIdsProvider,
    secrets: Mapping[str, str | bytes] | None = None,
    **options: Any,
) -> PlainCvv:
    provider = provider_class(binding(BASE_URL, secrets or secrets_with(key), **options), door())
    result = provider.fetch_cvv(card=CARD)
    assert isinstance(result, PlainCvv)
    return result


def payload_span(body: bytes) -> bytes:
    """The payload's bytes in a sent body, found independently of the emulator's scanner."""
    text = body.decode("ascii")
    marker = '"params":{"payload":'
    start = text.index(marker) + len(marker)
    _, end = json.JSONDecoder().raw_decode(text, start)
    return body[start:end]


def verify(key: ec.EllipticCurvePrivateKey, signature_b64: str, data: bytes) -> None:
    key.public_key().verify(
        base64.b64decode(signature_b64, validate=True), data, ec.ECDSA(hashes.SHA256())
    )


# ---------------------------------------------------------------------------- the signed request


class TestSignedRequest:
    def test_signature_verifies_over_exactly_the_payload_bytes_in_the_body(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        sent = answer(rsps, success_body("123"))
        fetch(client_key)
        body = sent[0].body
        assert isinstance(body, bytes)
        signed = payload_span(body)
        verify(client_key, json.loads(body)["params"]["api"]["signature"], signed)
        # The span is the compact serialisation, and the emulator's scanner finds the same bytes.
        assert signed == json.dumps(json.loads(signed), separators=(",", ":")).encode()
        assert raw_payload(body) == signed

    def test_signature_does_not_verify_over_a_reserialised_payload(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        sent = answer(rsps, success_body("123"))
        fetch(client_key)
        document = json.loads(sent[0].body or b"")
        spaced = json.dumps(document["params"]["payload"]).encode()  # ", " and ": " separators
        with pytest.raises(InvalidSignature):
            verify(client_key, document["params"]["api"]["signature"], spaced)

    def test_canonical_serialisation_signs_and_sends_the_payload_with_sorted_keys(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        sent = answer(rsps, success_body("123"))
        fetch(client_key, payload_serialisation="canonical")
        body = sent[0].body
        assert isinstance(body, bytes)
        signed = payload_span(body)
        verify(client_key, json.loads(body)["params"]["api"]["signature"], signed)
        payload = json.loads(signed)
        assert list(payload) == sorted(payload)
        assert signed == json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()

    def test_compact_serialisation_keeps_the_documented_field_order(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        sent = answer(rsps, success_body("123"))
        fetch(client_key)  # the default
        payload = json.loads(payload_span(sent[0].body or b""))
        assert list(payload) == [
            "reference",
            "product",
            "program",
            "channel",
            "transactionType",
            "customerId",
            "accountNumber",
            "cardId",
        ]

    def test_an_unknown_serialisation_fails_before_any_call(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderConfigError) as info:
            fetch(client_key, payload_serialisation="pretty")
        assert "compact or canonical" in info.value.detail
        assert len(rsps.calls) == 0

    def test_envelope_carries_method_id_payload_credential_and_keys(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        sent = answer(rsps, success_body("123"))
        fetch(client_key)
        request = sent[0]
        document = json.loads(request.body or b"")
        assert document["method"] == "ledger.CARD.request"
        assert document["id"] == REQUEST_ID
        assert document["params"]["payload"] == {
            "reference": REFERENCE,
            "product": "DEFAULT",
            "program": "DEFAULT",
            "channel": "VISA_DPS",
            "transactionType": "GET_CVV",
            "customerId": "CUST-1",
            "accountNumber": "1234567890",
            "cardId": "card-1",
        }
        api = document["params"]["api"]
        assert (
            api["credential"]
            == "Basic " + base64.b64encode(b"ops@issuer.test:cred-secret-77").decode()
        )
        assert (api["apiKey"], api["keyId"]) == ("api-key-55", "key-id-33")
        assert request.headers["Content-Type"] == "application/json"
        assert "Signature" not in request.headers

    def test_product_and_program_come_from_options(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        sent = answer(rsps, success_body("123"))
        fetch(client_key, product="GOLD", program="PROG-7")
        payload = json.loads(sent[0].body or b"")["params"]["payload"]
        assert (payload["product"], payload["program"]) == ("GOLD", "PROG-7")

    def test_each_call_gets_a_fresh_id_and_reference(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        sent = answer(rsps, echoing("123"))
        fetch(client_key, provider_class=NetxdProvider)
        fetch(client_key, provider_class=NetxdProvider)
        first, second = (json.loads(r.body or b"") for r in sent)
        assert first["id"] != second["id"]
        assert first["params"]["payload"]["reference"] != second["params"]["payload"]["reference"]
        assert first["params"]["api"]["signature"] != second["params"]["api"]["signature"]

    def test_credential_source_api_key_puts_the_api_key_after_the_colon(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        sent = answer(rsps, success_body("123"))
        secrets = secrets_with(client_key)
        del secrets["credential_secret"]
        fetch(client_key, secrets=secrets, credential_source="api_key")
        credential = json.loads(sent[0].body or b"")["params"]["api"]["credential"]
        assert base64.b64decode(credential.removeprefix("Basic ")) == b"ops@issuer.test:api-key-55"

    def test_signature_header_when_enabled_signs_the_same_payload(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        sent = answer(rsps, success_body("123"))
        fetch(client_key, send_signature_header=True)
        body = sent[0].body or b""
        header = sent[0].headers["Signature"]
        fields = dict(part.split("=", 1) for part in header.split(","))
        assert fields["keyId"] == "key-id-33"
        assert fields["algorithm"] == "ecdsa-sha256"
        assert fields["signature"] == json.loads(body)["params"]["api"]["signature"]
        verify(client_key, fields["signature"], payload_span(body))

    def test_unusable_signing_key_fails_before_any_call(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        sent = answer(rsps, success_body("123"))
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with pytest.raises(ProviderConfigError) as info:
            fetch(client_key, secrets=secrets_with(client_key, signing_key=pem(rsa_key)))
        assert "P-256" in info.value.detail
        assert sent == []

    def test_malformed_card_reference_fails_before_any_call(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        sent = answer(rsps, success_body("123"))
        provider = PinnedIdsProvider(binding(BASE_URL, secrets_with(client_key)), door())
        bad = CardRef(
            reference={"customer_id": "C-1", "account_number": "1", "card_id": '"x'},
            expiry_month=1,
            expiry_year=2030,
        )
        with pytest.raises(ProviderConfigError, match="card_id"):
            provider.fetch_cvv(card=bad)
        assert sent == []


# ---------------------------------------------------------------------------- channel


class TestChannel:
    @pytest.mark.parametrize(
        ("options", "wire"),
        [
            ({}, "VISA_DPS"),
            ({"channel": "PULSE"}, "PULSE"),
            ({"channel": "VISA_DPS"}, "VISA_DPS"),
            ({"channel": "visadps"}, "VISA_DPS"),
            ({"channel": "VISA_DPS", "channel_spelling": "VISADPS"}, "VISADPS"),
            ({"channel": "PULSE", "channel_spelling": "VISADPS"}, "PULSE"),
        ],
    )
    def test_channel_sent_as_configured(
        self,
        client_key: ec.EllipticCurvePrivateKey,
        rsps: responses.RequestsMock,
        options: dict[str, str],
        wire: str,
    ) -> None:
        sent = answer(rsps, success_body("123"))
        fetch(client_key, **options)
        assert json.loads(sent[0].body or b"")["params"]["payload"]["channel"] == wire

    @pytest.mark.parametrize(
        "options", [{"channel": "MASTERCARD"}, {"channel_spelling": "VISA-DPS"}]
    )
    def test_invalid_channel_fails_before_any_call(
        self,
        client_key: ec.EllipticCurvePrivateKey,
        rsps: responses.RequestsMock,
        options: dict[str, str],
    ) -> None:
        sent = answer(rsps, success_body("123"))
        with pytest.raises(ProviderConfigError, match=r"PULSE|VISADPS"):
            fetch(client_key, **options)
        assert sent == []

    def test_validate_secrets_names_the_valid_channels(
        self, client_key: ec.EllipticCurvePrivateKey
    ) -> None:
        errors = NetxdProvider.validate_secrets(
            secrets_with(client_key), {"channel": "AMEX", "channel_spelling": "VISA DPS"}
        )
        assert set(errors) == {"channel", "channel_spelling"}
        assert "PULSE" in errors["channel"]
        assert "VISA_DPS" in errors["channel"]


# ---------------------------------------------------------------------------- the answer


class TestAnswer:
    def test_error_is_read_before_result(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        both = json.loads(success_body("123"))
        both["error"] = {"code": "1010", "message": "CARD NOT FOUND"}
        answer(rsps, json.dumps(both).encode())
        with pytest.raises(CardNotFound):
            fetch(client_key)

    @pytest.mark.parametrize(
        ("code", "message", "expected"),
        [
            ("1004", "SIGNATURE VERIFICATION FAILED", ProviderAuthError),
            ("1002", "INVALID CREDENTIAL", ProviderAuthError),
            ("1003", "INVALID API KEY OR KEY ID", ProviderAuthError),
            ("401", "Unauthorized", ProviderAuthError),
            ("1010", "CARD NOT FOUND", CardNotFound),
            ("CARD_NOT_FOUND", "", CardNotFound),
            ("2001", "Customer does not exist", CardNotFound),
            ("-32601", "METHOD NOT FOUND", ProviderBadResponse),
            ("-32602", "CARD ID NOT FOUND IN PARAMS", ProviderBadResponse),
            ("1101", "INVALID CHANNEL", ProviderBadResponse),
            ("1999", "REQUEST COULD NOT BE PROCESSED", ProviderBadResponse),
            ("9", "TOO MANY REQUESTS", ProviderRateLimited),
        ],
    )
    def test_http_200_error_maps_to_our_taxonomy_without_its_message(
        self,
        client_key: ec.EllipticCurvePrivateKey,
        rsps: responses.RequestsMock,
        code: str,
        message: str,
        expected: type[ProviderError],
    ) -> None:
        answer(rsps, error_body(code, f"{message} {BODY_MARKER}".strip()))
        with pytest.raises(ProviderError) as info:
            fetch(client_key)
        assert type(info.value) is expected
        assert info.value.provider_code == code
        assert BODY_MARKER not in repr(vars(info.value)) + str(info.value)

    def test_binding_can_pin_error_codes_the_catalogue_does_not_publish(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        answer(rsps, error_body("E42", "oops"))
        with pytest.raises(CardNotFound):
            fetch(client_key, not_found_codes="E1, E42")
        answer(rsps, error_body("E77", "CARD NOT FOUND"))
        with pytest.raises(ProviderAuthError):
            fetch(client_key, auth_error_codes="E77")

    def test_unsafe_upstream_code_is_not_kept(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        answer(rsps, error_body("<script>" + "x" * 60, "CARD NOT FOUND"))
        with pytest.raises(CardNotFound) as info:
            fetch(client_key)
        assert info.value.provider_code == ""

    def test_error_with_a_4xx_status_is_still_mapped(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        answer(rsps, error_body("1010", "CARD NOT FOUND"), status=400)
        with pytest.raises(CardNotFound):
            fetch(client_key)

    def test_status_wins_over_the_body_for_401(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        answer(rsps, error_body("1010", "CARD NOT FOUND"), status=401)
        with pytest.raises(ProviderAuthError):
            fetch(client_key)

    def test_bare_404_is_a_wrong_url_not_an_unknown_card(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        answer(rsps, b"<html>Not Found</html>", status=404)
        with pytest.raises(ProviderConfigError, match="404"):
            fetch(client_key)

    @pytest.mark.parametrize(
        ("mutate", "reason"),
        [
            (lambda d: d.update(id="someone-else"), "id does not match"),
            (lambda d: d.pop("id"), "id does not match"),
            (lambda d: d["result"]["api"].update(originalReference="other"), "originalReference"),
            (lambda d: d["result"]["api"].update(type="GET_CARD_DETAILS_ACK"), "GET_CVV_ACK"),
            (lambda d: d["result"].update(api="x"), "result.api"),
            (lambda d: d["result"].pop("card"), "result.card"),
            (lambda d: d.pop("result"), "neither error nor result"),
            (lambda d: d.update(error="boom"), "not an object"),
        ],
    )
    def test_answer_not_for_this_request_is_bad_response(
        self,
        client_key: ec.EllipticCurvePrivateKey,
        rsps: responses.RequestsMock,
        mutate: Callable[[dict[str, Any]], object],
        reason: str,
    ) -> None:
        document = json.loads(success_body("123"))
        mutate(document)
        answer(rsps, json.dumps(document).encode())
        with pytest.raises(ProviderBadResponse, match=reason):
            fetch(client_key)

    @pytest.mark.parametrize("body", [b"[1,2,3]", b"null", b"[" * 100_000, b'{"id":"req-0001"'])
    def test_non_object_body_is_bad_response_and_keeps_no_body(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock, body: bytes
    ) -> None:
        answer(rsps, body)
        with pytest.raises(ProviderBadResponse) as info:
            fetch(client_key)
        # A JSONDecodeError holds the whole body in `.doc`; it must not ride along as a cause.
        assert info.value.__cause__ is None
        assert info.value.__context__ is None

    def test_ack_without_original_reference_is_accepted(
        self, client_key: ec.EllipticCurvePrivateKey, rsps: responses.RequestsMock
    ) -> None:
        document = json.loads(success_body("0042"))
        del document["result"]["api"]
        answer(rsps, json.dumps(document).encode())
        assert fetch(client_key).value.reveal() == "0042"


# ---------------------------------------------------------------------------- key validation


class TestLockCard:
    """UPDATE_STATUS / LOCK: the same signed envelope as GET_CVV, never resent."""

    @staticmethod
    def lock_body(*, request_id: str = REQUEST_ID, reference: str = REFERENCE) -> bytes:
        return json.dumps(
            {
                "id": request_id,
                "result": {
                    "card": {"cardId": "card-1", "status": "TEMPRORY_BLOCKED_BY_CLIENT"},
                    "api": {"type": "UPDATE_STATUS_ACK", "originalReference": reference},
                },
            }
        ).encode()

    @staticmethod
    def lock(key: ec.EllipticCurvePrivateKey) -> None:
        provider = PinnedIdsProvider(binding(BASE_URL, secrets_with(key)), door())
        provider.lock_card(card=CARD, reason="not sent")

    def test_lock_sends_a_signed_update_status_lock(
        self, rsps: responses.RequestsMock, client_key: ec.EllipticCurvePrivateKey
    ) -> None:
        sent = answer(rsps, self.lock_body())

        self.lock(client_key)

        (request,) = sent
        body = request.body if isinstance(request.body, bytes) else b""
        payload = json.loads(payload_span(body))
        assert payload == {
            "reference": REFERENCE,
            "product": "DEFAULT",
            "program": "DEFAULT",
            "channel": "VISA_DPS",
            "transactionType": "UPDATE_STATUS",
            "customerId": "CUST-1",
            "accountNumber": "1234567890",
            "cardId": "card-1",
            "statusAction": "LOCK",
        }
        verify(client_key, json.loads(body)["params"]["api"]["signature"], payload_span(body))
        assert b"not sent" not in body  # no documented field carries a reason

    def test_a_lock_whose_connection_failed_is_not_resent(
        self, rsps: responses.RequestsMock, client_key: ec.EllipticCurvePrivateKey
    ) -> None:
        rsps.add("POST", CVV_URL, body=requests.exceptions.ConnectionError("refused"))
        provider = PinnedIdsProvider(
            binding(BASE_URL, secrets_with(client_key)), door(connect_retries=2)
        )

        with pytest.raises(ProviderUnavailable):
            provider.lock_card(card=CARD, reason="r")
        assert len(rsps.calls) == 1

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            (error_body("1105", f"STATUS ACTION NOT ALLOWED {BODY_MARKER}"), ProviderBadResponse),
            (error_body("1010", f"CARD NOT FOUND {BODY_MARKER}"), CardNotFound),
            (error_body("1004", f"SIGNATURE VERIFICATION FAILED {BODY_MARKER}"), ProviderAuthError),
            (success_body("123"), ProviderBadResponse),  # a GET_CVV ack is not our answer
            (b'{"id":"req-0001","result":"' + BODY_MARKER.encode() + b'"}', ProviderBadResponse),
        ],
    )
    def test_lock_refusals_map_to_errors_without_the_body(
        self,
        rsps: responses.RequestsMock,
        client_key: ec.EllipticCurvePrivateKey,
        body: bytes,
        expected: type[ProviderError],
    ) -> None:
        answer(rsps, body)

        with pytest.raises(ProviderError) as info:
            self.lock(client_key)
        assert type(info.value) is expected
        assert BODY_MARKER not in repr(vars(info.value))

    def test_lock_answered_for_another_reference_is_bad_response(
        self, rsps: responses.RequestsMock, client_key: ec.EllipticCurvePrivateKey
    ) -> None:
        answer(rsps, self.lock_body(reference="someone-else"))

        with pytest.raises(ProviderBadResponse):
            self.lock(client_key)

    def test_netxd_declares_the_card_lock_capability(self) -> None:
        assert NetxdProvider.supports_card_lock is True


class TestValidateSecrets:
    def test_payload_serialisation_must_be_one_offered(
        self, client_key: ec.EllipticCurvePrivateKey
    ) -> None:
        for offered in PAYLOAD_SERIALISATIONS:
            options = {"payload_serialisation": offered}
            assert NetxdProvider.validate_secrets(secrets_with(client_key), options) == {}
        errors = NetxdProvider.validate_secrets(
            secrets_with(client_key), {"payload_serialisation": "sorted"}
        )
        assert set(errors) == {"payload_serialisation"}
        assert "canonical (sorted keys)" in errors["payload_serialisation"]

    def test_good_secrets_have_no_errors(self, client_key: ec.EllipticCurvePrivateKey) -> None:
        assert NetxdProvider.validate_secrets(secrets_with(client_key), {}) == {}

    def test_pem_given_as_text_is_accepted(self, client_key: ec.EllipticCurvePrivateKey) -> None:
        secrets = secrets_with(client_key, signing_key=pem(client_key).decode())
        assert NetxdProvider.validate_secrets(secrets, {}) == {}

    def test_sec1_p256_key_is_accepted(self, client_key: ec.EllipticCurvePrivateKey) -> None:
        sec1 = pem(client_key, serialization.PrivateFormat.TraditionalOpenSSL)
        assert b"BEGIN EC PRIVATE KEY" in sec1
        assert NetxdProvider.validate_secrets(secrets_with(client_key, signing_key=sec1), {}) == {}

    @pytest.mark.parametrize(
        ("make_key", "words"),
        [
            (
                lambda: pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                ["RSA", "P-256"],
            ),
            (lambda: pem(ec.generate_private_key(ec.SECP384R1())), ["secp384r1", "P-256"]),
            (
                lambda: pem(
                    ec.generate_private_key(ec.SECP256R1()),
                    encryption=serialization.BestAvailableEncryption(b"pw"),
                ),
                ["password"],
            ),
            (
                lambda: (
                    ec.generate_private_key(ec.SECP256R1())
                    .public_key()
                    .public_bytes(
                        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                    )
                ),
                ["public key", "private key"],
            ),
            (
                lambda: b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
                ["could not be read"],
            ),
            (lambda: b"\x30\x82\x01\x22 binary DER", ["not a PEM"]),
            (lambda: b"", ["No signing key"]),
        ],
    )
    def test_unusable_signing_key_is_explained_in_plain_words(
        self,
        client_key: ec.EllipticCurvePrivateKey,
        make_key: Callable[[], bytes],
        words: list[str],
    ) -> None:
        key_bytes = make_key()
        errors = NetxdProvider.validate_secrets(secrets_with(client_key, signing_key=key_bytes), {})
        assert set(errors) == {"signing_key"}
        for word in words:
            assert word in errors["signing_key"]
        body_lines = [line for line in key_bytes.splitlines() if b"-----" not in line]
        assert not any(
            line and line.decode("latin-1") in errors["signing_key"] for line in body_lines
        )

    def test_missing_credentials_are_required(self, client_key: ec.EllipticCurvePrivateKey) -> None:
        errors = NetxdProvider.validate_secrets(
            {"signing_key": pem(client_key), "username": " "}, {}
        )
        assert set(errors) == {"username", "api_key", "key_id", "credential_secret"}

    def test_credential_secret_not_required_when_the_api_key_is_the_secret(
        self, client_key: ec.EllipticCurvePrivateKey
    ) -> None:
        secrets = secrets_with(client_key)
        del secrets["credential_secret"]
        assert NetxdProvider.validate_secrets(secrets, {"credential_source": "api_key"}) == {}
        assert "credential_secret" in NetxdProvider.validate_secrets(secrets, {})

    def test_username_with_a_colon_is_refused(self, client_key: ec.EllipticCurvePrivateKey) -> None:
        errors = NetxdProvider.validate_secrets(secrets_with(client_key, username="a:b"), {})
        assert set(errors) == {"username"}


# ---------------------------------------------------------------------------- the emulator alone


def signed_body(
    emulator: NetxdEmulator, payload_text: str, *, sign_over: str | None = None, **api: str
) -> bytes:
    """A request body around `payload_text`, signed with the emulator's client key."""
    key = serialization.load_pem_private_key(
        bytes(emulator.binding_secrets()["signing_key"]), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature = base64.b64encode(
        key.sign((sign_over or payload_text).encode(), ec.ECDSA(hashes.SHA256()))
    ).decode()
    fields = {
        "credential": "Basic "
        + base64.b64encode(f"{emulator.username}:{emulator.credential_secret}".encode()).decode(),
        "signature": signature,
        "apiKey": emulator.api_key,
        "keyId": emulator.key_id,
        **api,
    }
    return (
        '{"method":"ledger.CARD.request","id":"7","params":{"payload":'
        + payload_text
        + ',"api":'
        + json.dumps(fields)
        + "}}"
    ).encode()


def demo_payload(emulator: NetxdEmulator, *, reference: str, **overrides: str) -> dict[str, str]:
    card = emulator.cards[0]
    return {
        "reference": reference,
        "product": "DEFAULT",
        "program": "DEFAULT",
        "channel": "VISA_DPS",
        "transactionType": "GET_CVV",
        "customerId": card.reference["customer_id"],
        "accountNumber": card.reference["account_number"],
        "cardId": card.reference["card_id"],
        **overrides,
    }


def post(emulator: NetxdEmulator, body: bytes, **headers: str) -> dict[str, Any]:
    request = SandboxRequest(
        method="POST",
        path="/cardv2",
        query="",
        headers={"content-type": "application/json", **{k.lower(): v for k, v in headers.items()}},
        body=body,
        url="http://127.0.0.1/netxd/cardv2",
    )
    response = emulator.handle(request)
    assert response.status == 200
    document: dict[str, Any] = json.loads(response.body)
    return document


@pytest.fixture(scope="module")
def lone_emulator(tmp_path_factory: pytest.TempPathFactory) -> NetxdEmulator:
    return NetxdEmulator(tmp_path_factory.mktemp("netxd-alone"))


class TestEmulator:
    def test_compact_signed_payload_is_answered_with_the_ack(
        self, lone_emulator: NetxdEmulator
    ) -> None:
        payload = json.dumps(demo_payload(lone_emulator, reference="e-1"), separators=(",", ":"))
        document = post(lone_emulator, signed_body(lone_emulator, payload))
        assert document["id"] == "7"
        assert document["result"]["card"]["cvv"] == "123"
        assert document["result"]["api"]["type"] == "GET_CVV_ACK"
        assert document["result"]["api"]["originalReference"] == "e-1"

    def test_payload_bytes_are_verified_as_sent_whatever_their_formatting(
        self, lone_emulator: NetxdEmulator
    ) -> None:
        # Whitespace and a brace inside a string: signed as sent, so accepted as sent.
        payload = json.dumps(demo_payload(lone_emulator, reference='e-2 {not} "json"'), indent=2)
        document = post(lone_emulator, signed_body(lone_emulator, payload))
        assert document["result"]["card"]["cvv"] == "123"

    def test_signature_over_another_serialisation_of_the_same_payload_is_refused(
        self, lone_emulator: NetxdEmulator
    ) -> None:
        fields = demo_payload(lone_emulator, reference="e-3")
        compact = json.dumps(fields, separators=(",", ":"))
        document = post(
            lone_emulator, signed_body(lone_emulator, json.dumps(fields), sign_over=compact)
        )
        assert document["error"] == {"code": "1004", "message": "SIGNATURE VERIFICATION FAILED"}

    def test_a_canonical_ledger_checks_the_signature_over_the_sorted_payload(
        self, lone_emulator: NetxdEmulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(lone_emulator, "payload_serialisation", "canonical")
        fields = demo_payload(lone_emulator, reference="e-6")
        sorted_text = json.dumps(fields, separators=(",", ":"), sort_keys=True)
        # Sent in any layout, signed over the sorted form: accepted.
        document = post(
            lone_emulator, signed_body(lone_emulator, json.dumps(fields), sign_over=sorted_text)
        )
        assert document["result"]["card"]["cvv"] == "123"
        # Signed over the bytes as sent (documented order): refused.
        fields = demo_payload(lone_emulator, reference="e-7")
        compact = json.dumps(fields, separators=(",", ":"))
        document = post(lone_emulator, signed_body(lone_emulator, compact))
        assert document["error"] == {"code": "1004", "message": "SIGNATURE VERIFICATION FAILED"}

    def test_a_compact_ledger_rebuilds_the_documented_field_order(
        self, lone_emulator: NetxdEmulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(lone_emulator, "payload_serialisation", "compact")
        fields = demo_payload(lone_emulator, reference="e-8")
        compact = json.dumps(fields, separators=(",", ":"))
        shuffled = json.dumps(dict(sorted(fields.items())), indent=1)
        document = post(lone_emulator, signed_body(lone_emulator, shuffled, sign_over=compact))
        assert document["result"]["card"]["cvv"] == "123"
        fields = demo_payload(lone_emulator, reference="e-9")
        sorted_text = json.dumps(fields, separators=(",", ":"), sort_keys=True)
        document = post(lone_emulator, signed_body(lone_emulator, sorted_text))
        assert document["error"]["code"] == "1004"

    def test_duplicated_payload_member_is_refused_not_guessed(
        self, lone_emulator: NetxdEmulator
    ) -> None:
        signed = json.dumps(demo_payload(lone_emulator, reference="e-4"), separators=(",", ":"))
        other = json.dumps(
            demo_payload(lone_emulator, reference="e-5", cardId="nxd-card-0002"),
            separators=(",", ":"),
        )
        body = signed_body(lone_emulator, signed).replace(
            b',"api":', b',"payload":' + other.encode() + b',"api":', 1
        )
        assert post(lone_emulator, body)["error"]["code"] == "-32700"

    @pytest.mark.parametrize(
        ("api", "code"),
        [
            ({"apiKey": "wrong"}, "1003"),
            ({"keyId": "wrong"}, "1003"),
            ({"credential": "Basic " + base64.b64encode(b"someone:else").decode()}, "1002"),
            ({"signature": "not base64!"}, "1004"),
            ({"signature": ""}, "1001"),
        ],
    )
    def test_bad_api_block_is_refused(
        self, lone_emulator: NetxdEmulator, api: dict[str, str], code: str
    ) -> None:
        payload = json.dumps(demo_payload(lone_emulator, reference=f"api-{code}-{len(api)}"))
        assert (
            post(lone_emulator, signed_body(lone_emulator, payload, **api))["error"]["code"] == code
        )

    def test_signature_header_is_verified_when_sent(self, lone_emulator: NetxdEmulator) -> None:
        payload = json.dumps(demo_payload(lone_emulator, reference="hdr-1"))
        body = signed_body(lone_emulator, payload)
        good = json.loads(body)["params"]["api"]["signature"]
        header = f"keyId={lone_emulator.key_id},algorithm=ecdsa-sha256,signature={good}"
        assert "result" in post(lone_emulator, body, Signature=header)
        payload = json.dumps(demo_payload(lone_emulator, reference="hdr-2"))
        body = signed_body(lone_emulator, payload)
        wrong = header.replace(lone_emulator.key_id, "other-key")
        assert post(lone_emulator, body, Signature=wrong)["error"]["code"] == "1004"

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"transactionType": "GET_CARD_DETAILS"}, "1100"),
            ({"channel": "VISADPS"}, "1101"),
            ({"cardId": ""}, "1102"),
            ({"cardId": "nxd-card-9999"}, "1010"),
        ],
    )
    def test_payload_is_validated_after_authentication(
        self, lone_emulator: NetxdEmulator, overrides: dict[str, str], code: str
    ) -> None:
        payload = json.dumps(demo_payload(lone_emulator, reference=f"v-{code}", **overrides))
        assert post(lone_emulator, signed_body(lone_emulator, payload))["error"]["code"] == code

    def test_replayed_reference_is_refused(self, lone_emulator: NetxdEmulator) -> None:
        payload = json.dumps(demo_payload(lone_emulator, reference="replay-1"))
        body = signed_body(lone_emulator, payload)
        assert "result" in post(lone_emulator, body)
        assert post(lone_emulator, body)["error"]["code"] == "1103"

    def test_wrong_method_and_unparseable_body_are_json_rpc_errors(
        self, lone_emulator: NetxdEmulator
    ) -> None:
        payload = json.dumps(demo_payload(lone_emulator, reference="m-1"))
        body = signed_body(lone_emulator, payload).replace(
            b"ledger.CARD.request", b"ledger.CARD.delete"
        )
        assert post(lone_emulator, body)["error"]["code"] == "-32601"
        assert post(lone_emulator, b'{"method":')["error"]["code"] == "-32700"
        assert (
            post(lone_emulator, signed_body(lone_emulator, payload) + b"[]")["error"]["code"]
            == "-32700"
        )

    def test_wrong_path_method_or_content_type_are_http_errors(
        self, lone_emulator: NetxdEmulator
    ) -> None:
        def status(method: str, path: str, content_type: str) -> int:
            return lone_emulator.handle(
                SandboxRequest(
                    method=method,
                    path=path,
                    query="",
                    headers={"content-type": content_type},
                    body=b"{}",
                    url="http://127.0.0.1/netxd" + path,
                )
            ).status

        assert status("POST", "/jsonrpc", "application/json") == 404
        assert status("GET", "/cardv2", "application/json") == 405
        assert status("POST", "/cardv2", "text/plain") == 415

    def test_keys_and_credentials_persist_in_the_state_dir(self, tmp_path: Path) -> None:
        first = NetxdEmulator(tmp_path).binding_secrets()
        assert NetxdEmulator(tmp_path).binding_secrets() == first
        assert NetxdEmulator(tmp_path / "other").binding_secrets() != first
        assert (tmp_path / "netxd" / "client_signing_key.pem").stat().st_mode & 0o077 == 0

    def test_seeded_cards_cover_the_demo_and_every_fault(
        self, lone_emulator: NetxdEmulator
    ) -> None:
        behaviours = {card.behaviour for card in lone_emulator.seed_cards()}
        assert behaviours >= {
            "ok",
            "unauthorized",
            "rate_limited",
            "server_error",
            "slow",
            "malformed",
        }
        demo = [c for c in lone_emulator.seed_cards() if c.behaviour == "ok"]
        assert all(c.label.startswith("NetXD demo card") and c.last4 for c in demo)
        assert (
            NetxdProvider.validate_secrets(
                lone_emulator.binding_secrets(), lone_emulator.binding_options()
            )
            == {}
        )


# ---------------------------------------------------------------------------- end to end


class TamperingDoor(HttpDoor):
    """Changes one byte of the payload after it was signed, as a meddler on the wire would."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        retry_safe: bool = False,
    ) -> HttpResponse:
        assert body is not None
        tampered = body.replace(b'"product":"DEFAULT"', b'"product":"DEFAULt"', 1)
        assert tampered != body
        return super().request(method, url, headers=headers, body=tampered, retry_safe=retry_safe)


class TestAgainstSandbox:
    @pytest.fixture
    def emulator(self, sandbox: RunningSandbox) -> NetxdEmulator:
        emulator = sandbox.emulator("netxd")
        assert isinstance(emulator, NetxdEmulator)
        return emulator

    def provider(
        self,
        sandbox: RunningSandbox,
        *,
        door_class: type[HttpDoor] = HttpDoor,
        read_timeout: float = 3.0,
        secrets: Mapping[str, str | bytes] | None = None,
        **options: Any,
    ) -> NetxdProvider:
        emulator = sandbox.emulator("netxd")
        config = binding(
            sandbox.url_for("netxd"),
            secrets or emulator.binding_secrets(),
            **{**emulator.binding_options(), **options},
        )
        policy = HttpPolicy(
            allow_loopback_http=True,
            connect_retries=0,
            read_timeout=read_timeout,
            deadline=read_timeout + 2,
        )
        return NetxdProvider(config, door_class(name="netxd-e2e", policy=policy))

    @staticmethod
    def card(emulator: NetxdEmulator, behaviour: str = "ok") -> CardRef:
        seeded = next(c for c in emulator.cards if c.behaviour == behaviour)
        return CardRef(
            reference=seeded.reference,
            expiry_month=seeded.expiry_month,
            expiry_year=seeded.expiry_year,
        )

    def test_demo_card_cvv_over_real_http(
        self, sandbox: RunningSandbox, emulator: NetxdEmulator
    ) -> None:
        provider = self.provider(sandbox)
        for _ in range(2):  # a fresh reference each time, so the ledger never sees a replay
            result = provider.fetch_cvv(card=self.card(emulator))
            assert isinstance(result, PlainCvv)
            assert result.value.reveal() == "123"

    def test_four_digit_cvv_and_the_pulse_channel(
        self, sandbox: RunningSandbox, emulator: NetxdEmulator
    ) -> None:
        card = next(c for c in emulator.cards if c.cvv == "4567")
        ref = CardRef(reference=card.reference, expiry_month=1, expiry_year=2030)
        result = self.provider(sandbox, channel="PULSE").fetch_cvv(card=ref)
        assert isinstance(result, PlainCvv)
        assert result.value.reveal() == "4567"

    def test_signature_header_is_accepted_by_the_sandbox(
        self, sandbox: RunningSandbox, emulator: NetxdEmulator
    ) -> None:
        result = self.provider(sandbox, send_signature_header=True).fetch_cvv(
            card=self.card(emulator)
        )
        assert isinstance(result, PlainCvv)
        assert result.value.reveal() == "123"

    def test_unknown_card_is_card_not_found(self, sandbox: RunningSandbox) -> None:
        unknown = CardRef(
            reference={
                "customer_id": "NXD-CUST-0001",
                "account_number": "1",
                "card_id": "never-issued",
            },
            expiry_month=1,
            expiry_year=2030,
        )
        with pytest.raises(CardNotFound):
            self.provider(sandbox).fetch_cvv(card=unknown)

    def test_tampered_payload_byte_is_refused_by_the_ledger(
        self, sandbox: RunningSandbox, emulator: NetxdEmulator
    ) -> None:
        provider = self.provider(sandbox, door_class=TamperingDoor)
        with pytest.raises(ProviderAuthError) as info:
            provider.fetch_cvv(card=self.card(emulator))
        assert info.value.provider_code == "1004"

    @pytest.mark.parametrize(
        ("secret", "value"),
        [
            ("api_key", "stolen"),
            ("key_id", "other"),
            ("credential_secret", "guess"),
            ("signing_key", "fresh"),
        ],
    )
    def test_wrong_credentials_are_our_credentials(
        self, sandbox: RunningSandbox, emulator: NetxdEmulator, secret: str, value: str
    ) -> None:
        secrets = dict(emulator.binding_secrets())
        secrets[secret] = (
            pem(ec.generate_private_key(ec.SECP256R1())) if value == "fresh" else value
        )
        provider = self.provider(sandbox, secrets=secrets)
        with pytest.raises(ProviderAuthError):
            provider.fetch_cvv(card=self.card(emulator))
        with pytest.raises(ProviderAuthError):
            provider.check_connection()

    def test_check_connection_passes_with_the_sandbox_credentials(
        self, sandbox: RunningSandbox
    ) -> None:
        self.provider(sandbox).check_connection()

    @pytest.mark.parametrize(
        ("ledger", "binding_form", "accepted"),
        [
            ("as_sent", "compact", True),
            ("as_sent", "canonical", True),
            ("compact", "compact", True),
            ("compact", "canonical", False),
            ("canonical", "canonical", True),
            ("canonical", "compact", False),
        ],
    )
    def test_a_re_serialising_ledger_verifies_only_the_serialisation_it_rebuilds(
        self,
        sandbox: RunningSandbox,
        emulator: NetxdEmulator,
        monkeypatch: pytest.MonkeyPatch,
        ledger: str,
        binding_form: str,
        accepted: bool,
    ) -> None:
        monkeypatch.setattr(emulator, "payload_serialisation", ledger)
        provider = self.provider(sandbox, payload_serialisation=binding_form)
        if accepted:
            result = provider.fetch_cvv(card=self.card(emulator))
            assert isinstance(result, PlainCvv)
            assert result.value.reveal() == "123"
            provider.check_connection()
            return
        # The same payload, signed in the other form: the ledger's rebuilt bytes differ.
        with pytest.raises(ProviderAuthError) as info:
            provider.fetch_cvv(card=self.card(emulator))
        assert info.value.provider_code == "1004"
        with pytest.raises(ProviderAuthError):
            provider.check_connection()

    @pytest.mark.parametrize("ledger", ["compact", "canonical"])
    def test_the_sandbox_offers_the_binding_option_its_ledger_verifies(
        self,
        sandbox: RunningSandbox,
        emulator: NetxdEmulator,
        monkeypatch: pytest.MonkeyPatch,
        ledger: str,
    ) -> None:
        monkeypatch.setattr(emulator, "payload_serialisation", ledger)
        assert emulator.binding_options()["payload_serialisation"] == ledger
        provider = self.provider(sandbox, send_signature_header=True)  # the header too
        result = provider.fetch_cvv(card=self.card(emulator))
        assert result.value.reveal() == "123"  # type: ignore[union-attr]

    def test_visadps_spelling_is_refused_by_a_ledger_on_the_older_docs(
        self, sandbox: RunningSandbox, emulator: NetxdEmulator
    ) -> None:
        with pytest.raises(ProviderBadResponse) as info:
            self.provider(sandbox, channel_spelling="VISADPS").fetch_cvv(card=self.card(emulator))
        assert info.value.provider_code == "1101"

    @pytest.mark.parametrize(
        ("behaviour", "expected"),
        [
            ("unauthorized", ProviderAuthError),
            ("rate_limited", ProviderRateLimited),
            ("server_error", ProviderServerError),
            ("malformed", ProviderBadResponse),
            ("rejected", ProviderBadResponse),
        ],
    )
    def test_fault_cards_map_to_their_errors(
        self,
        sandbox: RunningSandbox,
        emulator: NetxdEmulator,
        behaviour: str,
        expected: type[ProviderError],
    ) -> None:
        with pytest.raises(ProviderError) as info:
            self.provider(sandbox).fetch_cvv(card=self.card(emulator, behaviour))
        assert type(info.value) is expected
        if behaviour == "rate_limited":
            assert info.value.retry_after == 2

    def test_lock_locks_the_card_and_the_ledger_then_refuses_its_cvv(
        self, sandbox: RunningSandbox, emulator: NetxdEmulator
    ) -> None:
        seeded = emulator.add_card(
            SandboxCard(
                reference={
                    "customer_id": "NXD-CUST-LOCK",
                    "account_number": "400000009999",
                    "card_id": f"nxd-lock-{uuid.uuid4().hex[:8]}",
                },
                cvv="872",
                expiry_month=3,
                expiry_year=2031,
            )
        )
        card = CardRef(reference=seeded.reference, expiry_month=3, expiry_year=2031)
        provider = self.provider(sandbox)
        assert isinstance(provider.fetch_cvv(card=card), PlainCvv)

        provider.lock_card(card=card, reason="r")

        assert emulator.card_status_of(seeded) == "TEMPRORY_BLOCKED_BY_CLIENT"
        with pytest.raises(ProviderBadResponse) as info:
            provider.fetch_cvv(card=card)
        assert info.value.provider_code == "1106"  # CARD IS NOT ACTIVE
        with pytest.raises(ProviderBadResponse):  # LOCK is not a move from a locked card
            provider.lock_card(card=card, reason="r")

    def test_lock_of_a_failing_card_is_a_server_error(
        self, sandbox: RunningSandbox, emulator: NetxdEmulator
    ) -> None:
        with pytest.raises(ProviderServerError):
            self.provider(sandbox).lock_card(card=self.card(emulator, "server_error"), reason="r")

    def test_slow_card_is_a_timeout(
        self, sandbox: RunningSandbox, emulator: NetxdEmulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(emulator, "slow_delay", 0.4)
        with pytest.raises(ProviderTimeout):
            self.provider(sandbox, read_timeout=0.4).fetch_cvv(card=self.card(emulator, "slow"))

    def test_no_cvv_or_secret_reaches_the_logs(
        self, sandbox: RunningSandbox, emulator: NetxdEmulator, caplog: pytest.LogCaptureFixture
    ) -> None:
        canary = emulator.add_card(
            SandboxCard(
                reference={
                    "customer_id": "NXD-CANARY",
                    "account_number": "999000111",
                    "card_id": "nxd-canary",
                },
                cvv="8093",
                expiry_month=7,
                expiry_year=2031,
            )
        )
        ref = CardRef(reference=canary.reference, expiry_month=7, expiry_year=2031)
        with caplog.at_level(logging.DEBUG):
            result = self.provider(sandbox).fetch_cvv(card=ref)
            with pytest.raises(ProviderBadResponse):
                self.provider(sandbox).fetch_cvv(card=self.card(emulator, "malformed"))
        assert isinstance(result, PlainCvv)
        assert result.value.reveal() == "8093"
        assert caplog.records  # the door did log the calls
        secrets = emulator.binding_secrets()
        for needle in ["8093", str(secrets["api_key"]), str(secrets["credential_secret"])]:
            assert needle not in caplog.text
