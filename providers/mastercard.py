"""Mastercard Processing Core "Retrieve CVC2" (getCvc): OAuth1-signed, JWE-encrypted searches."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import pkcs12

from providers.base import (
    CardRef,
    ClientKey,
    ConnectionProof,
    CvvResult,
    FieldSpec,
    Provider,
    ProviderSealedCvv,
    checked_cvv,
)
from providers.errors import (
    CardDetailsMismatch,
    CardNotFound,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderRateLimited,
    ProviderUndecryptable,
    error_for_status,
)
from providers.http import HttpResponse
from providers.jose import JoseError, jwe_decrypt, jwe_encrypt, key_fingerprint, looks_like_jwe
from providers.oauth1 import load_pkcs12_signing_key, oauth_header
from providers.payloads import field_ignoring_case, json_object

CONTENT_TYPE = "application/json;charset=utf-8"
CONTRACT_ID_PATTERN = r"[0-9]{1,32}"
# Names Mastercard's encryption libraries use for the field holding a whole-payload JWE.
KNOWN_ENCRYPTED_FIELDS = ("encryptedValue", "encryptedData")
INVALID_EXPIRY_DATE = "INVALID_EXPIRY_DATE"
# A contract id no issuer assigns: check_connection searches it and expects a 404 envelope, or
# the 400 the API specification lists for a contract of the wrong type
# (BadRequestInvalidCardContractTypeError).
CHECK_CONTRACT_ID = "0"
# The reason code of that 400 is not published: any code naming the card contract type is read
# as it (INVALID_CARD_CONTRACT_TYPE, BadRequestInvalidCardContractTypeError, ...).
_CONTRACT_TYPE_CODE_RE = re.compile(r"contract_?type", re.IGNORECASE)

# The padding Mastercard uses for `encryptedCardVerificationCode` is unconfirmed, so it is an
# option. Only paddings a browser's WebCrypto can open are offered (it has RSA-OAEP, with the
# hash fixed when the key is made, and no RSAES-PKCS1-v1_5). The scheme names tell the client
# how to open the ciphertext (plus "-hex"/"-base64"); the hash is the WebCrypto key's.
CLIENT_KEY_PADDINGS = {
    "oaep-sha256": "rsa-oaep-256",
    "oaep-sha1": "rsa-oaep-sha1",
}
CLIENT_KEY_HASHES = {"oaep-sha256": "SHA-256", "oaep-sha1": "SHA-1"}
DEFAULT_CLIENT_KEY_PADDING = "oaep-sha256"

_CONTRACT_ID_RE = re.compile(CONTRACT_ID_PATTERN)
_HEX_RE = re.compile(r"[0-9A-Fa-f]+")
_REASON_CODE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_TRUE_WORDS = {"1", "true", "yes", "on"}
_FALSE_WORDS = {"0", "false", "no", "off", ""}


class MastercardProvider(Provider):
    """Fetches a CVC2 from Mastercard Processing Core.

    One call: `POST {base}/cards/{card_contract_id}/card-verification-codes/searches` with
    `{"cardExpiryDate": "YYMM"}`, optionally JWE-encrypted as a whole payload, signed with
    one-legged OAuth 1.0a (RSA-SHA256 over the final body bytes). With `pass_client_key`, the
    client's RSA key goes in `Customer-Public-Rsa-Key` and Mastercard encrypts the CVC to it.
    """

    kind = "mastercard"
    label = "Mastercard Processing Core"
    default_base_url = "https://sandbox.api.mastercard.com/global-processing/core"
    can_seal_to_client_key = True
    refused_credentials = "the request's OAuth1 signature"
    credentials_advice = (
        "check the consumer key, and that the signing key (.p12) and its password are the ones "
        "of this project on Mastercard Developers"
    )
    decryption_advice = (
        "check the key pair matches the one registered with Mastercard (the Mastercard "
        "Encryption Key)"
    )

    reference_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            name="card_contract_id",
            label="Card contract id",
            pattern=CONTRACT_ID_PATTERN,
            help_text="The technical card contract id returned by Mastercard (digits, e.g. 70001).",
        ),
    )
    secret_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            name="consumer_key",
            label="Consumer key",
            kind="text",  # an identifier sent in every request's header; the .p12 is the secret
            help_text="The OAuth consumer key shown for your project on Mastercard Developers.",
        ),
        FieldSpec(
            name="signing_key_p12",
            label="Signing key (.p12)",
            kind="file",
            help_text="The PKCS#12 signing key downloaded when the API key was created.",
        ),
        FieldSpec(
            name="signing_key_password",
            label="Signing key password",
            kind="secret",
            required=False,
            help_text="The password of the signing .p12 (Mastercard's default: keystorepassword).",
        ),
        FieldSpec(
            name="encryption_certificate",
            label="Client Encryption Key certificate (PEM)",
            kind="file",
            required=False,
            help_text="Mastercard's certificate used to encrypt requests. "
            "Required when payload encryption is on.",
        ),
        FieldSpec(
            name="decryption_key",
            label="Mastercard Encryption Key (private key, .p12 or PEM)",
            kind="file",
            required=False,
            help_text="Your private key whose public half Mastercard encrypts responses to. "
            "Required when payload encryption is on.",
        ),
        FieldSpec(
            name="decryption_key_password",
            label="Mastercard Encryption Key password",
            kind="secret",
            required=False,
            help_text="The password of the decryption key file, if it has one.",
        ),
    )
    option_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            name="encrypt_payloads",
            label="Encrypt payloads (JWE)",
            kind="bool",
            required=False,
            default=True,
            help_text="Processing Core encrypts every operation; some sandboxes do not.",
        ),
        FieldSpec(
            name="encrypted_value_field",
            label="Encrypted value field name",
            required=False,
            default="encryptedValue",
            pattern=r"[A-Za-z_][A-Za-z0-9_]{0,63}",
            help_text="The JSON field holding the request JWE (unconfirmed for Processing Core; "
            "responses in encryptedValue, encryptedData or any single JWE field are accepted).",
        ),
        FieldSpec(
            name="jwe_iv_size",
            label="JWE IV size (bytes)",
            kind="choice",
            required=False,
            choices=("16", "12"),
            default="16",
            help_text="16 is what Mastercard's client libraries send.",
        ),
        FieldSpec(
            name="encryption_key_fingerprint",
            label="Encryption key fingerprint (kid)",
            required=False,
            default="",
            pattern=r"[0-9A-Fa-f]{64}",
            help_text="Leave blank to use the SHA-256 fingerprint of the certificate's public key.",
        ),
        FieldSpec(
            name="pass_client_key",
            label="Let Mastercard encrypt the CVC to the viewer's key",
            kind="bool",
            required=False,
            default=False,
            help_text="Sends Customer-Public-Rsa-Key so the CVC never exists in plaintext here.",
        ),
        FieldSpec(
            name="client_key_padding",
            label="Padding of the encrypted CVC",
            kind="choice",
            required=False,
            choices=tuple(CLIENT_KEY_PADDINGS),
            default=DEFAULT_CLIENT_KEY_PADDING,
            help_text="Only with the pass-through on. Mastercard does not publish the RSA "
            "padding of encryptedCardVerificationCode: confirm with Mastercard (or on MTF) "
            "whether it is RSA-OAEP with SHA-256 (oaep-sha256) or with SHA-1 (oaep-sha1). Both "
            "can be opened by the reveal page and the app; PKCS#1 v1.5 cannot, so it is not "
            "offered.",
        ),
        FieldSpec(
            name="send_idempotency_key",
            label="Send an Idempotency-Key",
            kind="bool",
            required=False,
            default=True,
            help_text="Lets a call that never reached Mastercard be retried safely.",
        ),
    )

    # ------------------------------------------------------------------ options

    def _option(self, name: str) -> Any:
        value = self.config.options.get(name)
        if value is None:
            for spec in self.option_fields:
                if spec.name == name:
                    return spec.default
        return value

    def _flag(self, name: str) -> bool:
        return _as_bool(self._option(name), name=name)

    @property
    def encrypt_payloads(self) -> bool:
        return self._flag("encrypt_payloads")

    @property
    def pass_client_key(self) -> bool:
        return self._flag("pass_client_key")

    @property
    def _encrypted_field(self) -> str:
        return str(self._option("encrypted_value_field") or KNOWN_ENCRYPTED_FIELDS[0])

    @property
    def _iv_size(self) -> int:
        raw = str(self._option("jwe_iv_size") or "16")
        if raw not in ("12", "16"):
            raise ProviderConfigError("option jwe_iv_size must be 12 or 16")
        return int(raw)

    @property
    def _client_key_padding(self) -> str:
        return client_key_padding(self.config.options)

    # ------------------------------------------------------------------ keys (parsed once)

    @cached_property
    def _signing_key(self) -> RSAPrivateKey:
        data = self.config.secret_bytes("signing_key_p12")
        if not data:
            raise ProviderConfigError("signing key (.p12) is not set")
        try:
            return _parsed_private_key(
                load_pkcs12_signing_key, data, self.config.secret_text("signing_key_password")
            )
        except ValueError as exc:
            raise ProviderConfigError("signing key (.p12) could not be opened") from exc

    @cached_property
    def _consumer_key(self) -> str:
        consumer_key = self.config.secret_text("consumer_key").strip()
        if not consumer_key:
            raise ProviderConfigError("consumer key is not set")
        return consumer_key

    @cached_property
    def _encryption_key(self) -> tuple[RSAPublicKey, str]:
        data = self.config.secret_bytes("encryption_certificate")
        if not data:
            raise ProviderConfigError("encryption certificate is not set (payload encryption on)")
        try:
            public_key = load_encryption_public_key(data)
        except ValueError as exc:
            raise ProviderConfigError("encryption certificate could not be read") from exc
        kid = str(self._option("encryption_key_fingerprint") or "").strip().lower()
        return public_key, kid or key_fingerprint(public_key)

    @cached_property
    def _decryption_key(self) -> RSAPrivateKey:
        data = self.config.secret_bytes("decryption_key")
        if not data:
            raise ProviderConfigError("decryption key is not set (payload encryption on)")
        try:
            return _parsed_private_key(
                load_rsa_private_key, data, self.config.secret_text("decryption_key_password")
            )
        except ValueError as exc:
            raise ProviderConfigError("decryption key could not be opened") from exc

    # ------------------------------------------------------------------ the calls

    def fetch_cvv(self, *, card: CardRef, client_key: ClientKey | None = None) -> CvvResult:
        """Search the card's CVC2 at Mastercard.

        Returns a `ProviderSealedCvv` (ciphertext for `client_key`) when the binding's
        `pass_client_key` is on and a key is given, otherwise a `PlainCvv`.
        Raises `CardDetailsMismatch` (404 INVALID_EXPIRY_DATE), `CardNotFound` (other 404),
        `ProviderAuthError` (401/403), `ProviderConfigError` (bad keys or reference), and the
        other `ProviderError`s for transport, status and body failures. One POST.
        """
        contract_id = card.reference.get("card_contract_id", "")
        seal_to = client_key if (client_key is not None and self.pass_client_key) else None
        # A padding the viewer's device cannot open is refused before any call.
        padding_name = self._client_key_padding if seal_to is not None else ""
        response = self._search(
            contract_id=contract_id, expiry_yymm=card.expiry_yymm, client_key=seal_to
        )
        if response.status != 200:
            raise self._error_for(response)
        payload = self._response_payload(response)
        if seal_to is not None:
            return self._sealed_cvv(payload, seal_to, padding_name=padding_name)
        return checked_cvv(payload.get("cardVerificationCode"))

    def check_connection(self) -> ConnectionProof:
        """Search a contract id that cannot exist: Mastercard's 404 envelope proves the gateway
        accepted our signature (and decrypted our payload) and routed the call; its 400 saying
        the contract is of the wrong type (BadRequestInvalidCardContractTypeError in the API
        specification) proves the signature, though not that the payload was decrypted.

        Mastercard's errors are never encrypted, so with payload encryption on the binding's
        decryption key stays unproven: the proof says so. Raises `ProviderAuthError` for 401/403,
        `ProviderConfigError` for a pass-through padding no viewer can open (before any call),
        any other 400 (usually the encryption keys) or a 404 that is not Mastercard's (usually
        the base URL), and the usual `ProviderError`s otherwise. No card is touched.
        """
        if self.pass_client_key:
            # A stored padding no viewer can open would fail every reveal: say so now.
            _ = self._client_key_padding
        yymm = dt.datetime.now(dt.UTC).strftime("%y%m")
        response = self._search(contract_id=CHECK_CONTRACT_ID, expiry_yymm=yymm, client_key=None)
        codes = _reason_codes(response.body)
        if 200 <= response.status < 300 or (response.status == 404 and codes):
            if not self.encrypt_payloads:
                return ConnectionProof(proved="Mastercard accepted the OAuth1 signature")
            return ConnectionProof(
                proved="Mastercard accepted the OAuth1 signature and decrypted the encrypted "
                "request",
                unproved="decryption was not checked: Mastercard encrypts only a real CVV "
                "answer to this binding's private key (the Mastercard Encryption Key)",
            )
        if response.status == 400 and any(_CONTRACT_TYPE_CODE_RE.search(c) for c in codes):
            proved = (
                "Mastercard accepted the OAuth1 signature (it answered that the probe's "
                "contract id is not a card contract, so the credentials work)"
            )
            if not self.encrypt_payloads:
                return ConnectionProof(proved=proved)
            return ConnectionProof(
                proved=proved,
                unproved="encryption was not checked: Mastercard refused the probe's contract "
                "id without saying it had decrypted the request, and encrypts only a real CVV "
                "answer to this binding's private key (the Mastercard Encryption Key)",
            )
        if response.status == 404:
            # A 404 without Mastercard's envelope came from something else: a wrong base URL.
            raise ProviderConfigError("HTTP 404 without a Mastercard error: check the base URL")
        if response.status == 400:
            raise ProviderConfigError(
                "Mastercard rejected the request (400): check the encryption keys and options",
                provider_code=codes[0] if codes else "",
            )
        raise self._error_for(response)

    def _search(
        self, *, contract_id: str, expiry_yymm: str, client_key: ClientKey | None
    ) -> HttpResponse:
        if not _CONTRACT_ID_RE.fullmatch(contract_id):
            raise ProviderConfigError("card_contract_id is missing or not digits")
        url = (
            f"{self.config.base_url.rstrip('/')}/cards/{quote(contract_id, safe='')}"
            "/card-verification-codes/searches"
        )
        body = self._request_body({"cardExpiryDate": expiry_yymm})
        headers = {"Content-Type": CONTENT_TYPE, "Accept": "application/json"}
        idempotent = self._flag("send_idempotency_key")
        if idempotent:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        if client_key is not None:
            headers["Customer-Public-Rsa-Key"] = client_key.der().hex().upper()
        # Signed last, over the exact bytes sent (after encryption).
        headers["Authorization"] = oauth_header(
            method="POST",
            url=url,
            body=body,
            consumer_key=self._consumer_key,
            signing_key=self._signing_key,
        )
        return self.http.request("POST", url, headers=headers, body=body, retry_safe=idempotent)

    def _request_body(self, payload: Mapping[str, Any]) -> bytes:
        plain = json.dumps(payload, separators=(",", ":")).encode()
        if not self.encrypt_payloads:
            return plain
        public_key, kid = self._encryption_key
        token = jwe_encrypt(
            plain, public_key, kid=kid, cty="application/json", iv_size=self._iv_size
        )
        return json.dumps({self._encrypted_field: token}, separators=(",", ":")).encode()

    def _response_payload(self, response: HttpResponse) -> dict[str, Any]:
        """The 200 body as a JSON object, decrypted when it carries a JWE (whatever our mode:
        Mastercard's libraries decrypt whenever the encrypted field is present)."""
        payload = json_object(response.body)
        if payload is None:
            raise ProviderBadResponse("response is not a JSON object")
        token = find_jwe(payload, preferred=self._encrypted_field)
        if token is None:
            return payload
        try:
            decrypted = jwe_decrypt(token, self._decryption_key)
        except JoseError as exc:
            raise ProviderUndecryptable("encrypted response could not be decrypted") from exc
        inner = json_object(decrypted)
        if inner is None:
            raise ProviderBadResponse("decrypted response is not a JSON object")
        return inner

    def _sealed_cvv(
        self, payload: Mapping[str, Any], client_key: ClientKey, *, padding_name: str
    ) -> ProviderSealedCvv:
        # Without the ciphertext we refuse rather than fall back to a plaintext CVC: the binding
        # promised the plaintext never exists here.
        raw = payload.get("encryptedCardVerificationCode")
        if not isinstance(raw, str) or not raw:
            raise ProviderBadResponse("encryptedCardVerificationCode missing")
        block = client_key.public_key.key_size // 8
        scheme = CLIENT_KEY_PADDINGS[padding_name]
        if _HEX_RE.fullmatch(raw) and len(raw) == 2 * block:
            return ProviderSealedCvv(ciphertext=raw.upper(), scheme=f"{scheme}-hex")
        try:
            decoded = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProviderBadResponse("encryptedCardVerificationCode is not hex or base64") from exc
        if len(decoded) != block:
            raise ProviderBadResponse("encryptedCardVerificationCode has the wrong length")
        return ProviderSealedCvv(ciphertext=raw, scheme=f"{scheme}-base64")

    def _error_for(self, response: HttpResponse) -> ProviderError:
        """Map an unsuccessful answer to a provider error, reading only the reason codes."""
        codes = _reason_codes(response.body)
        code = codes[0] if codes else ""
        status = response.status
        detail = f"HTTP {status}" + (f" {code}" if code else "")
        if status == 404:
            if INVALID_EXPIRY_DATE in codes:
                return CardDetailsMismatch(detail, provider_code=INVALID_EXPIRY_DATE)
            return CardNotFound(detail, provider_code=code)
        if status in (401, 403):
            return ProviderAuthError(detail, provider_code=code)
        if status == 429:
            return ProviderRateLimited(
                detail, retry_after=response.retry_after or 5, provider_code=code
            )
        return error_for_status(status, retry_after=response.retry_after, provider_code=code)

    @classmethod
    def client_key_hash(cls, options: Mapping[str, Any]) -> str:
        """SHA-1 when Mastercard encrypts the CVC to the viewer's key with RSA-OAEP SHA-1 (the
        pass-through with oaep-sha1); SHA-256 otherwise, including for an unusable option (the
        reveal then fails with a configuration error before any call)."""
        try:
            passing = _as_bool(options.get("pass_client_key", False), name="pass_client_key")
        except ProviderConfigError:
            return "SHA-256"
        padding_name = str(options.get("client_key_padding") or DEFAULT_CLIENT_KEY_PADDING)
        return CLIENT_KEY_HASHES.get(padding_name, "SHA-256") if passing else "SHA-256"

    # ------------------------------------------------------------------ admin validation

    @classmethod
    def validate_secrets(
        cls, secrets: Mapping[str, bytes | str], options: Mapping[str, Any]
    ) -> dict[str, str]:
        """Check the consumer key is set, the signing .p12 opens with its password and holds an
        RSA key, and (when payload encryption is on, or when given) the encryption certificate
        is a current RSA certificate and the decryption key opens, and that the pass-through
        padding is one the reveal page and the app can open. Returns field -> message;
        messages never repeat a secret.
        """
        errors: dict[str, str] = {}
        if not _text(secrets.get("consumer_key")).strip():
            errors["consumer_key"] = "Enter the consumer key shown on Mastercard Developers."
        p12 = _bytes(secrets.get("signing_key_p12"))
        if not p12:
            errors["signing_key_p12"] = "Upload the signing key .p12 file."
        else:
            try:
                load_pkcs12_signing_key(p12, _text(secrets.get("signing_key_password")))
            except ValueError as exc:
                errors["signing_key_p12"] = f"{exc} Check the file and the signing key password."
        try:
            encrypting = _as_bool(options.get("encrypt_payloads", True), name="encrypt_payloads")
        except ProviderConfigError:
            encrypting = True
        cert = _bytes(secrets.get("encryption_certificate"))
        if cert:
            message = _certificate_problem(cert)
            if message:
                errors["encryption_certificate"] = message
        elif encrypting:
            errors["encryption_certificate"] = (
                "Upload Mastercard's Client Encryption Key certificate (PEM), or turn payload "
                "encryption off."
            )
        key = _bytes(secrets.get("decryption_key"))
        if key:
            try:
                load_rsa_private_key(key, _text(secrets.get("decryption_key_password")))
            except ValueError as exc:
                errors["decryption_key"] = f"{exc} Check the file and its password."
        elif encrypting:
            errors["decryption_key"] = (
                "Upload your Mastercard Encryption Key (the private key, .p12 or PEM), or turn "
                "payload encryption off."
            )
        if str(options.get("jwe_iv_size") or "16") not in ("12", "16"):
            errors["jwe_iv_size"] = "Choose 16 (what Mastercard's client libraries send) or 12."
        padding_name = str(options.get("client_key_padding") or DEFAULT_CLIENT_KEY_PADDING)
        if padding_name not in CLIENT_KEY_PADDINGS:
            # The same list the option offers: what the reveal page and the app can open.
            errors["client_key_padding"] = (
                "Choose oaep-sha256 or oaep-sha1 (the padding Mastercard confirms for "
                "encryptedCardVerificationCode): the reveal page and the app open only RSA-OAEP "
                "with SHA-256 or SHA-1."
            )
        return errors


# ---------------------------------------------------------------------- helpers

# Opening a password-protected .p12 costs ~50 ms of key derivation, and a provider is built per
# reveal; parsed keys are kept per process, keyed by a digest of (file, password), never by the
# secret itself. Bounded so rotated keys do not pile up.
_KEY_CACHE_SIZE = 16
_key_cache: OrderedDict[bytes, RSAPrivateKey] = OrderedDict()
_key_cache_lock = threading.Lock()


def _parsed_private_key(
    load: Callable[[bytes, str], RSAPrivateKey], data: bytes, password: str
) -> RSAPrivateKey:
    """`load(data, password)`, remembered per process; errors are not remembered."""
    digest = hashlib.sha256(
        load.__name__.encode() + b"\0" + hashlib.sha256(password.encode()).digest() + data
    ).digest()
    with _key_cache_lock:
        cached = _key_cache.get(digest)
        if cached is not None:
            _key_cache.move_to_end(digest)
            return cached
    key = load(data, password)
    with _key_cache_lock:
        _key_cache[digest] = key
        while len(_key_cache) > _KEY_CACHE_SIZE:
            _key_cache.popitem(last=False)
    return key


def client_key_padding(options: Mapping[str, Any]) -> str:
    """The binding's `client_key_padding` (the default when unset); raises ProviderConfigError
    for one the viewer's device could not open."""
    padding_name = str(options.get("client_key_padding") or DEFAULT_CLIENT_KEY_PADDING)
    if padding_name not in CLIENT_KEY_PADDINGS:
        raise ProviderConfigError(
            "option client_key_padding must be oaep-sha256 or oaep-sha1 (what browsers can open)"
        )
    return padding_name


def find_jwe(
    payload: Mapping[str, Any], *, preferred: str = KNOWN_ENCRYPTED_FIELDS[0]
) -> str | None:
    """The compact JWE of a whole-payload-encrypted body, or None when it is not encrypted.

    Looks in `preferred`, then `encryptedValue` and `encryptedData`, then accepts a body whose
    only string field holding a JWE is unambiguous.
    """
    for name in (preferred, *KNOWN_ENCRYPTED_FIELDS):
        value = payload.get(name)
        if looks_like_jwe(value):
            return str(value)
    found = [value for value in payload.values() if looks_like_jwe(value)]
    return str(found[0]) if len(found) == 1 else None


def load_encryption_public_key(data: bytes) -> RSAPublicKey:
    """The RSA public key of a certificate (PEM or DER) or of a bare public key (PEM or DER).

    Raises ValueError with an admin-readable message when it is neither, or not RSA.
    """
    loaders: tuple[Callable[[bytes], object], ...] = (
        lambda raw: x509.load_pem_x509_certificate(raw).public_key(),
        lambda raw: x509.load_der_x509_certificate(raw).public_key(),
        serialization.load_pem_public_key,
        serialization.load_der_public_key,
    )
    for load in loaders:
        try:
            key = load(data)
        except ValueError:
            continue
        if not isinstance(key, RSAPublicKey):
            raise ValueError("The certificate's key is not RSA.")
        return key
    raise ValueError("The file is not a PEM or DER certificate.")


def load_rsa_private_key(data: bytes, password: str) -> RSAPrivateKey:
    """An RSA private key from a PKCS#12 file or a PEM/DER private key (encrypted or not).

    Raises ValueError with an admin-readable message when it cannot be opened or is not RSA.
    """
    secret = password.encode("utf-8") if password else None
    key: object = None
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(data, secret)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                "The PEM private key could not be opened: the password is wrong or missing, "
                "or the file is not a private key."
            ) from exc
    else:
        try:
            key, _cert, _extra = pkcs12.load_key_and_certificates(data, secret)
        except ValueError:
            try:
                key = serialization.load_der_private_key(data, secret)
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    "The key file could not be opened: the password is wrong or the file is "
                    "neither PKCS#12 nor a private key."
                ) from exc
        if key is None:
            raise ValueError("The key file holds no private key.")
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("The key file holds a key that is not RSA.")
    return key


def _certificate_problem(data: bytes) -> str:
    """Why the encryption certificate cannot be used, or '' when it can."""
    try:
        load_encryption_public_key(data)
    except ValueError as exc:
        return f"{exc} Upload the Client Encryption Key certificate (PEM) from Mastercard."
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        try:
            cert = x509.load_der_x509_certificate(data)
        except ValueError:
            return ""  # a bare public key: no validity dates to check
    if cert.not_valid_after_utc < dt.datetime.now(dt.UTC):
        return (
            f"The certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}; download the "
            "current Client Encryption Key from Mastercard Developers."
        )
    return ""


def _as_bool(value: object, *, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
        return value.strip().lower() in _TRUE_WORDS
    raise ProviderConfigError(f"option {name} must be true or false")


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _bytes(value: bytes | str | None) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else value.encode("utf-8")


def _reason_codes(body: bytes) -> list[str]:
    """The ReasonCodes of a Mastercard error envelope `{"Errors":{"Error":[...]}}`, any casing.

    Only short identifier-like codes are kept: nothing else from the body leaves this function.
    """
    payload = json_object(body)
    if payload is None:
        return []
    errors = field_ignoring_case(payload, "errors")
    if isinstance(errors, Mapping):
        errors = field_ignoring_case(errors, "error")
    if isinstance(errors, Mapping):
        errors = [errors]
    if not isinstance(errors, list):
        return []
    codes: list[str] = []
    for item in errors:
        if isinstance(item, Mapping):
            code = field_ignoring_case(item, "reasonCode")
            if isinstance(code, str) and _REASON_CODE_RE.fullmatch(code):
                codes.append(code)
    return codes
