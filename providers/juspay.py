"""Juspay JusBiz: a virtual card's security code, answered as a JWE to our RSA key."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from providers.base import (
    BindingConfig,
    CardRef,
    ClientKey,
    ConnectionProof,
    CvvResult,
    FieldSpec,
    PlainCvv,
    Provider,
    checked_cvv,
)
from providers.errors import (
    CardNotFound,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderUndecryptable,
    error_for_status,
)
from providers.http import HttpDoor, HttpResponse
from providers.jose import JoseError, jwe_compact_from_json, jwe_decrypt, jwe_header
from providers.payloads import field_ignoring_case, json_object
from providers.sensitive import Sensitive

SANDBOX_BASE_URL = "https://sandbox.biz.juspay.in/"
CVV_PATH = "ardra/vt/cvv/v2"
# JusBiz's documented payoutId (Create Payout): at most 21 letters, digits and '_'.
PAYOUT_ID_MAX_LENGTH = 21
PAYOUT_ID_PATTERN = r"[A-Za-z0-9_]{1,21}"
MIN_RSA_BITS = 2048
# The JWE algorithms JusBiz documents; anything else is refused rather than negotiated down.
JWE_ALG = "RSA-OAEP-256"
JWE_ENC = "A256GCM"
# An independent cap on the decoded card image. The HTTP door's body limit (256 KiB by default,
# which leaves room for about 140 KiB of image after base64 and JWE) usually binds first.
MAX_CARD_IMAGE_BYTES = 512 * 1024
# check_connection asks for a payout no one issues, in the documented payoutId format (21
# characters): "not found" proves auth passed [unconfirmed that JusBiz checks credentials before
# looking the payout up; the sandbox does].
PROBE_PAYOUT_ID = "cardreveal_conn_check"

_PAYOUT_ID_RE = re.compile(PAYOUT_ID_PATTERN)
# Visible ASCII with no spaces: anything else could smuggle header syntax.
_HEADER_VALUE_RE = re.compile(r"[\x21-\x7e]+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_SUCCESS = "SUCCESS"
_FAILURE = "FAILURE"

# JusBiz explains failures in a free-text `message`. We classify it into one of these codes, which
# is all we keep: the text itself comes from a response body and never goes into an error.
# Order matters: the combined "Basic Auth & Key ID" message must win over its parts.
_MESSAGE_CODES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"invalid\s*key\s*id", re.IGNORECASE), "INVALID_KEY_ID"),
    (
        re.compile(r"basic\s*auth\s*&\s*key\s*id\s*missing", re.IGNORECASE),
        "BASIC_AUTH_AND_KEY_ID_MISSING",
    ),
    (re.compile(r"key\s*id\s*missing", re.IGNORECASE), "KEY_ID_MISSING"),
    (re.compile(r"basic\s*auth\s*missing", re.IGNORECASE), "BASIC_AUTH_MISSING"),
    (re.compile(r"unauthori[sz]ed", re.IGNORECASE), "UNAUTHORISED"),
    # How JusBiz words an unknown payoutId is not published [unconfirmed]; these cover the
    # usual phrasings (and the sandbox's).
    # What JusBiz answers for a path it does not serve (before the not-found phrasings below).
    (re.compile(r"for\s+the\s+given\s+path", re.IGNORECASE), "UNKNOWN_PATH"),
    (
        re.compile(
            r"not\s*found|no\s+payout|does\s*not\s*exist|no\s*such|invalid\s*payout",
            re.IGNORECASE,
        ),
        "PAYOUT_NOT_FOUND",
    ),
)


def join_url(base_url: str, path: str) -> str:
    """`base_url` and `path` joined by exactly one slash, whether or not the base ends with one."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def basic_authorization(*, api_key: str) -> str:
    """The `Authorization` value JusBiz expects: Basic with the API key as user, empty password."""
    return "Basic " + base64.b64encode(f"{api_key}:".encode()).decode("ascii")


# Parsing an RSA private key checks it (tens of ms of CPU) and a provider is built per reveal, so
# parsed keys are kept per process, keyed by a digest of (key, password), never by the secret
# itself; bounded so rotated keys do not pile up. Errors are not remembered.
_KEY_CACHE_SIZE = 16
_key_cache: OrderedDict[bytes, RSAPrivateKey] = OrderedDict()
_key_cache_lock = threading.Lock()


def _cached_response_key(data: bytes, *, password: str) -> RSAPrivateKey:
    """`load_response_key(data, password=password)`, remembered per process."""
    digest = hashlib.sha256(hashlib.sha256(password.encode()).digest() + data).digest()
    with _key_cache_lock:
        cached = _key_cache.get(digest)
        if cached is not None:
            _key_cache.move_to_end(digest)
            return cached
    key = load_response_key(data, password=password)
    with _key_cache_lock:
        _key_cache[digest] = key
        while len(_key_cache) > _KEY_CACHE_SIZE:
            _key_cache.popitem(last=False)
    return key


def load_response_key(data: bytes, *, password: str = "") -> RSAPrivateKey:
    """Parse the binding's response decryption key: PEM (PKCS#8 or PKCS#1, optionally encrypted)
    or DER PKCS#8, RSA of at least 2048 bits.

    Raises ValueError with a plain-words message (never the key) when it cannot be used.
    """
    if not data.strip():
        raise ValueError("Upload the RSA private key whose public key is uploaded to JusBiz.")
    secret = password.encode() if password else None
    try:
        if data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_private_key(data, password=secret)
        else:
            key = serialization.load_der_private_key(data, password=secret)
    except TypeError as exc:
        # cryptography says TypeError for "encrypted but no password" and the reverse.
        if secret is None:
            raise ValueError("The key is encrypted: enter its password too.") from None
        raise ValueError("A password was given but the key is not encrypted.") from exc
    except ValueError:
        if secret is not None:
            raise ValueError(
                "The key could not be read: wrong password, or not a PEM/DER private key."
            ) from None
        raise ValueError("The key could not be read: not a PEM or DER private key.") from None
    except UnsupportedAlgorithm:
        raise ValueError("The key could not be read: unsupported key type or cipher.") from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("The key must be an RSA private key (JusBiz encrypts with RSA-OAEP-256).")
    if key.key_size < MIN_RSA_BITS:
        raise ValueError(
            f"The RSA key must be at least {MIN_RSA_BITS} bits (it is {key.key_size})."
        )
    return key


def message_code(document: Mapping[str, Any] | None) -> str:
    """The stable code for a JusBiz `message`, or '' when there is none we recognise."""
    message = document.get("message") if document is not None else None
    if not isinstance(message, str):
        return ""
    for pattern, code in _MESSAGE_CODES:
        if pattern.search(message):
            return code
    return ""


def _status_of(document: Mapping[str, Any]) -> str:
    status = document.get("status")
    return status.upper() if isinstance(status, str) else ""


def _error_for_failure(document: Mapping[str, Any]) -> ProviderError:
    """Map a `status: FAILURE` answered with HTTP 200 (JusBiz reports business failures so)."""
    code = message_code(document)
    if code == "PAYOUT_NOT_FOUND":
        return CardNotFound("FAILURE: payout not found", provider_code=code)
    if code in ("INVALID_KEY_ID", "UNAUTHORISED") or code.endswith("_MISSING"):
        return ProviderAuthError(f"FAILURE: {code}", provider_code=code)
    return ProviderBadResponse("FAILURE status in a 200 answer", provider_code=code)


def error_for_answer(response: HttpResponse) -> ProviderError:
    """Map an unsuccessful, unencrypted JusBiz answer to a provider error (T-MAP-1).

    400 "Invalid Key ID passed" means our KeyId is wrong (an auth error on our side); 401/403 are
    our credentials; 404, or a 400 saying the payout is unknown, is CardNotFound; the rest follows
    `error_for_status`. Only a classification code of the message is kept, never its text.
    """
    status = response.status
    code = message_code(json_object(response.body))
    detail = f"HTTP {status}" + (f" {code}" if code else "")
    if status == 400 and code == "INVALID_KEY_ID":
        return ProviderAuthError(detail, provider_code=code)
    if status == 404 and code == "UNKNOWN_PATH":
        # JusBiz's answer for a path it does not serve: our base URL is wrong, not the card.
        return ProviderConfigError(detail + ": check the binding's base URL", provider_code=code)
    if status in (400, 404) and code == "PAYOUT_NOT_FOUND":
        return CardNotFound(detail, provider_code=code)
    return error_for_status(status, retry_after=response.retry_after, provider_code=code)


def decode_card_image(raw: object) -> Sensitive[bytes]:
    """Decode a base64 card image (standard or URL-safe alphabet, padding and a data: prefix
    optional) and check it is a PNG or JPEG of at most MAX_CARD_IMAGE_BYTES.

    Raises ProviderBadResponse otherwise. The result is wrapped: the image shows card details.
    """
    if not isinstance(raw, str):
        raise ProviderBadResponse("card image is not a string")
    text = "".join(raw.split())
    if text.startswith("data:"):
        _, sep, text = text.partition("base64,")
        if not sep:
            raise ProviderBadResponse("card image data: URI is not base64")
    # Refuse before decoding so a hostile size never gets allocated twice.
    if len(text) > (MAX_CARD_IMAGE_BYTES + 2) // 3 * 4:
        raise ProviderBadResponse("card image too large")
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderBadResponse("card image is not base64") from None
    if len(data) > MAX_CARD_IMAGE_BYTES:
        raise ProviderBadResponse("card image too large")
    if not (data.startswith(_PNG_MAGIC) or data.startswith(_JPEG_MAGIC)):
        raise ProviderBadResponse("card image is neither PNG nor JPEG")
    return Sensitive(data)


class JuspayProvider(Provider):
    """Juspay JusBiz "Get Security Code": Basic auth with the API key, `X-merchantid`, `KeyId`;
    the 200 answer is a JWE (RSA-OAEP-256/A256GCM) to the RSA key the merchant uploaded."""

    kind: ClassVar[str] = "juspay"
    label: ClassVar[str] = "Juspay JusBiz"
    default_base_url: ClassVar[str] = SANDBOX_BASE_URL
    refused_credentials: ClassVar[str] = "the API key, merchant id or KeyId"
    credentials_advice: ClassVar[str] = (
        "check them against JusBiz Dashboard > Settings > API Settings for this environment"
    )
    decryption_advice: ClassVar[str] = (
        "check the RSA public key uploaded to JusBiz for this KeyId is this key's pair"
    )
    reference_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "payout_id",
            "Payout ID",
            pattern=PAYOUT_ID_PATTERN,
            help_text="The payoutId the virtual card was created under (Create Payout): at "
            f"most {PAYOUT_ID_MAX_LENGTH} letters, digits or '_', as JusBiz documents it; no "
            "'-', spaces or other characters.",
        ),
    )
    secret_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "api_key",
            "API key",
            kind="secret",
            help_text="From JusBiz Dashboard > Settings > API Settings > Create API Key.",
        ),
        FieldSpec(
            "merchant_id",
            "Merchant ID",
            kind="text",
            help_text="The merchant id Juspay gave you (sent as X-merchantid).",
        ),
        FieldSpec(
            "key_id",
            "Key ID",
            kind="text",
            help_text="The Key Id JusBiz shows for the uploaded RSA public key (sent as KeyId).",
        ),
        FieldSpec(
            "response_decryption_key",
            "Response decryption key",
            kind="file",
            help_text="PEM RSA private key (PKCS#8 or PKCS#1, at least 2048 bits) whose "
            "public key is uploaded at Settings > API Settings > Upload New RSA.",
        ),
        FieldSpec(
            "response_decryption_key_password",
            "Decryption key password",
            kind="secret",
            required=False,
            help_text="Only if the private key file is encrypted.",
        ),
    )
    option_fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "card_image_required",
            "Also fetch the card image",
            kind="bool",
            required=False,
            default=False,
            help_text="Sends isCardImageRequired: true. The image shows the card's "
            "details, so it is handled as sensitively as the CVV.",
        ),
    )

    def __init__(self, config: BindingConfig, http: HttpDoor) -> None:
        super().__init__(config, http)
        self._key: RSAPrivateKey | None = None

    @property
    def card_image_required(self) -> bool:
        """Whether the binding asks JusBiz for the card image (the bool option, or its text)."""
        value = self.config.options.get("card_image_required", False)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return value is True

    def fetch_cvv(self, *, card: CardRef, client_key: ClientKey | None = None) -> CvvResult:
        """Fetch the card's security code (and its image when the binding asks for it).

        Args: `card` with the reference field payout_id; `client_key` is ignored (JusBiz encrypts
        to the merchant's key only, so the caller seals the `PlainCvv`).
        Returns a `PlainCvv`, whose `card_image` is set only when the `card_image_required` option
        is on and JusBiz sent one. Raises ProviderConfigError for a bad card reference or key
        (before any call), CardNotFound, ProviderAuthError, ProviderBadResponse (also for a
        response that does not decrypt), or a transport error from the HTTP door. One POST.
        """
        payout_id = card.reference.get("payout_id", "")
        if not isinstance(payout_id, str) or not _PAYOUT_ID_RE.fullmatch(payout_id):
            raise ProviderConfigError(
                f"card reference payout_id missing or not JusBiz's format (at most "
                f"{PAYOUT_ID_MAX_LENGTH} letters, digits or '_')"
            )
        want_image = self.card_image_required
        document = self._get_security_code(payout_id=payout_id, want_image=want_image)
        inner = document.get("response")
        if not isinstance(inner, dict):
            raise ProviderBadResponse("response object missing")
        result = checked_cvv(field_ignoring_case(inner, "SecurityCode"))
        if not want_image:
            # Whatever JusBiz sent unasked is dropped here, never passed on.
            return result
        raw_image = field_ignoring_case(inner, "CardImage")
        if raw_image is None or raw_image == "":
            return result
        return PlainCvv(result.value, card_image=decode_card_image(raw_image))

    def check_connection(self) -> ConnectionProof:
        """Prove the credentials and KeyId work (and the key, if the answer is encrypted), no card.

        Asks for a payout no one issues: JusBiz saying the payout is not found (in a decrypted
        FAILURE, or in an error body) means it accepted our credentials; an encrypted answer that
        opened proves the decryption key too, and the proof says which. Raises
        ProviderConfigError, ProviderAuthError, ProviderUndecryptable or another ProviderError
        otherwise. One POST.
        """
        key = self._private_key()
        response = self._post(payout_id=PROBE_PAYOUT_ID, want_image=False)
        outer = json_object(response.body) if response.status == 200 else None
        decrypted = outer is not None and _jwe_of(outer) is not None
        try:
            self._read(response, payout_id=PROBE_PAYOUT_ID, key=key)
        except CardNotFound as exc:
            if exc.provider_code != "PAYOUT_NOT_FOUND":
                # A bare 404 is what any web server says for a wrong base URL: it proves nothing.
                raise ProviderConfigError(
                    "connection check got a 404 that is not a JusBiz answer: check the base URL"
                ) from exc
        if decrypted:
            return ConnectionProof(
                proved="JusBiz accepted the API key, merchant id and KeyId, and its encrypted "
                "answer was decrypted with this binding's private key"
            )
        return ConnectionProof(
            proved="JusBiz accepted the API key, merchant id and KeyId",
            unproved="decryption was not checked: JusBiz sent this answer unencrypted, and "
            "encrypts a real CVV answer to this binding's private key",
        )

    @classmethod
    def validate_secrets(
        cls, secrets: Mapping[str, bytes | str], options: Mapping[str, Any]
    ) -> dict[str, str]:
        """Check the credentials are present and header-safe, and the decryption key parses (with
        its password) as an RSA key of at least 2048 bits.

        Returns field name -> plain-words error (empty when all is well). Never echoes a secret.
        """
        errors: dict[str, str] = {}

        def text(name: str) -> str:
            value = secrets.get(name)
            if isinstance(value, bytes):
                return value.decode("utf-8", "replace")
            return value or ""

        for name in ("api_key", "merchant_id", "key_id"):
            value = text(name).strip()
            if not value:
                errors[name] = "This value is required."
            elif not _HEADER_VALUE_RE.fullmatch(value):
                errors[name] = "Use visible ASCII characters only, without spaces."
        if "api_key" not in errors and ":" in text("api_key"):
            errors["api_key"] = "The API key cannot contain ':' (it separates the Basic parts)."
        raw_key = secrets.get("response_decryption_key")
        key_bytes = raw_key.encode() if isinstance(raw_key, str) else (raw_key or b"")
        try:
            load_response_key(key_bytes, password=text("response_decryption_key_password"))
        except ValueError as exc:
            errors["response_decryption_key"] = str(exc)
        return errors

    # -- the call -------------------------------------------------------------------------------

    def _private_key(self) -> RSAPrivateKey:
        """The binding's decryption key, parsed once per provider instance."""
        if self._key is None:
            try:
                self._key = _cached_response_key(
                    self.config.secret_bytes("response_decryption_key"),
                    password=self.config.secret_text("response_decryption_key_password"),
                )
            except ValueError as exc:
                raise ProviderConfigError("response decryption key unusable: " + str(exc)) from None
        return self._key

    def _headers(self) -> dict[str, str]:
        api_key = self.config.secret_text("api_key").strip()
        merchant_id = self.config.secret_text("merchant_id").strip()
        key_id = self.config.secret_text("key_id").strip()
        for name, value in (("api_key", api_key), ("merchant_id", merchant_id), ("key_id", key_id)):
            if not _HEADER_VALUE_RE.fullmatch(value):
                raise ProviderConfigError(f"{name} missing or not a header-safe value")
        return {
            "Authorization": basic_authorization(api_key=api_key),
            "X-merchantid": merchant_id,
            "KeyId": key_id,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def _get_security_code(self, *, payout_id: str, want_image: bool) -> dict[str, Any]:
        """POST the request and return the decrypted SUCCESS document for `payout_id`.

        Raises as `fetch_cvv` does; a FAILURE status becomes CardNotFound, ProviderAuthError or
        ProviderBadResponse by its message.
        """
        # The key is loaded first: a binding that could not read the answer must not ask for a
        # CVV (the provider would put it on the wire for nothing).
        key = self._private_key()
        response = self._post(payout_id=payout_id, want_image=want_image)
        return self._read(response, payout_id=payout_id, key=key)

    def _post(self, *, payout_id: str, want_image: bool) -> HttpResponse:
        """POST the Get Security Code request for `payout_id`; return the answer, whatever it is."""
        headers = self._headers()
        body = json.dumps(
            {"payoutId": payout_id, "isCardImageRequired": want_image}, separators=(",", ":")
        ).encode()
        # Reading a security code changes nothing at JusBiz, and the door retries only when the
        # connection failed, so a retry cannot do harm.
        return self.http.request(
            "POST",
            join_url(self.config.base_url, CVV_PATH),
            headers=headers,
            body=body,
            retry_safe=True,
        )

    def _read(
        self, response: HttpResponse, *, payout_id: str, key: RSAPrivateKey
    ) -> dict[str, Any]:
        """The decrypted SUCCESS document of `response` for `payout_id`; raises as
        `_get_security_code` does."""
        if response.status != 200:
            raise error_for_answer(response)
        document = self._open(response, key=key)
        status = _status_of(document)
        if status == _FAILURE:
            raise _error_for_failure(document)
        if status != _SUCCESS:
            raise ProviderBadResponse("status is neither SUCCESS nor FAILURE")
        # The echo is all that ties this answer to the card we asked about.
        if document.get("payoutId") != payout_id:
            raise ProviderBadResponse("payoutId in the answer does not match the request")
        return document

    def _open(self, response: HttpResponse, *, key: RSAPrivateKey) -> dict[str, Any]:
        """Find `encryptedResponse` (top level or under `response`; a compact JWE, or a JSON
        form of one), decrypt it, and return the answer document.

        Where exactly JusBiz puts the JWE, and whether it holds the whole answer or only the inner
        `response`, is not published [unconfirmed]; both are accepted. An unencrypted FAILURE is
        passed through (it carries no card data); an unencrypted SUCCESS is refused.
        """
        outer = json_object(response.body)
        if outer is None:
            raise ProviderBadResponse("200 answer is not a JSON object")
        found = _jwe_of(outer)
        if found is None:
            if _status_of(outer) == _FAILURE:
                return outer
            raise ProviderBadResponse("200 answer without encryptedResponse")
        token = compact_jwe(found)
        plain = json_object(self._decrypt(token, key=key))
        if plain is None:
            raise ProviderBadResponse("decrypted answer is not a JSON object")
        if "status" in plain:
            return plain
        # Only the inner `response` was encrypted: status and payoutId come from the envelope.
        return {
            "status": outer.get("status"),
            "payoutId": outer.get("payoutId"),
            "message": outer.get("message"),
            "response": plain,
        }

    @staticmethod
    def _decrypt(token: str, *, key: RSAPrivateKey) -> bytes:
        """Decrypt the compact JWE after checking it uses the documented algorithms.

        A JWE that does not open with our key is a ProviderBadResponse: RSA-OAEP cannot tell "to
        another key" from "corrupted", so we do not guess it is our configuration; the detail
        names the likely cause for whoever reads the log.
        """
        try:
            header = jwe_header(token)
        except JoseError as exc:
            raise ProviderBadResponse("encryptedResponse is not a compact JWE") from exc
        if header.get("alg") != JWE_ALG or header.get("enc") != JWE_ENC:
            raise ProviderBadResponse("encryptedResponse uses undocumented JWE algorithms")
        try:
            return jwe_decrypt(token, key)
        except JoseError as exc:
            raise ProviderUndecryptable(
                "encryptedResponse did not decrypt with the binding's key (tampered, or the RSA "
                "key uploaded to JusBiz for this KeyId is not its pair)"
            ) from exc


def compact_jwe(found: object) -> str:
    """The compact JWE of an `encryptedResponse`: the compact string as sent, or converted from
    a JSON form of the JWE (RFC 7516 flattened, or the split form of Juspay's SDKs), given as an
    object or as a string holding one. Raises ProviderBadResponse saying what is malformed."""
    document: object = found
    if isinstance(found, str) and found.lstrip().startswith("{"):
        document = json_object(found.encode())
        if document is None:
            raise ProviderBadResponse("encryptedResponse is not a JSON object nor a compact JWE")
    if isinstance(document, str):
        return document
    if not isinstance(document, dict):
        raise ProviderBadResponse("encryptedResponse is neither a compact JWE nor a JSON object")
    try:
        return jwe_compact_from_json(document)
    except JoseError as exc:
        raise ProviderBadResponse(f"encryptedResponse JSON form is malformed: {exc}") from None


def _jwe_of(outer: Mapping[str, Any]) -> object:
    """The `encryptedResponse` of an answer, at the top level or under `response`, or None."""
    token = outer.get("encryptedResponse")
    nested = outer.get("response")
    if token is None and isinstance(nested, dict):
        token = nested.get("encryptedResponse")
    return token
