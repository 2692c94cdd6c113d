"""What every emulator shares: the request and response values, the card table, and the base class."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class SandboxRequest:
    """One request as an emulator sees it. `path` is relative to the emulator's prefix."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes
    url: str  # the full URL the client called, as it would have signed it

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class SandboxResponse:
    """One answer: status, headers and raw body bytes."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> SandboxResponse:
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        return cls(status, json.dumps(payload).encode(), merged)


@dataclass
class SandboxCard:
    """A seeded card: its reference at the provider, what the emulator answers, and demo labels.

    `behaviour` is "ok" or a fault name the emulator understands (e.g. "not_found", "server_error",
    "rate_limited", "unauthorized", "slow", "malformed").
    """

    reference: dict[str, str]
    cvv: str
    expiry_month: int
    expiry_year: int
    label: str = "Sandbox card"
    brand: str = "mastercard"
    last4: str = "0000"
    behaviour: str = "ok"


class Emulator(ABC):
    """One provider's API. Keys are generated at first start and kept in `state_dir/<kind>/`."""

    kind: ClassVar[str]

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = state_dir / self.kind if state_dir else None
        if self.state_dir:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        self.cards: list[SandboxCard] = list(self.seed_cards())

    @abstractmethod
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request exactly as the real API would, errors included."""

    @abstractmethod
    def seed_cards(self) -> list[SandboxCard]:
        """The cards this emulator knows from the start (happy paths and one per fault)."""

    @abstractmethod
    def binding_secrets(self) -> dict[str, str | bytes]:
        """The credentials and keys a binding needs to call this emulator (client side)."""

    def binding_options(self) -> dict[str, Any]:
        """Non-secret binding options that fit this emulator."""
        return {}

    def add_card(self, card: SandboxCard) -> SandboxCard:
        """Seed one more card (tests use this for canaries and faults)."""
        self.cards.append(card)
        return card

    def find_card(self, **reference: str) -> SandboxCard | None:
        """The seeded card whose reference includes all the given fields."""
        for card in self.cards:
            if all(card.reference.get(k) == v for k, v in reference.items()):
                return card
        return None

    def load_or_create(self, name: str, create: Any) -> bytes:
        """Return bytes kept under `name` in the state dir, calling `create()` the first time."""
        if self.state_dir is None:
            data: bytes = create()
            return data
        path = self.state_dir / name
        if not path.exists():
            path.write_bytes(create())
            path.chmod(0o600)
        return path.read_bytes()
