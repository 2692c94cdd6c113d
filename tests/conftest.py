"""Fixtures shared by the whole suite: the provider sandbox over real HTTP on loopback, cardholders
with authenticators, a controllable TOTP clock, and client keys."""

from __future__ import annotations

import base64
import json
import re
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from providers.http import doors
from providers.jose import jwe_decrypt
from providers.sandbox.core import Emulator, SandboxRequest, SandboxResponse
from providers.sandbox.server import RunningSandbox, start_sandbox


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """Every emulator, with keys generated for this run, served on a free loopback port."""
    running = start_sandbox(state_dir=tmp_path_factory.mktemp("sandbox"))
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _fresh_http_doors() -> Iterator[None]:
    """Each test starts with no pooled provider connections (and no state carried between tests)."""
    yield
    doors.clear()


@pytest.fixture(autouse=True)
def _no_receipt_sender_left_running() -> Iterator[None]:
    """A test that turns background receipts on wakes the process's sender thread; stop it after
    the test, so it never runs (or logs) during the next one."""
    yield
    from cardreveal.audit import receipts

    receipts._sender.stop(timeout=10)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache: breaker state and counters are keyed by database ids,
    which repeat between tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


# ---------------------------------------------------------------------------------- provider calls


class CallCounter:
    """Counts the requests an emulator receives."""

    def __init__(self) -> None:
        self.requests: list[SandboxRequest] = []

    @property
    def count(self) -> int:
        return len(self.requests)


@pytest.fixture
def provider_calls(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], CallCounter]:
    """provider_calls("mastercard") -> a counter of the requests that emulator receives."""

    def spy(kind: str) -> CallCounter:
        emulator: Emulator = sandbox.emulator(kind)
        counter = CallCounter()
        original = emulator.handle

        def handle(request: SandboxRequest) -> SandboxResponse:
            counter.requests.append(request)
            return original(request)

        monkeypatch.setattr(emulator, "handle", handle)
        return counter

    return spy


# ---------------------------------------------------------------------------------- TOTP clock


class Clock:
    """The time django-otp's TOTP devices see; tests move it forward by whole steps."""

    def __init__(self) -> None:
        self.now = float(int(time.time() // 30) * 30 + 1)

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float = 30) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze the TOTP clock at the start of a 30-second step."""
    fake = Clock()
    import django_otp.plugins.otp_totp.models as totp_models

    monkeypatch.setattr(totp_models, "time", types.SimpleNamespace(time=fake.time))
    return fake


def totp_code(device: TOTPDevice, clock: Clock) -> str:
    """The code `device` accepts at the clock's current time."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = clock.now
    return f"{totp.token():0{device.digits}d}"


# ---------------------------------------------------------------------------------- wall clock


class WallClock:
    """The time Django sees through `django.utils.timezone.now`; tests move it forward."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def wall_clock(monkeypatch: pytest.MonkeyPatch) -> WallClock:
    """Freeze `timezone.now()` (sessions, lockout, quotas, cool-off, django-otp throttling) at
    10:00:00 UTC on a fixed day; the TOTP code clock (`clock`) is separate."""
    from django.utils import timezone

    fake = WallClock(datetime(2030, 1, 15, 10, 0, 0, tzinfo=UTC))
    monkeypatch.setattr(timezone, "now", fake)
    return fake


# ---------------------------------------------------------------------------------- people and cards


@dataclass
class Cardholder:
    user: object
    device: TOTPDevice
    password: str


def make_cardholder(username: str) -> Cardholder:
    from django.contrib.auth import get_user_model

    password = f"pw-{username}-long-enough"
    user = get_user_model().objects.create_user(
        username=username, password=password, email=f"{username}@example.com"
    )
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return Cardholder(user, device, password)


@pytest.fixture
def alice(db: None) -> Cardholder:
    return make_cardholder("alice")


@pytest.fixture
def bob(db: None) -> Cardholder:
    return make_cardholder("bob")


@pytest.fixture
def make_binding(sandbox: RunningSandbox, db: None) -> Callable[..., object]:
    """make_binding("mastercard", **options) -> a ProviderBinding pointed at that emulator."""
    from cardreveal.cards.bindings import encoded_secrets
    from cardreveal.cards.models import ProviderBinding

    def make(kind: str = "mastercard", **options: object) -> ProviderBinding:
        emulator = sandbox.emulator(kind)
        return ProviderBinding.objects.create(
            name=f"{kind} test {ProviderBinding.objects.count()}",
            issuer_name="Test Bank",
            kind=kind,
            base_url=sandbox.url_for(kind),
            secrets=encoded_secrets(kind, emulator.binding_secrets()),
            options={**emulator.binding_options(), **options},
        )

    return make


@pytest.fixture
def make_card(make_binding: Callable[..., object]) -> Callable[..., object]:
    """make_card(owner, reference=..., expiry=(4, 2030), kind="mastercard") -> a Card."""
    from cardreveal.cards.models import Card

    def make(
        owner: object,
        *,
        kind: str = "mastercard",
        binding: object | None = None,
        reference: dict[str, str] | None = None,
        expiry: tuple[int, int] = (4, 2030),
        label: str = "Test card",
    ) -> Card:
        return Card.objects.create(
            owner=owner,
            label=label,
            brand="mastercard",
            last4="0001",
            expiry_month=expiry[0],
            expiry_year=expiry[1],
            binding=binding or make_binding(kind),
            reference=reference or {"card_contract_id": "70001"},
        )

    return make


# ---------------------------------------------------------------------------------- client keys


@dataclass
class ClientKeyPair:
    private_key: rsa.RSAPrivateKey
    public_b64: str

    def open(self, sealed: str) -> str:
        """Decrypt a sealed reveal as the browser or app would; return the CVV."""
        return str(json.loads(jwe_decrypt(sealed, self.private_key))["cvv"])


def make_client_key(bits: int = 2048, exponent: int = 65537) -> ClientKeyPair:
    key = rsa.generate_private_key(public_exponent=exponent, key_size=bits)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ClientKeyPair(key, base64.b64encode(der).decode())


@pytest.fixture(scope="session")
def client_key() -> ClientKeyPair:
    return make_client_key()


# ---------------------------------------------------------------------------------- web sessions


def sign_in(client: Client, holder: Cardholder, clock: Clock) -> None:
    """Sign in through the real pages: password, then a TOTP code; leaves the clock one step on."""
    response = client.post(
        "/accounts/login/",
        {
            "username": holder.user.username,  # type: ignore[attr-defined]
            "password": holder.password,
        },
    )
    assert response.status_code == 302, response.content
    response = client.post("/accounts/verify/", {"code": totp_code(holder.device, clock)})
    assert response.status_code == 302, response.content
    clock.advance(30)


@pytest.fixture
def signed_in(client: Client, alice: Cardholder, clock: Clock) -> Client:
    """A browser session of alice's, verified with a code; the clock has moved to a fresh code."""
    sign_in(client, alice, clock)
    return client


@pytest.fixture
def staff(db: None) -> tuple[object, TOTPDevice]:
    """A superuser with a confirmed authenticator."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser(
        "root", "root@example.com", "pw-root-long-enough"
    )
    device = TOTPDevice.objects.create(user=user, name="admin phone", confirmed=True)
    return user, device


@pytest.fixture
def admin_client(staff: tuple[object, TOTPDevice], clock: Clock) -> Client:
    """A browser of its own, signed in as the superuser and verified with a code."""
    _user, device = staff
    browser = Client()
    browser.post("/accounts/login/", {"username": "root", "password": "pw-root-long-enough"})
    browser.post("/accounts/verify/", {"code": totp_code(device, clock)})
    clock.advance(30)
    return browser


# ---------------------------------------------------------------------------------- leak checks

_TOKEN_EDGE = r"0-9A-Za-z_+/\-"


def shows(value: str, text: str | bytes) -> bool:
    """True when `value` (a CVV) stands on its own in `text`.

    Random material (base64 JWEs, hex hashes, microsecond timestamps) contains any 3-4 digit run
    by chance now and then; a leaked CVV stands apart from it (`"cvv": "347"`, `cvv=347`). Only
    standalone occurrences count, so leak checks never fail by chance.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    pattern = rf"(?<![{_TOKEN_EDGE}]){re.escape(value)}(?![{_TOKEN_EDGE}])"
    return re.search(pattern, text) is not None
