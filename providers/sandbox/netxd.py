"""Emulates NetXD card API v2 GET_CVV and LOCK/UNLOCK, verifying the ECDSA signature over the raw payload."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from providers.sandbox.core import Emulator, SandboxCard, SandboxRequest, SandboxResponse

METHOD = "ledger.CARD.request"
_JSON_WS = " \t\n\r"
_DECODER = json.JSONDecoder()
# How many recent payload references are remembered to refuse replays.
_REFERENCE_MEMORY = 10_000

# NetXD publishes no error catalogue (the one known code is "1019" INCORRECT CARD CVV), so these
# codes are the emulator's own, with messages in the ledger's upper-case style.
E_PARSE = ("-32700", "PARSE ERROR")
E_INVALID_REQUEST = ("-32600", "INVALID REQUEST")
E_METHOD = ("-32601", "METHOD NOT FOUND")
E_CREDENTIALS_MISSING = ("1001", "API CREDENTIALS MISSING")
E_CREDENTIAL = ("1002", "INVALID CREDENTIAL")
E_API_KEY = ("1003", "INVALID API KEY OR KEY ID")
E_SIGNATURE = ("1004", "SIGNATURE VERIFICATION FAILED")
E_CARD_NOT_FOUND = ("1010", "CARD NOT FOUND")
E_TRANSACTION_TYPE = ("1100", "INVALID TRANSACTION TYPE")
E_CHANNEL = ("1101", "INVALID CHANNEL")
E_DUPLICATE_REFERENCE = ("1103", "DUPLICATE REFERENCE")
E_REJECTED = ("1999", "REQUEST COULD NOT BE PROCESSED")
E_STATUS_ACTION = ("1104", "INVALID STATUS ACTION")
E_STATUS_TRANSITION = ("1105", "STATUS ACTION NOT ALLOWED FOR THE CARD STATUS")
E_CARD_NOT_ACTIVE = ("1106", "CARD IS NOT ACTIVE")

# The documented Update Status transitions a cardholder's side may make on an active card, in the
# ledger's own spelling ("TEMPRORY"). Other actions (REPORT MISSING CARD, REISSUE, CLOSE...) are
# not emulated and are refused as invalid.
ACTIVATED = "ACTIVATED"
LOCKED_BY_CLIENT = "TEMPRORY_BLOCKED_BY_CLIENT"
_TRANSITIONS = {("LOCK", ACTIVATED): LOCKED_BY_CLIENT, ("UNLOCK", LOCKED_BY_CLIENT): ACTIVATED}
_STATUS_ACTIONS = frozenset(action for action, _ in _TRANSITIONS)

_REQUIRED_PAYLOAD = ("product", "program", "customerId", "accountNumber", "cardId")
# The payload's fields in the documented order (the GET_CVV sample, then Update Status's action):
# the order a ledger that decodes into a typed record writes them back in.
_DOCUMENTED_ORDER = (
    "reference",
    "product",
    "program",
    "channel",
    "transactionType",
    "customerId",
    "accountNumber",
    "cardId",
    "statusAction",
)
# Which bytes the emulated ledger checks the signature over (see NetxdEmulator).
PAYLOAD_SERIALISATIONS = ("as_sent", "compact", "canonical")


def raw_member_spans(text: str, start: int = 0) -> tuple[dict[str, tuple[int, int]], int]:
    """Locate each member value of the JSON object at `text[start:]` without re-serialising it.

    Returns ({name: (value_start, value_end)}, end of the object). Values are skipped with the
    standard JSON decoder, so strings holding braces or escapes cannot confuse the scan.
    Raises ValueError for anything that is not one well-formed object, or for a duplicated
    member name (a parser taking the last copy could then act on bytes nobody signed).
    """
    pos = _skip_ws(text, start)
    if text[pos : pos + 1] != "{":
        raise ValueError("not a JSON object")
    pos = _skip_ws(text, pos + 1)
    spans: dict[str, tuple[int, int]] = {}
    if text[pos : pos + 1] == "}":
        return spans, pos + 1
    while True:
        if text[pos : pos + 1] != '"':
            raise ValueError("member name expected")
        name, pos = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if text[pos : pos + 1] != ":":
            raise ValueError("':' expected")
        value_start = _skip_ws(text, pos + 1)
        _, value_end = _DECODER.raw_decode(text, value_start)
        if name in spans:
            raise ValueError("duplicate member name")
        spans[name] = (value_start, value_end)
        pos = _skip_ws(text, value_end)
        separator = text[pos : pos + 1]
        if separator == "}":
            return spans, pos + 1
        if separator != ",":
            raise ValueError("',' or '}' expected")
        pos = _skip_ws(text, pos + 1)


def raw_payload(body: bytes) -> bytes:
    """The bytes of `params.payload` exactly as they appear in a request body.

    Raises ValueError when the body is not one JSON object with an object `params` holding a
    `payload` member (no trailing data, no duplicated names on the way).
    """
    text = body.decode("utf-8")
    top, end = raw_member_spans(text)
    if text[end:].strip(_JSON_WS):
        raise ValueError("data after the JSON object")
    if "params" not in top:
        raise ValueError("no params")
    params, _ = raw_member_spans(text, top["params"][0])
    if "payload" not in params:
        raise ValueError("no params.payload")
    start, stop = params["payload"]
    return text[start:stop].encode("utf-8")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _JSON_WS:
        pos += 1
    return pos


def _new_client_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _new_credentials() -> bytes:
    return json.dumps(
        {
            "username": f"sandbox-{secrets.token_hex(4)}@cardreveal.test",
            "credential_secret": secrets.token_urlsafe(24),
            "api_key": secrets.token_hex(24),
            "key_id": str(uuid.uuid4()),
        }
    ).encode()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class NetxdEmulator(Emulator):
    """XD Ledger's `POST /cardv2` for `ledger.CARD.request`: GET_CVV, and UPDATE_STATUS LOCK/UNLOCK.

    Plays the client's part of key registration: generates the client's P-256 key pair (the
    private key goes to `binding_secrets()`), keeps the public key as the registered one, and
    issues the username, credential secret, apiKey and keyId. Authenticates before anything
    else, then validates the payload, then looks the card up. Business errors answer HTTP 200
    with `{"id", "error": {"code", "message"}}`, as the ledger does. Which bytes the signature
    is checked over is `payload_serialisation`.
    """

    kind: ClassVar[str] = "netxd"
    channels: ClassVar[tuple[str, ...]] = ("PULSE", "VISA_DPS")
    # The bytes the signature is checked over: "as_sent" (the payload exactly as it appears in
    # the body), or the payload re-serialised by the ledger, "compact" (documented field order,
    # no spaces) or "canonical" (sorted keys, no spaces). A re-serialising ledger refuses a
    # payload signed in the other form, as a real one would; binding_options follows it.
    payload_serialisation: str = "as_sent"
    # The "slow" card answers after twice this many seconds; tests shorten it on the instance.
    slow_delay: float = 2.5

    def __init__(self, state_dir: Path | None = None) -> None:
        super().__init__(state_dir)
        self._client_key_pem = self.load_or_create("client_signing_key.pem", _new_client_key)
        client_key = serialization.load_pem_private_key(self._client_key_pem, password=None)
        if not isinstance(client_key, ec.EllipticCurvePrivateKey):
            raise TypeError("sandbox state holds a client key that is not EC")
        self.registered_public_key = client_key.public_key()
        credentials = json.loads(self.load_or_create("credentials.json", _new_credentials))
        self.username: str = credentials["username"]
        self.credential_secret: str = credentials["credential_secret"]
        self.api_key: str = credentials["api_key"]
        self.key_id: str = credentials["key_id"]
        self._references: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._card_status: dict[str, str] = {}

    # -- configuration --------------------------------------------------------------------------

    def seed_cards(self) -> list[SandboxCard]:
        """Two happy cards for the demo, then one card per fault."""

        def card(
            n: int, cvv: str, *, behaviour: str = "ok", label: str = "", last4: str = ""
        ) -> SandboxCard:
            return SandboxCard(
                reference={
                    "customer_id": f"NXD-CUST-{n:04d}",
                    "account_number": f"40000000{n:04d}",
                    "card_id": f"nxd-card-{n:04d}",
                },
                cvv=cvv,
                expiry_month=(n % 12) + 1,
                expiry_year=2030,
                label=label or f"NetXD fault card: {behaviour}",
                brand="visa",
                last4=last4 or f"{9000 + n}",
                behaviour=behaviour,
            )

        return [
            card(1, "123", label="NetXD demo card", last4="4780"),
            card(2, "4567", label="NetXD demo card (4-digit code)", last4="2291"),
            card(11, "111", behaviour="unauthorized"),
            card(12, "112", behaviour="rate_limited"),
            card(13, "113", behaviour="server_error"),
            card(14, "114", behaviour="slow"),
            card(15, "115", behaviour="malformed"),
            card(16, "116", behaviour="rejected"),
        ]

    def binding_secrets(self) -> dict[str, str | bytes]:
        """Username, credential secret, apiKey, keyId (text) and the client signing key (PEM)."""
        return {
            "username": self.username,
            "credential_secret": self.credential_secret,
            "api_key": self.api_key,
            "key_id": self.key_id,
            "signing_key": self._client_key_pem,
        }

    def binding_options(self) -> dict[str, Any]:
        """The emulator accepts the documented defaults."""
        return {
            "product": "DEFAULT",
            "program": "DEFAULT",
            "channel": "VISA_DPS",
            "channel_spelling": "VISA_DPS",
            "credential_source": "credential_secret",
            "send_signature_header": False,
            "payload_serialisation": (
                "canonical" if self.payload_serialisation == "canonical" else "compact"
            ),
        }

    def card_status_of(self, card: SandboxCard) -> str:
        """The card's status at the ledger: ACTIVATED until an UPDATE_STATUS changes it."""
        with self._lock:
            return self._card_status.get(card.reference["card_id"], ACTIVATED)

    # -- the API --------------------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request as XD Ledger would. Never logs the body."""
        if request.path.rstrip("/") != "/cardv2":
            return SandboxResponse.json(404, {"message": "not found"})
        if request.method != "POST":
            return SandboxResponse.json(405, {"message": "method not allowed"}, {"Allow": "POST"})
        if not request.header("Content-Type").lower().startswith("application/json"):
            return SandboxResponse.json(415, {"message": "unsupported media type"})
        try:
            payload_bytes = raw_payload(request.body)
            document = json.loads(request.body)
            payload = json.loads(payload_bytes)
        except (ValueError, RecursionError):
            return _rpc_error(None, E_PARSE)
        request_id = document.get("id")
        if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
            return _rpc_error(None, E_INVALID_REQUEST)
        if document.get("method") != METHOD:
            return _rpc_error(request_id, E_METHOD)
        api = document["params"].get("api")
        if not isinstance(payload, dict) or not isinstance(api, dict):
            return _rpc_error(request_id, E_INVALID_REQUEST)
        refused = self._authenticate(
            api, self.verified_bytes(payload_bytes, payload), request.header("Signature")
        )
        if refused:
            return _rpc_error(request_id, refused)
        refused = self._validate(payload)
        if refused:
            return _rpc_error(request_id, refused)
        card = self.find_card(
            customer_id=payload["customerId"],
            account_number=payload["accountNumber"],
            card_id=payload["cardId"],
        )
        if card is None:
            return _rpc_error(request_id, E_CARD_NOT_FOUND)
        return self._answer(request_id, payload, card)

    def _authenticate(
        self, api: dict[str, Any], payload_bytes: bytes, header: str
    ) -> tuple[str, str] | None:
        """The first reason to refuse the caller, or None when credential, keys and signature
        all check out (the Signature header too, when sent)."""
        fields = [api.get(name) for name in ("credential", "signature", "apiKey", "keyId")]
        if not all(isinstance(value, str) and value for value in fields):
            return E_CREDENTIALS_MISSING
        credential, signature, api_key, key_id = (str(value) for value in fields)
        if not (_same(api_key, self.api_key) and _same(key_id, self.key_id)):
            return E_API_KEY
        expected = "Basic " + base64.b64encode(
            f"{self.username}:{self.credential_secret}".encode()
        ).decode("ascii")
        if not _same(credential, expected):
            return E_CREDENTIAL
        if not self._signature_valid(signature, payload_bytes):
            return E_SIGNATURE
        if header:
            params = dict(part.strip().partition("=")[::2] for part in header.split(","))
            params = {name.strip(): value.strip().strip('"') for name, value in params.items()}
            if (
                not _same(params.get("keyId", ""), self.key_id)
                or params.get("algorithm") != "ecdsa-sha256"
                or not self._signature_valid(params.get("signature", ""), payload_bytes)
            ):
                return E_SIGNATURE
        return None

    def verified_bytes(self, payload_bytes: bytes, payload: object) -> bytes:
        """The bytes this ledger checks the signature over: the payload as sent, or rebuilt from
        its parsed value in the configured serialisation."""
        if self.payload_serialisation == "as_sent" or not isinstance(payload, dict):
            return payload_bytes
        if self.payload_serialisation == "canonical":
            ordered = payload
        elif self.payload_serialisation == "compact":
            known = [name for name in _DOCUMENTED_ORDER if name in payload]
            ordered = {name: payload[name] for name in (*known, *payload) if name in payload}
        else:
            raise ValueError(f"payload_serialisation must be one of {PAYLOAD_SERIALISATIONS}")
        return json.dumps(
            ordered,
            separators=(",", ":"),
            ensure_ascii=True,
            sort_keys=self.payload_serialisation == "canonical",
        ).encode("ascii")

    def _signature_valid(self, signature: str, payload_bytes: bytes) -> bool:
        try:
            der = base64.b64decode(signature, validate=True)
            self.registered_public_key.verify(der, payload_bytes, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, ValueError, InvalidSignature):
            return False
        return True

    def _validate(self, payload: dict[str, Any]) -> tuple[str, str] | None:
        """The first thing wrong with the payload, or None; remembers its reference."""
        transaction_type = payload.get("transactionType")
        if transaction_type not in ("GET_CVV", "UPDATE_STATUS"):
            return E_TRANSACTION_TYPE
        if transaction_type == "UPDATE_STATUS" and payload.get("statusAction") not in (
            _STATUS_ACTIONS
        ):
            return E_STATUS_ACTION
        if payload.get("channel") not in self.channels:
            return E_CHANNEL
        for name in _REQUIRED_PAYLOAD:
            value = payload.get(name)
            if not isinstance(value, str) or not value:
                return ("1102", f"{name.upper()} IS REQUIRED")
        reference = payload.get("reference")
        if reference is not None:
            if not isinstance(reference, str):
                return ("1102", "REFERENCE MUST BE A STRING")
            with self._lock:
                if reference in self._references:
                    return E_DUPLICATE_REFERENCE
                self._references[reference] = None
                if len(self._references) > _REFERENCE_MEMORY:
                    self._references.popitem(last=False)
        return None

    def _answer(
        self, request_id: str | int, payload: dict[str, Any], card: SandboxCard
    ) -> SandboxResponse:
        """The card's fault, if it has one; else the answer to the transaction: a status
        change, or the CVV (refused while the card is not active, as a locked card's is)."""
        fault = self._fault(request_id, card)
        if fault is not None:
            return fault
        if payload["transactionType"] == "UPDATE_STATUS":
            return self._update_status(request_id, payload, card)
        if self.card_status_of(card) != ACTIVATED:
            return _rpc_error(request_id, E_CARD_NOT_ACTIVE)
        return self._cvv(request_id, payload, card)

    def _fault(self, request_id: str | int, card: SandboxCard) -> SandboxResponse | None:
        behaviour = card.behaviour
        if behaviour == "unauthorized":
            return SandboxResponse.json(401, {"message": "Unauthorized"})
        if behaviour == "rate_limited":
            return SandboxResponse.json(429, {"message": "Too Many Requests"}, {"Retry-After": "2"})
        if behaviour == "server_error":
            return SandboxResponse.json(500, {"message": "Internal Server Error"})
        if behaviour == "malformed":
            return SandboxResponse(
                200,
                b'{"id":"' + str(request_id).encode() + b'","result":{',
                {"Content-Type": "application/json"},
            )
        if behaviour == "rejected":
            return _rpc_error(request_id, E_REJECTED)
        if behaviour == "slow":
            time.sleep(2 * self.slow_delay)
        return None

    def _update_status(
        self, request_id: str | int, payload: dict[str, Any], card: SandboxCard
    ) -> SandboxResponse:
        card_id = card.reference["card_id"]
        with self._lock:
            current = self._card_status.get(card_id, ACTIVATED)
            new_status = _TRANSITIONS.get((payload["statusAction"], current))
            if new_status is None:
                return _rpc_error(request_id, E_STATUS_TRANSITION)
            self._card_status[card_id] = new_status
        now = time.time()
        result = {
            "card": {
                "cardId": card_id,
                "status": new_status,
                "updatedDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            },
            "api": _ack("UPDATE_STATUS_ACK", payload, now),
        }
        return SandboxResponse.json(200, {"id": request_id, "result": result})

    def _cvv(
        self, request_id: str | int, payload: dict[str, Any], card: SandboxCard
    ) -> SandboxResponse:
        now = time.time()
        ack = _ack("GET_CVV_ACK", payload, now)
        result = {
            "card": {
                "cardId": card.reference["card_id"],
                "postedDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                "updatedDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                "allowAtm": True,
                "allowEcommerce": True,
                "allowMoto": True,
                "allowPos": True,
                "allowTips": True,
                "allowPurchase": True,
                "allowRefund": True,
                "allowCashback": True,
                "allowWithdraw": True,
                "allowAuthAndCompletion": True,
                "smart": False,
                "checkAvsZip": False,
                "checkAvsAddr": False,
                "cvv": card.cvv,
                "transactionMade": False,
                "isReIssue": False,
                "isReplace": False,
            },
            "api": ack,
        }
        return SandboxResponse.json(200, {"id": request_id, "result": result})


def _ack(ack_type: str, payload: dict[str, Any], now: float) -> dict[str, Any]:
    ack: dict[str, Any] = {"type": ack_type, "reference": uuid.uuid4().hex, "dateCreated": int(now)}
    if "reference" in payload:
        ack["originalReference"] = payload["reference"]
    return ack


def _rpc_error(request_id: str | int | None, error: tuple[str, str]) -> SandboxResponse:
    code, message = error
    return SandboxResponse.json(
        200, {"id": request_id, "error": {"code": code, "message": message}}
    )
