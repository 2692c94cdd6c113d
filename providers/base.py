"""The provider interface: what every issuer-processor module implements, and the values it trades in."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from providers.errors import ProviderBadResponse, ProviderConfigError
from providers.http import HttpDoor
from providers.sensitive import Sensitive

FieldKind = Literal["text", "secret", "file", "choice", "bool", "int"]

_CVV_RE = re.compile(r"^[0-9]{3,4}$")


@dataclass(frozen=True)
class FieldSpec:
    """Describes one reference, credential or option field a provider needs, so forms can ask for it.

    `kind` "secret" is a write-only text credential; "file" is an uploaded key or certificate,
    stored base64-encoded; `pattern` (a full-match regex) and `choices` validate text input.
    """

    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = True
    help_text: str = ""
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    default: Any = None


@dataclass(frozen=True)
class BindingConfig:
    """A binding as a provider sees it: where to call, with which credentials and options.

    `key` identifies the binding for connection pools and breakers. `secrets` values are wrapped
    so that a stray log line or traceback never shows them; files arrive as bytes.
    """

    key: str
    base_url: str
    secrets: Mapping[str, Sensitive[str] | Sensitive[bytes]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def secret_text(self, name: str) -> str:
        """Return a text secret's raw value ('' when unset)."""
        value = self.secrets.get(name)
        if value is None:
            return ""
        raw = value.reveal()
        return raw.decode() if isinstance(raw, bytes) else raw

    def secret_bytes(self, name: str) -> bytes:
        """Return a file secret's raw bytes (b'' when unset)."""
        value = self.secrets.get(name)
        if value is None:
            return b""
        raw = value.reveal()
        return raw.encode() if isinstance(raw, str) else raw


@dataclass(frozen=True)
class CardRef:
    """The card as a provider needs it: its reference fields at the provider and its expiry."""

    reference: Mapping[str, str]
    expiry_month: int
    expiry_year: int

    @property
    def expiry_yymm(self) -> str:
        """The expiry as YYMM, e.g. '3004' for April 2030."""
        return f"{self.expiry_year % 100:02d}{self.expiry_month:02d}"


@dataclass(frozen=True)
class ClientKey:
    """The viewer's device public key (RSA >= 2048 bits) that the CVV is sealed to."""

    public_key: RSAPublicKey

    def der(self) -> bytes:
        """The DER SubjectPublicKeyInfo bytes."""
        return self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True)
class PlainCvv:
    """A CVV in our memory, for the length of one request; sealed before it leaves the process.

    `card_image` is an image of the card (PNG or JPEG bytes) some providers return on request; it
    shows the card's details, so it is as sensitive as the CVV and is None unless asked for.
    """

    value: Sensitive[str]
    card_image: Sensitive[bytes] | None = None


@dataclass(frozen=True)
class ProviderSealedCvv:
    """A CVV the provider itself encrypted to the client's key: we never see the plaintext.

    `scheme` names the encryption so the client knows how to open it (e.g. 'rsa-oaep-sha256-hex').
    """

    ciphertext: str
    scheme: str


CvvResult = PlainCvv | ProviderSealedCvv


@dataclass(frozen=True)
class ConnectionProof:
    """What a connection check proved, in words for the admin; returned only when every step it
    tried worked.

    `proved` says what worked ("Thredd's token endpoint accepted the client id and secret");
    `unproved` names what a reveal uses that the check could not exercise ("decryption was not
    checked: ..."), or is '' when the check went the whole way.
    """

    proved: str
    unproved: str = ""


def checked_cvv(raw: object) -> PlainCvv:
    """Wrap a provider's CVV after checking it is 3-4 digits; anything else is a bad response."""
    if not isinstance(raw, str) or not _CVV_RE.fullmatch(raw):
        raise ProviderBadResponse("CVV missing or not 3-4 digits")
    return PlainCvv(Sensitive(raw))


class Provider(ABC):
    """One issuer-processor API. Subclasses set the class attributes and implement the two calls.

    Implementations make HTTP calls only through `self.http` and raise only `ProviderError`s.
    """

    kind: ClassVar[str]
    label: ClassVar[str]
    reference_fields: ClassVar[tuple[FieldSpec, ...]] = ()
    secret_fields: ClassVar[tuple[FieldSpec, ...]] = ()
    option_fields: ClassVar[tuple[FieldSpec, ...]] = ()
    default_base_url: ClassVar[str] = ""
    # True when the provider can encrypt the CVV to the client's key itself.
    can_seal_to_client_key: ClassVar[bool] = False
    # For the admin's connection check, in the provider's own terms: the credentials a refusal
    # is about, what to check then, and what to check when an answer does not decrypt.
    refused_credentials: ClassVar[str] = "the binding's credentials"
    credentials_advice: ClassVar[str] = "check them against the provider's portal"
    decryption_advice: ClassVar[str] = (
        "check the private key is the pair of the public key registered with the provider"
    )
    # True when the provider's public API documents locking (blocking) a card, and `lock_card`
    # does it.
    supports_card_lock: ClassVar[bool] = False

    def __init__(self, config: BindingConfig, http: HttpDoor) -> None:
        self.config = config
        self.http = http

    @abstractmethod
    def fetch_cvv(self, *, card: CardRef, client_key: ClientKey | None = None) -> CvvResult:
        """Fetch the card's CVV live from the provider.

        With a `client_key` and a binding whose options ask for it, providers that can encrypt to
        the client's key return a `ProviderSealedCvv`; otherwise a `PlainCvv`.
        Raises a `ProviderError` subclass on any failure. One outbound call (plus token fetches).
        """

    @abstractmethod
    def check_connection(self) -> ConnectionProof:
        """Prove the credentials work with a harmless call that touches no card.

        Returns what the call proved and what a reveal uses that it could not exercise (such as
        decrypting a CVV answer). Raises a `ProviderError` if any step fails.
        """

    def check_path(self, *, test_card: CardRef | None = None) -> ConnectionProof:
        """Exercise everything a reveal uses: with a `test_card` (a card at the provider kept for
        this check), a real CVV request exactly as a reveal makes it (signing, encryption,
        decryption, the CVV's checks), whose result is dropped at once, unread; without one,
        `check_connection`.

        A provider that can seal to the client's key is given a throwaway one, so a binding that
        promises the CVV never exists here in plaintext keeps that promise. Raises the
        `ProviderError` of the step that failed.
        """
        if test_card is None:
            return self.check_connection()
        client_key = throwaway_client_key() if self.can_seal_to_client_key else None
        # The result (a PlainCvv, or a CVV sealed to a key nobody holds) is never bound to a name.
        self.fetch_cvv(card=test_card, client_key=client_key)
        return ConnectionProof(
            proved=f"the whole reveal path works: {self.label} answered a CVV request for the "
            "test card exactly as a reveal makes it, and the CVV was discarded without being "
            "kept or shown"
        )

    def refusal_words(self) -> tuple[str, str]:
        """What a credentials refusal is about and what to check, in the admin's words: the
        class's `refused_credentials` and `credentials_advice`, unless this binding's options
        choose other credentials (such as a signed client assertion instead of a secret)."""
        return self.refused_credentials, self.credentials_advice

    def lock_card(self, *, card: CardRef, reason: str) -> None:
        """Lock the card at the provider so that it is refused for payments (and the provider
        refuses its CVV too), in a state the bank can lift. An optional capability: only
        providers with `supports_card_lock` implement it.

        `reason` is a short plain text the provider records where it keeps one (never a secret).
        Raises `ProviderConfigError` here (the provider cannot lock cards), and in providers that
        can, a `ProviderError` for any failure. One outbound call (plus token fetches).
        """
        raise ProviderConfigError(f"{self.label} cannot lock cards")

    @classmethod
    def client_key_hash(cls, options: Mapping[str, Any]) -> str:
        """The hash a binding with these `options` needs the viewer's RSA-OAEP key made with
        ("SHA-256" or "SHA-1"): a browser's WebCrypto key opens only the OAEP hash it was made
        for. SHA-256 unless the provider itself encrypts to the key with another."""
        return "SHA-256"

    @classmethod
    def validate_secrets(
        cls, secrets: Mapping[str, bytes | str], options: Mapping[str, Any]
    ) -> dict[str, str]:
        """Check uploaded keys and credentials parse and fit together, before they are saved.

        Returns field name -> error message (empty when all is well). Never echoes a secret.
        """
        return {}

    @classmethod
    def validate_endpoints(cls, *, base_url: str, options: Mapping[str, Any]) -> dict[str, str]:
        """Check the options that depend on the binding's base URL (such as a token endpoint on
        another host), before they are saved.

        Returns field name -> error message (empty when all is well).
        """
        return {}


def throwaway_client_key() -> ClientKey:
    """A fresh RSA-2048 client key whose private half is dropped at once: what a provider seals
    to it can never be opened (the connection check's stand-in for a viewer's device key)."""
    return ClientKey(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())


@runtime_checkable
class SupportsCvvStatus(Protocol):
    """A provider that tracks CVV retrieval attempts and lets an admin unblock the CVV (Thredd)."""

    def cvv_status(self, *, card: CardRef) -> str:
        """Return "Blocked" or "Unblocked". Raises ProviderError."""

    def unblock_cvv(self, *, card: CardRef, description: str, updated_by: str) -> None:
        """Unblock the card's CVV retrieval. Raises ProviderError."""
