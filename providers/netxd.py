"""NetXD XD Ledger card API v2: GET_CVV and a card LOCK over JSON-RPC, payloads signed with ECDSA P-256."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from providers.base import (
    CardRef,
    ClientKey,
    ConnectionProof,
    CvvResult,
    FieldSpec,
    Provider,
    checked_cvv,
)
from providers.errors import (
    CardNotFound,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderRateLimited,
    error_for_status,
)
from providers.http import HttpResponse

METHOD = "ledger.CARD.request"
TRANSACTION_TYPE = "GET_CVV"
ACK_TYPE = "GET_CVV_ACK"
# Card status changes on the same endpoint [docs, "Card Management / Update Status"; the payload
# field name `statusAction` is from a third-party client]: LOCK moves an ACTIVATED card to
# TEMPRORY_BLOCKED_BY_CLIENT (the ledger's spelling), which UNLOCK lifts.
UPDATE_STATUS = "UPDATE_STATUS"
UPDATE_STATUS_ACK = "UPDATE_STATUS_ACK"
LOCK_ACTION = "LOCK"
SIGNATURE_ALGORITHM = "ecdsa-sha256"

# The channel enum as documented (v1.0.2), plus the spelling the v1.0.4 docs use for VISA_DPS.
CHANNELS = ("PULSE", "VISA_DPS")
_CHANNEL_ALIASES = {"PULSE": "PULSE", "VISA_DPS": "VISA_DPS", "VISADPS": "VISA_DPS"}
CHANNEL_SPELLINGS = ("VISA_DPS", "VISADPS")
CREDENTIAL_SOURCES = ("credential_secret", "api_key")
# How the payload is serialised before it is signed and spliced into the body [unconfirmed which
# the ledger verifies]: "compact" keeps the documented field order without spaces (what the
# third-party client's json.Marshal of its struct produces); "canonical" sorts the keys, for a
# ledger that re-serialises the payload that way before it checks the signature.
PAYLOAD_SERIALISATIONS = ("compact", "canonical")
DEFAULT_PAYLOAD_SERIALISATION = "compact"

# JSON-RPC's own codes (parse error, invalid request, no such method, bad params): always our bug.
_JSONRPC_CODES = frozenset({"-32700", "-32600", "-32601", "-32602", "-32603"})
# NetXD publishes no error catalogue, so unknown codes are classified by the words of their
# message; a binding can pin exact codes with the `not_found_codes`/`auth_error_codes` options.
_AUTH_WORDS = (
    "SIGNATURE",
    "UNAUTHORI",
    "AUTHENTICAT",
    "CREDENTIAL",
    "API KEY",
    "APIKEY",
    "KEY ID",
    "KEYID",
    "FORBIDDEN",
    "PERMISSION",
    "ACCESS DENIED",
)
_NOT_FOUND_SUBJECTS = ("CARD", "CUSTOMER", "ACCOUNT")
_NOT_FOUND_WORDS = ("NOT FOUND", "DOES NOT EXIST", "NO SUCH", "UNKNOWN")
_RATE_WORDS = ("TOO MANY", "RATE LIMIT")
# Upstream codes are kept on our errors for the audit, so only short, plain ones are kept at all.
_SAFE_CODE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")

# A reference that no ledger issues: `check_connection` asks for it and expects "card not found".
_PROBE_REFERENCE = {
    "customer_id": "cardreveal-connection-check",
    "account_number": "0",
    "card_id": "cardreveal-connection-check",
}


def load_signing_key(data: bytes) -> ec.EllipticCurvePrivateKey:
    """Parse the binding's signing key: a PEM (PKCS#8, or SEC1) EC private key on P-256.

    Args: `data`, the uploaded key file's bytes.
    Returns the private key. Raises ValueError with a plain-words reason (never the key itself).
    """
    if not data.strip():
        raise ValueError("No signing key was given; upload the PKCS#8 PEM EC P-256 private key.")
    if b"-----BEGIN" not in data:
        raise ValueError(
            "The signing key is not a PEM file; it should start with -----BEGIN PRIVATE KEY-----."
        )
    if b"PUBLIC KEY-----" in data or b"CERTIFICATE-----" in data:
        raise ValueError(
            "This is a public key or certificate; upload the private key "
            "(-----BEGIN PRIVATE KEY-----) whose public key you registered with NetXD."
        )
    try:
        key: PrivateKeyTypes = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise ValueError(
            "The signing key is protected by a password; upload it unencrypted "
            "(openssl pkcs8 -topk8 -nocrypt)."
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError("The signing key could not be read as a PEM private key.") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        kind = "an RSA key" if isinstance(key, rsa.RSAPrivateKey) else "not an EC key"
        raise ValueError(
            f"The signing key is {kind}; NetXD needs an EC P-256 (prime256v1 / secp256r1) key."
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(
            f"The signing key is on curve {key.curve.name}; NetXD needs P-256 "
            "(prime256v1 / secp256r1)."
        )
    return key


def sign_payload(*, key: ec.EllipticCurvePrivateKey, payload: bytes) -> str:
    """Sign `payload` bytes with ECDSA/SHA-256; return the DER signature in standard base64."""
    return base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode("ascii")


def basic_credential(*, username: str, secret: str) -> str:
    """The `api.credential` value: 'Basic ' + base64('<username>:<secret>')."""
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")


def wire_channel(options: Mapping[str, Any]) -> str:
    """The `channel` to send, from the binding's `channel` and `channel_spelling` options.

    Accepts PULSE, VISA_DPS or its alias VISADPS (any case); sends VISA_DPS spelt as
    `channel_spelling` says. Raises ProviderConfigError naming the valid values otherwise.
    """
    raw = str(options.get("channel") or "VISA_DPS").strip().upper()
    channel = _CHANNEL_ALIASES.get(raw)
    if channel is None:
        raise ProviderConfigError("channel must be PULSE or VISA_DPS")
    spelling = str(options.get("channel_spelling") or "VISA_DPS").strip().upper()
    if spelling not in CHANNEL_SPELLINGS:
        raise ProviderConfigError("channel_spelling must be VISA_DPS or VISADPS")
    return spelling if channel == "VISA_DPS" else channel


def serialised_payload(payload: Mapping[str, Any], *, serialisation: str) -> str:
    """The payload as the text that is signed and sent: no spaces, ASCII only (so text and bytes
    agree), keys in the given order ("compact") or sorted ("canonical").

    Raises ProviderConfigError for any other serialisation.
    """
    if serialisation not in PAYLOAD_SERIALISATIONS:
        raise ProviderConfigError("payload_serialisation must be compact or canonical")
    return json.dumps(
        payload,
        separators=(",", ":"),
        ensure_ascii=True,
        sort_keys=serialisation == "canonical",
    )


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _codes(value: object) -> frozenset[str]:
    return frozenset(part.strip() for part in str(value or "").split(",") if part.strip())


class NetxdProvider(Provider):
    """NetXD XD Ledger: `POST {base}/cardv2`, `ledger.CARD.request` with transactionType GET_CVV.

    The payload is serialised once (compact in the documented field order, or canonical with
    sorted keys, as the binding says); those exact bytes are signed and spliced into the body,
    so the ledger verifies the signature over `params.payload` as sent. Business errors may come
    with HTTP 200, so `error` is read before `result`. NetXD cannot encrypt to the client's key.
    """

    kind: ClassVar[str] = "netxd"
    label: ClassVar[str] = "NetXD XD Ledger (card API v2)"
    default_base_url: ClassVar[str] = ""  # issued per tenant by NetXD or the sponsor bank
    refused_credentials: ClassVar[str] = "the credentials or the request's signature"
    credentials_advice: ClassVar[str] = (
        "check the username, credential secret, API key and key id, and that the signing key is "
        "the one whose public key is registered with NetXD"
    )
    reference_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "customer_id",
            "Customer ID",
            pattern=r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}",
            help_text="The ledger's customerId of the cardholder.",
        ),
        FieldSpec(
            "account_number",
            "Account number",
            pattern=r"[A-Za-z0-9][A-Za-z0-9-]{0,33}",
            help_text="The ledger account the card draws on (accountNumber).",
        ),
        FieldSpec(
            "card_id",
            "Card ID",
            pattern=r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}",
            help_text="The ledger's cardId, returned by ADD_CARD.",
        ),
    )
    secret_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "username",
            "Username",
            kind="text",
            help_text="The user part of the Basic credential (often the registered email).",
        ),
        FieldSpec(
            "credential_secret",
            "Credential secret",
            kind="secret",
            required=False,
            help_text="The part after the colon in the Basic credential (password). "
            "Not needed when the credential_source option is api_key.",
        ),
        FieldSpec(
            "api_key",
            "API key",
            kind="secret",
            help_text="The apiKey XD Ledger issued when the public key was registered.",
        ),
        FieldSpec(
            "key_id",
            "Key ID",
            kind="text",
            help_text="The keyId XD Ledger issued with the API key.",
        ),
        FieldSpec(
            "signing_key",
            "Signing key",
            kind="file",
            help_text="PKCS#8 PEM EC P-256 private key (-----BEGIN PRIVATE KEY-----) whose "
            "public key is registered with NetXD.",
        ),
    )
    option_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec("product", "Product", default="DEFAULT", pattern=r"[A-Za-z0-9_.-]{1,64}"),
        FieldSpec("program", "Program", default="DEFAULT", pattern=r"[A-Za-z0-9_.-]{1,64}"),
        FieldSpec(
            "channel",
            "Channel",
            kind="choice",
            choices=CHANNELS,
            default="VISA_DPS",
            help_text="The card network channel: PULSE or VISA_DPS (VISADPS is accepted).",
        ),
        FieldSpec(
            "channel_spelling",
            "VISA_DPS spelling on the wire",
            kind="choice",
            choices=CHANNEL_SPELLINGS,
            default="VISA_DPS",
            required=False,
            help_text="Unconfirmed: the v1.0.2 docs write VISA_DPS, the v1.0.4 docs VISADPS. "
            "Use what your tenant accepts.",
        ),
        FieldSpec(
            "credential_source",
            "Secret in the Basic credential",
            kind="choice",
            choices=CREDENTIAL_SOURCES,
            default="credential_secret",
            required=False,
            help_text="Unconfirmed: NetXD's sample puts the apiKey after the colon, other "
            "clients a password. Confirm with NetXD.",
        ),
        FieldSpec(
            "send_signature_header",
            "Also send the Signature header",
            kind="bool",
            default=False,
            required=False,
            help_text="Unconfirmed (v1.0.4 docs): also send 'Signature: keyId=..,"
            "algorithm=ecdsa-sha256,signature=..' signing the same payload bytes.",
        ),
        FieldSpec(
            "payload_serialisation",
            "Payload serialisation (what is signed)",
            kind="choice",
            choices=PAYLOAD_SERIALISATIONS,
            default=DEFAULT_PAYLOAD_SERIALISATION,
            required=False,
            help_text="Unconfirmed: the payload is signed and sent as exactly the same bytes. "
            "compact keeps the documented field order without spaces (as NetXD's samples and "
            "the known client send it); canonical sorts the keys (no spaces), for a ledger that "
            "re-serialises the payload with sorted keys before it checks the signature. Confirm "
            "with NetXD which your tenant verifies.",
        ),
        FieldSpec(
            "not_found_codes",
            "Error codes meaning 'card not found'",
            required=False,
            default="",
            pattern=r"[A-Za-z0-9_.:, -]{0,400}",
            help_text="Comma-separated; NetXD publishes no error catalogue.",
        ),
        FieldSpec(
            "auth_error_codes",
            "Error codes meaning 'credentials rejected'",
            required=False,
            default="",
            pattern=r"[A-Za-z0-9_.:, -]{0,400}",
            help_text="Comma-separated; NetXD publishes no error catalogue.",
        ),
    )

    def fetch_cvv(self, *, card: CardRef, client_key: ClientKey | None = None) -> CvvResult:
        """Fetch the card's CVV with a signed GET_CVV request.

        Args: `card` with reference fields customer_id, account_number and card_id; `client_key`
        is ignored (NetXD cannot seal to it, so the caller seals the `PlainCvv`).
        Returns a `PlainCvv`. Raises ProviderConfigError for a bad binding or card reference
        (before any call), CardNotFound, ProviderAuthError, ProviderRateLimited,
        ProviderBadResponse or a transport error from the HTTP door. One POST.
        """
        request_id, reference = self._new_ids()
        response = self._call(
            request_id=request_id, reference=reference, card_reference=self._card_reference(card)
        )
        result = self._result(response, request_id=request_id)
        _check_ack(result, ack_type=ACK_TYPE, reference=reference)
        card_obj = result.get("card")
        if not isinstance(card_obj, dict):
            raise ProviderBadResponse("result.card missing")
        return checked_cvv(card_obj.get("cvv"))

    def check_connection(self) -> ConnectionProof:
        """Prove the credentials and signing key work, without touching a real card.

        Asks GET_CVV for a card reference no ledger issues: "card not found" means the ledger
        authenticated us and verified the signature first (the sandbox does; unconfirmed for
        every tenant). NetXD's answers are not encrypted, so there is no key to prove. Raises
        ProviderAuthError, ProviderConfigError or another ProviderError.
        """
        request_id, reference = self._new_ids()
        response = self._call(
            request_id=request_id, reference=reference, card_reference=dict(_PROBE_REFERENCE)
        )
        # "Card not found" is the answer hoped for; a result for the probe would do as well.
        with contextlib.suppress(CardNotFound):
            self._result(response, request_id=request_id)
        return ConnectionProof(
            proved="NetXD accepted the credentials and the request's signature",
            unproved="NetXD said the probe card is unknown, and whether it checks the signature "
            "before it looks a card up is not confirmed, so only a real CVV request proves it "
            "(NetXD's answers are not encrypted: there is no decryption to check)",
        )

    supports_card_lock: ClassVar[bool] = True

    def lock_card(self, *, card: CardRef, reason: str) -> None:
        """Lock the card with a signed UPDATE_STATUS request, statusAction LOCK.

        The ledger has no documented field for a reason, so `reason` is not sent. Raises
        ProviderConfigError for a bad binding or card reference (before any call), CardNotFound,
        ProviderAuthError, ProviderBadResponse (including a ledger refusal, such as a card that
        is not active), and the transport errors. One POST, never resent: it changes the card.
        """
        request_id, reference = self._new_ids()
        response = self._call(
            request_id=request_id,
            reference=reference,
            card_reference=self._card_reference(card),
            transaction_type=UPDATE_STATUS,
            extra={"statusAction": LOCK_ACTION},
            retry_safe=False,
        )
        result = self._result(response, request_id=request_id)
        _check_ack(result, ack_type=UPDATE_STATUS_ACK, reference=reference)

    @classmethod
    def validate_secrets(
        cls, secrets: Mapping[str, bytes | str], options: Mapping[str, Any]
    ) -> dict[str, str]:
        """Check the credentials are present, the signing key is a P-256 private key, and the
        channel, credential and serialisation options are valid.

        Returns field name -> plain-words error (empty when all is well). Never echoes a secret.
        """
        errors: dict[str, str] = {}
        use_api_key = str(options.get("credential_source") or "credential_secret") == "api_key"
        required = ["username", "api_key", "key_id"]
        if not use_api_key:
            required.append("credential_secret")
        for name in required:
            value = secrets.get(name)
            if value is None or not value.strip():
                errors[name] = "This value is required."
        username = secrets.get("username")
        if isinstance(username, bytes):
            username = username.decode("utf-8", "replace")
        if username and ":" in username:
            errors["username"] = "The username cannot contain ':' (it separates the Basic parts)."
        raw_key = secrets.get("signing_key")
        key_bytes = raw_key.encode() if isinstance(raw_key, str) else (raw_key or b"")
        try:
            load_signing_key(key_bytes)
        except ValueError as exc:
            errors["signing_key"] = str(exc)
        if str(options.get("channel") or "VISA_DPS").strip().upper() not in _CHANNEL_ALIASES:
            errors["channel"] = "The channel must be PULSE or VISA_DPS (VISADPS is also accepted)."
        spelling = str(options.get("channel_spelling") or "VISA_DPS").strip().upper()
        if spelling not in CHANNEL_SPELLINGS:
            errors["channel_spelling"] = "The spelling must be VISA_DPS or VISADPS."
        source = str(options.get("credential_source") or "credential_secret")
        if source not in CREDENTIAL_SOURCES:
            errors["credential_source"] = "Must be credential_secret or api_key."
        serialisation = str(options.get("payload_serialisation") or DEFAULT_PAYLOAD_SERIALISATION)
        if serialisation not in PAYLOAD_SERIALISATIONS:
            errors["payload_serialisation"] = (
                "Must be compact (the documented field order) or canonical (sorted keys)."
            )
        return errors

    # -- building the request -------------------------------------------------------------------

    def _new_ids(self) -> tuple[str, str]:
        """A fresh JSON-RPC id and a fresh unique payload reference (tests pin these)."""
        return uuid.uuid4().hex[:16], uuid.uuid4().hex

    def _card_reference(self, card: CardRef) -> dict[str, str]:
        values: dict[str, str] = {}
        for spec in self.reference_fields:
            value = str(card.reference.get(spec.name) or "")
            if not value or spec.pattern is None or not re.fullmatch(spec.pattern, value):
                raise ProviderConfigError(f"card reference {spec.name} missing or malformed")
            values[spec.name] = value
        return values

    def _call(
        self,
        *,
        request_id: str,
        reference: str,
        card_reference: Mapping[str, str],
        transaction_type: str = TRANSACTION_TYPE,
        extra: Mapping[str, str] | None = None,
        retry_safe: bool = True,
    ) -> HttpResponse:
        options = self.config.options
        payload = {
            "reference": reference,
            "product": str(options.get("product") or "DEFAULT"),
            "program": str(options.get("program") or "DEFAULT"),
            "channel": wire_channel(options),
            "transactionType": transaction_type,
            "customerId": card_reference["customer_id"],
            "accountNumber": card_reference["account_number"],
            "cardId": card_reference["card_id"],
            **(extra or {}),
        }
        # Serialised once, as the binding says, signed, and then spliced verbatim: a ledger that
        # verifies the payload as it appears in the body sees exactly the signed bytes, and one
        # that re-serialises it rebuilds them when the binding's serialisation is its own.
        payload_text = serialised_payload(
            payload,
            serialisation=str(
                options.get("payload_serialisation") or DEFAULT_PAYLOAD_SERIALISATION
            ),
        )
        try:
            key = load_signing_key(self.config.secret_bytes("signing_key"))
        except ValueError as exc:
            raise ProviderConfigError("signing key unusable: " + str(exc)) from exc
        signature = sign_payload(key=key, payload=payload_text.encode("ascii"))
        key_id = self.config.secret_text("key_id")
        api_key = self.config.secret_text("api_key")
        use_api_key = str(options.get("credential_source") or "credential_secret") == "api_key"
        api = {
            "credential": basic_credential(
                username=self.config.secret_text("username"),
                secret=api_key if use_api_key else self.config.secret_text("credential_secret"),
            ),
            "signature": signature,
            "apiKey": api_key,
            "keyId": key_id,
        }
        body = (
            '{"method":'
            + json.dumps(METHOD)
            + ',"id":'
            + json.dumps(request_id)
            + ',"params":{"payload":'
            + payload_text
            + ',"api":'
            + json.dumps(api, separators=(",", ":"), ensure_ascii=True)
            + "}}"
        ).encode("ascii")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if _flag(options.get("send_signature_header")):
            headers["Signature"] = (
                f"keyId={key_id},algorithm={SIGNATURE_ALGORITHM},signature={signature}"
            )
        url = self.config.base_url.rstrip("/") + "/cardv2"
        # GET_CVV changes nothing at the ledger, and a resend carries the same reference, so a
        # request that never reached the ledger may be retried; a status change may not.
        return self.http.request("POST", url, headers=headers, body=body, retry_safe=retry_safe)

    # -- reading the answer ---------------------------------------------------------------------

    def _result(self, response: HttpResponse, *, request_id: str) -> dict[str, Any]:
        """The `result` object of a JSON-RPC answer, after every error form has been raised."""
        status = response.status
        if status in (401, 403, 429) or status >= 500:
            raise error_for_status(status, retry_after=response.retry_after)
        document = _parse_json(response.body) if status == 200 else _try_parse(response.body)
        error = document.get("error") if isinstance(document, dict) else None
        if error is not None:
            raise self._mapped_error(error)
        if status == 404:
            # A bare 404 here is a wrong base URL, not an unknown card (those come as errors).
            raise ProviderConfigError("HTTP 404: no NetXD card API at the configured URL")
        if status != 200:
            raise error_for_status(status)
        if not isinstance(document, dict):
            raise ProviderBadResponse("response is not a JSON object")
        if document.get("id") != request_id:
            raise ProviderBadResponse("response id does not match the request id")
        result = document.get("result")
        if not isinstance(result, dict):
            raise ProviderBadResponse("response has neither error nor result")
        return result

    def _mapped_error(self, error: object) -> ProviderError:
        """Map a JSON-RPC `error` object to our taxonomy; the message is read, never kept."""
        if not isinstance(error, dict):
            return ProviderBadResponse("error member is not an object")
        raw_code = error.get("code")
        code = str(raw_code) if isinstance(raw_code, (str, int)) else ""
        safe_code = code if _SAFE_CODE_RE.fullmatch(code) else ""
        message = error.get("message")
        words = f"{code} {message if isinstance(message, str) else ''}".upper().replace("_", " ")
        options = self.config.options
        detail = f"ledger error {safe_code or '(no code)'}"
        if code and code in _codes(options.get("auth_error_codes")):
            return ProviderAuthError(detail, provider_code=safe_code)
        if code and code in _codes(options.get("not_found_codes")):
            return CardNotFound(detail, provider_code=safe_code)
        if code in _JSONRPC_CODES:
            return ProviderBadResponse(detail, provider_code=safe_code)
        if any(word in words for word in _AUTH_WORDS):
            return ProviderAuthError(detail, provider_code=safe_code)
        if any(s in words for s in _NOT_FOUND_SUBJECTS) and any(
            w in words for w in _NOT_FOUND_WORDS
        ):
            return CardNotFound(detail, provider_code=safe_code)
        if any(word in words for word in _RATE_WORDS):
            return ProviderRateLimited(detail, retry_after=5, provider_code=safe_code)
        return ProviderBadResponse(detail, provider_code=safe_code)


def _check_ack(result: Mapping[str, Any], *, ack_type: str, reference: str) -> None:
    """The ack, when the ledger sends one, must name the request it answers: anything else is
    not our answer (ProviderBadResponse)."""
    api = result.get("api")
    if api is None:
        return
    if not isinstance(api, dict):
        raise ProviderBadResponse("result.api is not an object")
    if api.get("type") not in (None, ack_type):
        raise ProviderBadResponse(f"result.api.type is not {ack_type}")
    if api.get("originalReference") not in (None, reference):
        raise ProviderBadResponse("result.api.originalReference does not match")


def _parse_json(body: bytes) -> object:
    document = _try_parse(body)
    if document is None:
        raise ProviderBadResponse("response is not JSON")
    return document


def _try_parse(body: bytes) -> object:
    """The body as JSON, or None when it is not JSON (or is JSON null)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        # Swallowed here, outside any later raise: a JSONDecodeError keeps the whole body in
        # `.doc`, and an error we raise must not carry it, even as __context__.
        return None
