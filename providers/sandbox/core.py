"""What every emulator shares: the request and response values, the card table, the base class, and
the fault knobs the server applies in front of every emulator."""

from __future__ import annotations

import json
import threading
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
    "rate_limited", "unauthorized", "slow", "malformed"). A `cvv` never echoes `last4` (neither holds
    the other, nor do they end alike): the demo shows both on one page, and an echo looks made up.
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


# ---------------------------------------------------------------------------------- faults

# In every body a fault makes up (garbage, huge, error bodies), so tests can prove none is logged.
FAULT_BODY_MARKER = "SANDBOX-FAULT-BODY-7Y3"


@dataclass(frozen=True)
class Fault:
    """How the sandbox server misbehaves for matching requests, to test the app over real sockets.

    Faults apply in this order: `hold` (tests only: wait until the event is set), `latency`
    (seconds before answering), then the first of `garbage` (non-HTTP bytes, then close),
    `reset` (close the connection abruptly: before answering when `reset_after_bytes` is 0,
    else after that many bytes of the answer), `redirect_to` (a 302 to that URL), `status`
    (that status with `headers` and a small `body` instead of the emulator's answer) and
    `huge_body_bytes` (a 200 of that many bytes, with or without a Content-Length). The emulator
    answers otherwise. `content_type` replaces the answer's Content-Type. `drip_interval` > 0
    sends the whole answer one byte at a time with that pause, the status line included;
    `drip_body_only` sends the head at once and drips the body.
    """

    latency: float = 0.0
    drip_interval: float = 0.0
    drip_body_only: bool = False
    reset: bool = False
    reset_after_bytes: int = 0
    garbage: bool = False
    redirect_to: str = ""
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    huge_body_bytes: int = 0
    huge_declares_length: bool = True
    content_type: str = ""
    hold: Any = field(default=None, compare=False)  # a threading.Event (Python API only)

    # The JSON form the /_faults endpoint takes; `hold` has none.
    _JSON_FIELDS: ClassVar[dict[str, type]] = {
        "latency": float,
        "drip_interval": float,
        "drip_body_only": bool,
        "reset": bool,
        "reset_after_bytes": int,
        "garbage": bool,
        "redirect_to": str,
        "status": int,
        "headers": dict,
        "huge_body_bytes": int,
        "huge_declares_length": bool,
        "content_type": str,
    }
    # Bounds for faults set over HTTP, so the demo endpoint cannot pin the sandbox for long.
    _MAX_SECONDS: ClassVar[float] = 120.0
    _MAX_HUGE_BYTES: ClassVar[int] = 64 * 1024 * 1024

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Build a fault from the /_faults JSON; raises ValueError naming the bad field."""
        values: dict[str, Any] = {}
        for name, value in data.items():
            expected = cls._JSON_FIELDS.get(name)
            if expected is None:
                raise ValueError(f"unknown fault field {name!r}")
            if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ValueError(f"fault field {name!r} must be {expected.__name__}")
            values[name] = value
        fault = cls(**values)
        if not 0 <= fault.latency <= cls._MAX_SECONDS or not 0 <= fault.drip_interval <= 5:
            raise ValueError("latency must be 0-120 s and drip_interval 0-5 s")
        if not 0 <= fault.huge_body_bytes <= cls._MAX_HUGE_BYTES:
            raise ValueError("huge_body_bytes must be at most 64 MiB")
        if fault.status and not 100 <= fault.status <= 599:
            raise ValueError("status must be an HTTP status")
        return fault

    def to_json(self) -> dict[str, Any]:
        """The JSON form, for listing faults."""
        return {name: getattr(self, name) for name in self._JSON_FIELDS} | {
            "headers": dict(self.headers)
        }


class FaultTable:
    """Faults in force, per emulator kind and optionally per card reference; thread-safe.

    A reference-scoped fault applies to requests whose path or body contains the reference value
    (a Mastercard contract id or Thredd token in the path, a NetXD or Juspay id in the body); it
    wins over a fault for the whole emulator.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str], Fault] = {}
        self._hits = 0

    @property
    def hits(self) -> int:
        """How many requests met a fault since the table was last cleared whole."""
        with self._lock:
            return self._hits

    def set(self, fault: Fault, *, kind: str, reference: str = "") -> None:
        """Put `fault` in force for `kind` (and only that card reference, when given)."""
        with self._lock:
            self._faults[(kind, reference)] = fault

    def clear(self, *, kind: str = "", reference: str | None = None) -> None:
        """Remove faults: all of them (and the hit count), a kind's, or one reference's."""
        with self._lock:
            if not kind and reference is None:
                self._hits = 0
            for key in list(self._faults):
                if kind and key[0] != kind:
                    continue
                if reference is not None and key[1] != reference:
                    continue
                del self._faults[key]

    def match(self, kind: str, path: str, body: bytes) -> Fault | None:
        """The fault for a request to `kind`, if any (counted as a hit)."""
        with self._lock:
            found = self._find(kind, path, body)
            if found is not None:
                self._hits += 1
            return found

    def _find(self, kind: str, path: str, body: bytes) -> Fault | None:
        for (fault_kind, reference), fault in self._faults.items():
            if fault_kind != kind or not reference:
                continue
            if reference in path or reference.encode() in body:
                return fault
        return self._faults.get((kind, ""))

    def listing(self) -> list[dict[str, Any]]:
        """Every fault in force, as JSON."""
        with self._lock:
            items = list(self._faults.items())
        return [
            {"kind": kind, "reference": reference, "fault": fault.to_json()}
            for (kind, reference), fault in items
        ]
