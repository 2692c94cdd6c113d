"""Emulates Mastercard Processing Core's getCvc: OAuth1 checks, JWE, Customer-Public-Rsa-Key."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from providers.jose import (
    JoseError,
    jwe_decrypt,
    jwe_encrypt,
    jwe_header,
    key_fingerprint,
    looks_like_jwe,
)
from providers.mastercard import KNOWN_ENCRYPTED_FIELDS
from providers.oauth1 import OAuthError, verify_oauth_header
from providers.sandbox.core import Emulator, SandboxCard, SandboxRequest, SandboxResponse

# The sandbox's reason code for the spec's BadRequestInvalidCardContractTypeError.
INVALID_CARD_CONTRACT_TYPE = "INVALID_CARD_CONTRACT_TYPE"
_SEARCH_PATH = re.compile(r"/cards/([^/]+)/card-verification-codes/searches")
_YYMM = re.compile(r"[0-9]{2}(0[1-9]|1[0-2])")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_PROCESSING = "MASTERCARD PROCESSING"
_GATEWAY_AUTH = "Security.Credential"
# Bounded replay and idempotency memories: the emulator must not grow without limit.
_MAX_REMEMBERED = 10_000


def _error_body(
    source: str, reason: str, description: str, *, recoverable: bool = False
) -> dict[str, Any]:
    """Mastercard's error envelope, PascalCase as the docs and sandbox samples show it."""
    return {
        "Errors": {
            "Error": [
                {
                    "Source": source,
                    "ReasonCode": reason,
                    "Description": description,
                    "Recoverable": recoverable,
                    "Details": None,
                }
            ]
        }
    }


def _error(
    status: int,
    source: str,
    reason: str,
    description: str,
    *,
    recoverable: bool = False,
    headers: dict[str, str] | None = None,
) -> SandboxResponse:
    return SandboxResponse.json(
        status, _error_body(source, reason, description, recoverable=recoverable), headers
    )


def _auth_failed(description: str) -> SandboxResponse:
    return _error(401, _GATEWAY_AUTH, "AUTHENTICATION_FAILED", description)


def _new_rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_private(key: RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _self_signed(key: RSAPrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=395))  # API keys live 13 months
        .sign(key, hashes.SHA256())
    )


def _p12(key: RSAPrivateKey, common_name: str, password: str) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        name=b"keyalias",
        key=key,
        cert=_self_signed(key, common_name),
        cas=None,
        encryption_algorithm=serialization.BestAvailableEncryption(password.encode()),
    )


def parse_customer_public_key(value: str) -> RSAPublicKey:
    """The RSA key of a `Customer-Public-Rsa-Key` header: hex of the DER SPKI, or base64 DER
    (PEM body without the BEGIN/END lines). Raises ValueError when it is neither or too small.
    """
    text = "".join(value.split())
    der: bytes | None = None
    if _HEX.fullmatch(text) and len(text) % 2 == 0:
        der = bytes.fromhex(text)
    else:
        try:
            der = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("not hex or base64") from exc
    key = serialization.load_der_public_key(der)
    if not isinstance(key, RSAPublicKey) or key.key_size < 2048:
        raise ValueError("not an RSA key of at least 2048 bits")
    return key


class MastercardEmulator(Emulator):
    """Mastercard Processing Core's `POST /cards/{id}/card-verification-codes/searches`.

    Verifies the OAuth1 header as the gateway does (signature over the base string recomputed
    from the URL as received, body hash, a timestamp window, nonces single-use within it, a known
    consumer key). The payload mode is mirrored: a JWE-encrypted request is decrypted with the
    Mastercard-side key and answered encrypted to the client's decryption key; a plaintext request
    gets a plaintext answer. That lets `encrypt_payloads` be switched per binding against the same
    sandbox. Error bodies are never encrypted (as gateway errors are not).
    """

    kind = "mastercard"
    # Seconds a request's timestamp may differ from our clock; nonces are kept this long.
    timestamp_window: ClassVar[int] = 300
    # The "slow" card answers after twice this many seconds.
    slow_delay: float = 1.0
    # The padding used for encryptedCardVerificationCode: one of the provider's
    # client_key_padding choices, "oaep-sha256" or "oaep-sha1" (binding_options follows it).
    client_key_padding: str = "oaep-sha256"
    # What a search of contract id 0 (the provider's connection probe) is answered: "not_found"
    # (404 CARD_CONTRACT_NOT_FOUND), or "invalid_contract_type", the 400 the API specification
    # lists as BadRequestInvalidCardContractTypeError (its reason code is not published).
    contract_zero_answer: str = "not_found"

    def __init__(self, state_dir: Any = None) -> None:
        super().__init__(state_dir)
        self.consumer_key = self.load_or_create("consumer-key", self._new_consumer_key).decode()
        self.signing_password = self.load_or_create(
            "signing-key-password", lambda: secrets.token_urlsafe(12).encode()
        ).decode()
        self.signing_p12 = self.load_or_create(
            "signing-key.p12",
            lambda: _p12(_new_rsa_key(), "sandbox-signing", self.signing_password),
        )
        _key, signing_cert, _ = pkcs12.load_key_and_certificates(
            self.signing_p12, self.signing_password.encode()
        )
        if signing_cert is None or not isinstance(signing_cert.public_key(), RSAPublicKey):
            raise RuntimeError("sandbox signing key store is damaged; delete it to regenerate")
        self.signing_public_key: RSAPublicKey = signing_cert.public_key()  # type: ignore[assignment]
        # Mastercard's side of request encryption: its private key and the certificate it
        # publishes as the "Client Encryption Key".
        mc_key = serialization.load_pem_private_key(
            self.load_or_create(
                "mastercard-encryption-key.pem", lambda: _pem_private(_new_rsa_key())
            ),
            None,
        )
        if not isinstance(mc_key, RSAPrivateKey):
            raise RuntimeError("sandbox encryption key is not RSA; delete it to regenerate")
        self.mastercard_encryption_key = mc_key
        self.encryption_certificate = self.load_or_create(
            "client-encryption-certificate.pem",
            lambda: _self_signed(mc_key, "sandbox-client-encryption").public_bytes(
                serialization.Encoding.PEM
            ),
        )
        self.encryption_kid = key_fingerprint(mc_key.public_key())
        # The client's "Mastercard Encryption Key": we encrypt responses to its public half.
        self.decryption_password = self.load_or_create(
            "decryption-key-password", lambda: secrets.token_urlsafe(12).encode()
        ).decode()
        self.decryption_p12 = self.load_or_create(
            "decryption-key.p12",
            lambda: _p12(_new_rsa_key(), "sandbox-mastercard-encryption", self.decryption_password),
        )
        decryption_key, _, _ = pkcs12.load_key_and_certificates(
            self.decryption_p12, self.decryption_password.encode()
        )
        if not isinstance(decryption_key, RSAPrivateKey):
            raise RuntimeError("sandbox decryption key store is damaged; delete it to regenerate")
        self.response_public_key = decryption_key.public_key()
        self._lock = threading.Lock()
        self._nonces: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._idempotent: OrderedDict[str, tuple[str, SandboxResponse]] = OrderedDict()
        self.calls = 0  # CVC searches answered past authentication (tests count provider calls)

    @staticmethod
    def _new_consumer_key() -> bytes:
        # Shaped like a portal consumer key: 48 url-safe characters, '!', 48 hex digits.
        return (secrets.token_urlsafe(36) + "!" + secrets.token_hex(24)).encode()

    # ------------------------------------------------------------------ what bindings need

    def seed_cards(self) -> list[SandboxCard]:
        """Mastercard's own sandbox card (70001, 04/2030, CVC 347), demo cards, one per fault."""

        def card(
            contract_id: str,
            cvv: str,
            last4: str,
            label: str,
            behaviour: str = "ok",
            month: int = 4,
            year: int = 2030,
        ) -> SandboxCard:
            return SandboxCard(
                reference={"card_contract_id": contract_id},
                cvv=cvv,
                expiry_month=month,
                expiry_year=year,
                label=label,
                brand="mastercard",
                last4=last4,
                behaviour=behaviour,
            )

        return [
            card("70001", "347", "0001", "Mastercard sandbox card"),
            card("70002", "582", "4417", "Everyday debit", month=11, year=2028),
            card("70003", "9016", "8830", "Travel credit", month=1, year=2031),
            card("79401", "618", "9401", "Fault: unauthorized", "unauthorized"),
            card("79429", "273", "9429", "Fault: rate limited", "rate_limited"),
            card("79500", "835", "9500", "Fault: server error", "server_error"),
            card("79504", "492", "9504", "Fault: slow answer", "slow"),
            card("79600", "760", "9600", "Fault: malformed body", "malformed"),
        ]

    def binding_secrets(self) -> dict[str, str | bytes]:
        """The consumer key, signing .p12 and password, encryption certificate, decryption .p12
        and password: what a bank downloads from Mastercard Developers."""
        return {
            "consumer_key": self.consumer_key,
            "signing_key_p12": self.signing_p12,
            "signing_key_password": self.signing_password,
            "encryption_certificate": self.encryption_certificate,
            "decryption_key": self.decryption_p12,
            "decryption_key_password": self.decryption_password,
        }

    def binding_options(self) -> dict[str, Any]:
        return {
            "encrypt_payloads": True,
            "encrypted_value_field": "encryptedValue",
            "jwe_iv_size": "16",
            "pass_client_key": False,
            "client_key_padding": self.client_key_padding,
            "send_idempotency_key": True,
        }

    # ------------------------------------------------------------------ the API

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request as Processing Core would (see the class docstring)."""
        match = _SEARCH_PATH.fullmatch(request.path)
        if match is None:
            return _error(404, "Gateway", "RESOURCE_NOT_FOUND", "Resource not found.")
        if request.method != "POST":
            return _error(405, "Gateway", "METHOD_NOT_ALLOWED", "Method not allowed.")
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if not request.header("Content-Type").lower().startswith("application/json"):
            return _error(
                415, "Gateway", "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json."
            )
        key = request.header("Idempotency-Key")
        fingerprint = hashlib.sha256(
            request.path.encode()
            + b"\n"
            + request.body
            + request.header("Customer-Public-Rsa-Key").encode()
        ).hexdigest()
        if key:
            with self._lock:
                remembered = self._idempotent.get(key)
            if remembered is not None and remembered[0] == fingerprint:
                return remembered[1]
        response = self._search(request, match.group(1))
        if key and response.status < 500:
            with self._lock:
                self._idempotent[key] = (fingerprint, response)
                while len(self._idempotent) > _MAX_REMEMBERED:
                    self._idempotent.popitem(last=False)
        return response

    def _authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        """None when the OAuth header is valid and fresh; the gateway's 401 otherwise."""
        authorization = request.header("Authorization")
        if not authorization:
            return _auth_failed("OAuth signature is missing.")
        try:
            params = verify_oauth_header(
                authorization=authorization,
                method=request.method,
                url=request.url,
                body=request.body,
                public_key=self.signing_public_key,
            )
        except OAuthError:
            return _auth_failed(
                "We couldn't authenticate the request: the OAuth signature "
                "or body hash does not verify."
            )
        if not secrets.compare_digest(params.consumer_key, self.consumer_key):
            return _auth_failed("The consumer key is not known.")
        now = int(time.time())
        if abs(now - params.timestamp) > self.timestamp_window:
            return _auth_failed("The OAuth timestamp is outside the allowed window.")
        with self._lock:
            while self._nonces and (
                next(iter(self._nonces.values())) < now - self.timestamp_window
                or len(self._nonces) > _MAX_REMEMBERED
            ):
                self._nonces.popitem(last=False)
            seen = (params.consumer_key, params.nonce)
            if seen in self._nonces:
                return _auth_failed("The OAuth nonce has already been used.")
            self._nonces[seen] = now
        return None

    def _search(self, request: SandboxRequest, contract_id: str) -> SandboxResponse:
        try:
            outer = json.loads(request.body)
        except ValueError:
            outer = None
        if not isinstance(outer, dict):
            return _error(
                400, _PROCESSING, "INVALID_REQUEST", "The request body must be a JSON object."
            )
        encrypted_field = next(
            (name for name in (*KNOWN_ENCRYPTED_FIELDS, *outer) if looks_like_jwe(outer.get(name))),
            None,
        )
        if encrypted_field is not None:
            try:
                payload = self._decrypt_request(outer[encrypted_field])
            except (JoseError, ValueError):
                return _error(
                    400,
                    _PROCESSING,
                    "DECRYPTION_ERROR",
                    "The request payload could not be decrypted.",
                )
        else:
            payload = outer
        expiry = payload.get("cardExpiryDate")
        if not isinstance(expiry, str) or not _YYMM.fullmatch(expiry):
            return _error(
                400,
                _PROCESSING,
                "INVALID_FIELD_FORMAT",
                "cardExpiryDate is required in YYMM format.",
            )
        customer_key: RSAPublicKey | None = None
        raw_key = request.header("Customer-Public-Rsa-Key").strip()
        if raw_key:
            try:
                customer_key = parse_customer_public_key(raw_key)
            except ValueError:
                return _error(
                    400,
                    _PROCESSING,
                    "INVALID_PUBLIC_KEY",
                    "Customer-Public-Rsa-Key is not a valid RSA public key.",
                )
        card = self.find_card(card_contract_id=contract_id)
        if card is None and contract_id == "0" and self.contract_zero_answer != "not_found":
            if self.contract_zero_answer != "invalid_contract_type":
                raise ValueError("contract_zero_answer must be not_found or invalid_contract_type")
            return _error(
                400,
                _PROCESSING,
                INVALID_CARD_CONTRACT_TYPE,
                f"Card contract with id {contract_id} is not of a card contract type.",
            )
        if card is None:
            return _error(
                404,
                _PROCESSING,
                "CARD_CONTRACT_NOT_FOUND",
                f"Card contract with id {contract_id} was not found.",
            )
        fault = self._fault(card)
        if fault is not None:
            return fault
        if expiry != f"{card.expiry_year % 100:02d}{card.expiry_month:02d}":
            return _error(
                404,
                _PROCESSING,
                "INVALID_EXPIRY_DATE",
                f"Expiry date {expiry} does not match for the card contract with id {contract_id}.",
            )
        with self._lock:
            self.calls += 1
        if customer_key is not None:
            result = {"encryptedCardVerificationCode": self.seal_cvv(card.cvv, customer_key)}
        else:
            result = {"cardVerificationCode": card.cvv}
        if encrypted_field is None:
            return SandboxResponse.json(200, result)
        token = jwe_encrypt(
            json.dumps(result).encode(),
            self.response_public_key,
            kid=key_fingerprint(self.response_public_key),
            cty="application/json",
            iv_size=16,
        )
        return SandboxResponse.json(200, {encrypted_field: token})

    def _decrypt_request(self, token: str) -> dict[str, Any]:
        kid = jwe_header(token).get("kid")
        if kid is not None and str(kid).lower() != self.encryption_kid:
            raise ValueError("unknown encryption key fingerprint")
        payload = json.loads(jwe_decrypt(token, self.mastercard_encryption_key))
        if not isinstance(payload, dict):
            raise ValueError("decrypted payload is not an object")
        return payload

    def _fault(self, card: SandboxCard) -> SandboxResponse | None:
        if card.behaviour == "unauthorized":
            return _auth_failed("We couldn't authenticate the request.")
        if card.behaviour == "rate_limited":
            return _error(
                429,
                "Gateway",
                "TOO_MANY_REQUESTS",
                "Too many requests.",
                recoverable=True,
                headers={"Retry-After": "2"},
            )
        if card.behaviour == "server_error":
            return _error(
                500, _PROCESSING, "SYSTEM_ERROR", "An internal error occurred.", recoverable=True
            )
        if card.behaviour == "slow":
            time.sleep(min(2 * self.slow_delay, 6.0))
            return None
        if card.behaviour == "malformed":
            return SandboxResponse(
                200,
                b"<html><body>upstream proxy error</body></html>",
                {"Content-Type": "application/json"},
            )
        return None

    def seal_cvv(self, cvv: str, public_key: RSAPublicKey) -> str:
        """The CVC encrypted to the customer key with `client_key_padding` (RSA-OAEP with the
        hash it names, the same hash in MGF1, empty label), as uppercase hex."""
        digests: dict[str, hashes.HashAlgorithm] = {
            "oaep-sha256": hashes.SHA256(),
            "oaep-sha1": hashes.SHA1(),  # noqa: S303 - Mastercard's possible choice, mirrored
        }
        digest = digests.get(self.client_key_padding)
        if digest is None:
            raise ValueError("client_key_padding must be oaep-sha256 or oaep-sha1")
        chosen = padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)
        return public_key.encrypt(cvv.encode(), chosen).hex().upper()
