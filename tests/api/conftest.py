"""Fixtures for the API tests: an API client, tokens got by signing in through the API, time travel."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.conftest import Cardholder, Clock, totp_code


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Throttle counters (and breaker state) live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="module")
def schema(django_db_blocker: pytest.FixtureRequest) -> dict[str, object]:
    """The OpenAPI schema as the app serves it, as JSON."""
    from django.test import Client

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    served: dict[str, object] = json.loads(response.content)
    return served


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def login(api: APIClient, holder: Cardholder, clock: Clock, **fields: object) -> object:
    """POST /api/v1/auth/login with the holder's password and current code."""
    body = {
        "username": holder.user.username,  # type: ignore[attr-defined]
        "password": holder.password,
        "otp_code": totp_code(holder.device, clock),
        **fields,
    }
    return api.post("/api/v1/auth/login", body, format="json")


def token_for(holder: Cardholder, clock: Clock, **fields: object) -> str:
    """Sign in through the API and return the token; the clock moves on to a fresh code."""
    response = login(APIClient(), holder, clock, **fields)
    assert response.status_code == 200, response.content
    clock.advance(30)
    return str(response.json()["token"])


def wrong_code(device: object, clock: Clock) -> str:
    """A well-formed code the device does not accept now (none of the steps it tolerates)."""
    accepted = set()
    for step in (-1, 0, 1):
        clock.advance(30 * step)
        accepted.add(totp_code(device, clock))  # type: ignore[arg-type]
        clock.advance(-30 * step)
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def alice_token(alice: Cardholder, clock: Clock) -> str:
    return token_for(alice, clock, device_name="alice's phone")


@pytest.fixture
def authed(alice_token: str) -> APIClient:
    """An API client holding alice's token; the TOTP clock already shows a fresh code."""
    return client_with(alice_token)


def set_rates(settings: object, **rates: str) -> None:
    """Override some throttle rates (the throttles read them when they run)."""
    current = settings.REST_FRAMEWORK  # type: ignore[attr-defined]
    settings.REST_FRAMEWORK = {  # type: ignore[attr-defined]
        **current,
        "DEFAULT_THROTTLE_RATES": {**current["DEFAULT_THROTTLE_RATES"], **rates},
    }


@pytest.fixture
def no_throttles(settings: object) -> None:
    """Rates high enough that tests signing in many times are not throttled, and sign-in limits
    high enough that their failed sign-ins are not refused."""
    scopes = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]  # type: ignore[attr-defined]
    set_rates(settings, **dict.fromkeys(scopes, "100000/min"))
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_ADDRESS = 1000  # type: ignore[attr-defined]
    settings.CARDREVEAL_SIGN_IN_FAILURES_PER_USERNAME = 1000  # type: ignore[attr-defined]


class TimeMachine:
    """Moves `django.utils.timezone.now` (knox expiry, model timestamps) forward on demand."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(tz=dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def time_machine(monkeypatch: pytest.MonkeyPatch) -> TimeMachine:
    machine = TimeMachine()
    monkeypatch.setattr("django.utils.timezone.now", machine)
    return machine


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def open_like_a_mobile_app(sealed: str, private_key: rsa.RSAPrivateKey) -> dict[str, object]:
    """Open a `jwe-rsa-oaep-256-a256gcm` answer with `cryptography` alone, following the steps
    the API documents (no project code involved)."""
    header_b64, key_b64, iv_b64, ciphertext_b64, tag_b64 = sealed.split(".")
    header = json.loads(_b64url(header_b64))
    assert header["alg"] == "RSA-OAEP-256"
    assert header["enc"] == "A256GCM"
    content_key = private_key.decrypt(
        _b64url(key_b64),
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )
    assert len(content_key) == 32
    iv = _b64url(iv_b64)
    assert len(iv) == 12
    plaintext = AESGCM(content_key).decrypt(
        iv, _b64url(ciphertext_b64) + _b64url(tag_b64), header_b64.encode("ascii")
    )
    result: dict[str, object] = json.loads(plaintext)
    return result


def assert_error(response: object, status: int, code: str) -> dict[str, object]:
    """The response is the API's one error shape with this status and code; returns the error."""
    assert response.status_code == status, response.content  # type: ignore[attr-defined]
    assert response["Content-Type"] == "application/json"  # type: ignore[index]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    error: dict[str, object] = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["request_id"] == response["X-Request-ID"]  # type: ignore[index]
    assert "Traceback" not in str(error)
    return error
