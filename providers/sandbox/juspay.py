"""Juspay JusBiz emulator: Get Security Code with Basic auth, KeyId, and JWE-encrypted answers."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any, ClassVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from providers.jose import JWE_JSON_MEMBERS, jwe_encrypt
from providers.payloads import json_object
from providers.sandbox.core import Emulator, SandboxCard, SandboxRequest, SandboxResponse

CVV_PATH = "/ardra/vt/cvv/v2"
SUCCESS_MESSAGE = "Security Code Fetched Successfully"
# The 401 and 500 messages are the documented ones; the others are ours, since JusBiz does not
# publish them [unconfirmed], worded so the provider's message classification has work to do.
AUTH_AND_KEY_ID_MISSING = "Basic Auth & Key ID missing in Headers"
KEY_ID_MISSING = "Key ID missing in Headers"
BASIC_AUTH_MISSING = "Basic Auth missing in Headers"
NO_KEY_GIVEN = "Unauthorised: No key given"
INVALID_API_KEY = "Unauthorised: Invalid API Key"
MERCHANT_MISMATCH = "Unauthorised: merchant id does not match the API Key"
INVALID_KEY_ID = "Invalid Key ID passed"
SERVER_ERROR = "Error Message: Validated Expense Data cannot be Empty"
PAYOUT_NOT_FOUND = "No payout found for the given payoutId"
FETCH_FAILED = "Security Code could not be fetched for this payout"
# Ours: JusBiz's wording for a payoutId outside its documented format is not published.
INVALID_PAYOUT_ID = "payoutId must be at most 21 alphanumeric characters or _"
_PAYOUT_ID_RE = re.compile(r"[A-Za-z0-9_]{1,21}")
# What the docs site answers for a path it does not know.
_UNKNOWN_PATH = {"success": False, "message": "No Data found for the given path"}


def _new_rsa_pem() -> bytes:
    """A fresh RSA-2048 private key as unencrypted PKCS#8 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _new_credentials() -> bytes:
    """An API key, merchant id and key id shaped like the dashboard's."""
    return json.dumps(
        {
            "api_key": secrets.token_hex(16).upper(),
            "merchant_id": "cardreveal_sandbox",
            "key_id": "key_" + secrets.token_hex(8),
        }
    ).encode()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def card_png(*, width: int = 172, height: int = 108) -> bytes:
    """A small valid PNG shaped like a card (a blue gradient with a magnetic-stripe band), built
    with zlib and struct so the sandbox needs no image library."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type None for this scanline
        stripe = height // 5 <= y < height // 5 + height // 6
        for x in range(width):
            if stripe:
                rows += b"\x20\x20\x20"
            else:
                rows += bytes((20 + x * 60 // width, 60 + y * 80 // height, 160))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


class JuspayEmulator(Emulator):
    """Answers like JusBiz under /juspay: POST /ardra/vt/cvv/v2 only.

    It generates the merchant's RSA key pair (it keeps the public half, as if uploaded to the
    dashboard; the private half is a binding secret), an API key, merchant id and key id. It
    checks Basic auth (API key as user, empty password), X-merchantid, KeyId and the JSON body;
    answers 200 with `{"encryptedResponse": <JWE RSA-OAEP-256/A256GCM to the uploaded key>}`
    (status SUCCESS, or FAILURE for an unknown payout; the JWE compact or in a JSON form, as
    `response_form` says), and unencrypted JSON for 4xx/5xx. A payoutId not in the documented
    format (at most 21 letters, digits or '_') is refused with a 400.
    Card behaviours: "ok", "unauthorized", "rate_limited", "server_error", "slow", "malformed",
    "failure". Tests may set `slow_delay`.
    """

    kind: ClassVar[str] = "juspay"
    # A slow card answers after twice this, past a client read timeout of `slow_delay` (<= 6 s).
    slow_delay: float = 2.0
    # How `encryptedResponse` carries the JWE: "compact" (the string the docs describe),
    # "flattened" (RFC 7516's JSON object) or "juspay" (the split object of Juspay's SDKs).
    response_form: str = "compact"
    rate_limit_retry_after = 7

    def __init__(self, state_dir: Path | None = None) -> None:
        super().__init__(state_dir)
        self._client_key_pem = self.load_or_create("client_private_key.pem", _new_rsa_pem)
        private = serialization.load_pem_private_key(self._client_key_pem, password=None)
        if not isinstance(private, rsa.RSAPrivateKey):  # pragma: no cover - we wrote it
            raise TypeError("sandbox client key is not RSA")
        # The only half JusBiz ever holds: what the merchant uploaded at "Upload New RSA".
        self.uploaded_public_key: RSAPublicKey = private.public_key()
        credentials = json.loads(self.load_or_create("credentials.json", _new_credentials))
        self.api_key: str = credentials["api_key"]
        self.merchant_id: str = credentials["merchant_id"]
        self.key_id: str = credentials["key_id"]
        self.card_image = card_png()
        # Counts requests that reached the CVV route (tests check calls were or were not made).
        self.cvv_requests = 0
        self._count_lock = threading.Lock()

    # ------------------------------------------------------------------ Emulator interface

    def seed_cards(self) -> list[SandboxCard]:
        """Two happy cards (the docs' sample payoutId Juspay123456789 -> 119) and one per fault."""

        def fault(behaviour: str, label: str, last4: str, cvv: str) -> SandboxCard:
            return SandboxCard(
                {"payout_id": f"JuspayFault{last4}"},
                cvv,
                6,
                2029,
                label=f"JusBiz fault: {label}",
                brand="visa",
                last4=last4,
                behaviour=behaviour,
            )

        return [
            SandboxCard(
                {"payout_id": "Juspay123456789"},
                "119",
                12,
                2029,
                label="JusBiz virtual card",
                brand="visa",
                last4="4412",
            ),
            SandboxCard(
                {"payout_id": "JuspayTravel0002"},
                "582",
                3,
                2028,
                label="JusBiz travel card",
                brand="mastercard",
                last4="7730",
            ),
            fault("unauthorized", "401", "0401", "853"),
            fault("rate_limited", "429", "0429", "196"),
            fault("server_error", "500", "0500", "372"),
            fault("slow", "slow", "0504", "648"),
            fault("malformed", "malformed", "0502", "215"),
            fault("failure", "FAILURE status", "0422", "934"),
        ]

    def binding_secrets(self) -> dict[str, str | bytes]:
        """The API key, merchant id, key id, and the private half of the uploaded RSA key."""
        return {
            "api_key": self.api_key,
            "merchant_id": self.merchant_id,
            "key_id": self.key_id,
            "response_decryption_key": self._client_key_pem,
        }

    def binding_options(self) -> dict[str, Any]:
        """The card image stays off by default, as in the provider."""
        return {"card_image_required": False}

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer Get Security Code; anything else is JusBiz's unknown-path 404."""
        if request.path.rstrip("/") != CVV_PATH:
            return SandboxResponse.json(404, _UNKNOWN_PATH)
        if request.method != "POST":
            return SandboxResponse.json(405, _UNKNOWN_PATH, headers={"Allow": "POST"})
        with self._count_lock:
            self.cvv_requests += 1
        body = json_object(request.body)
        raw_payout = body.get("payoutId") if body is not None else None
        payout_id = raw_payout if isinstance(raw_payout, str) else None
        refusal = self._authenticate(request, payout_id)
        if refusal is not None:
            return refusal
        if not request.header("Content-Type").lower().startswith("application/json"):
            return _failure(400, payout_id, "Content-Type must be application/json")
        if body is None:
            return _failure(400, None, "Request body must be a JSON object")
        if not payout_id:
            return _failure(400, None, "payoutId is mandatory")
        if not _PAYOUT_ID_RE.fullmatch(payout_id):
            return _failure(400, None, INVALID_PAYOUT_ID)
        want_image = body.get("isCardImageRequired", False)
        if not isinstance(want_image, bool):
            return _failure(400, payout_id, "isCardImageRequired must be a boolean")
        card = self.find_card(payout_id=payout_id)
        if card is None:
            return self._encrypted(
                {"status": "FAILURE", "payoutId": payout_id, "message": PAYOUT_NOT_FOUND}
            )
        return self._answer(card, payout_id=payout_id, want_image=want_image)

    # ------------------------------------------------------------------ internals

    def _authenticate(
        self, request: SandboxRequest, payout_id: str | None
    ) -> SandboxResponse | None:
        """The header checks, in the order the documented messages imply; None when all pass."""
        authorization = request.header("Authorization").strip()
        key_id = request.header("KeyId").strip()
        if not authorization and not key_id:
            return _failure(401, payout_id, AUTH_AND_KEY_ID_MISSING)
        if not key_id:
            return _failure(401, payout_id, KEY_ID_MISSING)
        scheme, _, encoded = authorization.partition(" ")
        if not authorization or scheme.lower() != "basic":
            return _failure(401, payout_id, BASIC_AUTH_MISSING)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return _failure(401, payout_id, NO_KEY_GIVEN)
        user, colon, password = decoded.partition(":")
        if not user:
            return _failure(401, payout_id, NO_KEY_GIVEN)
        # The key is the user and the password is empty: "<key>:" exactly.
        if not colon or password or not hmac.compare_digest(user.encode(), self.api_key.encode()):
            return _failure(401, payout_id, INVALID_API_KEY)
        if request.header("X-merchantid").strip() != self.merchant_id:
            return _failure(401, payout_id, MERCHANT_MISMATCH)
        if key_id != self.key_id:
            return _failure(400, payout_id, INVALID_KEY_ID)
        return None

    def _answer(self, card: SandboxCard, *, payout_id: str, want_image: bool) -> SandboxResponse:
        if card.behaviour == "unauthorized":
            return _failure(401, payout_id, NO_KEY_GIVEN)
        if card.behaviour == "rate_limited":
            return _failure(
                429,
                payout_id,
                "Too many requests",
                headers={"Retry-After": str(self.rate_limit_retry_after)},
            )
        if card.behaviour == "server_error":
            return _failure(500, payout_id, SERVER_ERROR)
        if card.behaviour == "malformed":
            # Cut off mid-token, as a proxy that dropped the connection would leave it.
            return SandboxResponse(
                200,
                b'{"encryptedResponse":"eyJhbGciOiJSU0EtT0FF',
                {"Content-Type": "application/json"},
            )
        if card.behaviour == "failure":
            return self._encrypted(
                {"status": "FAILURE", "payoutId": payout_id, "message": FETCH_FAILED}
            )
        if card.behaviour == "slow":
            time.sleep(min(2 * self.slow_delay, 6.0))
        inner: dict[str, str] = {"SecurityCode": card.cvv}
        if want_image:
            inner["CardImage"] = base64.b64encode(self.card_image).decode("ascii")
        return self._encrypted(
            {
                "status": "SUCCESS",
                "payoutId": payout_id,
                "message": SUCCESS_MESSAGE,
                "response": inner,
            }
        )

    def _encrypted(self, document: dict[str, Any]) -> SandboxResponse:
        """A 200 whose only key is the JWE of `document` to the uploaded public key."""
        token = jwe_encrypt(
            json.dumps(document).encode(), self.uploaded_public_key, kid=self.key_id
        )
        if self.response_form == "compact":
            return SandboxResponse.json(200, {"encryptedResponse": token})
        members = JWE_JSON_MEMBERS.get(self.response_form)
        if members is None:
            raise ValueError("response_form must be compact, flattened or juspay")
        split = dict(zip(members, token.split("."), strict=True))
        return SandboxResponse.json(200, {"encryptedResponse": split})


def _failure(
    status: int, payout_id: str | None, message: str, headers: dict[str, str] | None = None
) -> SandboxResponse:
    """An unencrypted error answer ("API Response will not be encrypted in case of 4XX and 5XX")."""
    return SandboxResponse.json(
        status, {"status": "FAILURE", "payoutId": payout_id, "message": message}, headers
    )
