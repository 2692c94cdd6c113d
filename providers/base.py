"""The provider interface: what every issuer-processor module implements, and the values it trades in."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from cryptography.hazmat.primitives import serialization
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
    def check_connection(self) -> None:
        """Prove the credentials work with a harmless call; raise a `ProviderError` if not."""

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
    def validate_secrets(
        cls, secrets: Mapping[str, bytes | str], options: Mapping[str, Any]
    ) -> dict[str, str]:
        """Check uploaded keys and credentials parse and fit together, before they are saved.

        Returns field name -> error message (empty when all is well). Never echoes a secret.
        """
        return {}


@runtime_checkable
class SupportsCvvStatus(Protocol):
    """A provider that tracks CVV retrieval attempts and lets an admin unblock the CVV (Thredd)."""

    def cvv_status(self, *, card: CardRef) -> str:
        """Return "Blocked" or "Unblocked". Raises ProviderError."""

    def unblock_cvv(self, *, card: CardRef, description: str, updated_by: str) -> None:
        """Unblock the card's CVV retrieval. Raises ProviderError."""
