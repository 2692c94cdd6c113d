"""The circuit breaker per binding and the concurrency cap: fail fast with no HTTP call while open or
saturated, one trial after the cool-down, state shared by workers through the cache (Redis)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache.backends.locmem import LocMemCache

from cardreveal.cards.bindings import binding_breaker
from cardreveal.cards.services import RevealError, reveal_cvv
from cardreveal.client_info import ClientInfo
from providers.breaker import BreakerPolicy, CircuitBreaker, Outcome, State
from providers.errors import CircuitOpen, ProviderBusy, ProviderError
from providers.http import HttpDoor, HttpPolicy
from providers.sandbox.core import Fault
from providers.sandbox.server import RunningSandbox
from tests.conftest import totp_code

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/14"
CLIENT = ClientInfo(ip="198.51.100.10", user_agent="pytest", request_id="req-brk", channel="web")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _no_faults(sandbox: RunningSandbox) -> Iterator[None]:
    sandbox.faults.clear()
    yield
    sandbox.faults.clear()


def breaker(threshold: int = 3, cooldown: float = 30.0) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    cache = LocMemCache(f"breaker-{uuid.uuid4().hex}", {})
    return (
        CircuitBreaker(
            key="binding-test",
            policy=BreakerPolicy(threshold=threshold, cooldown=cooldown),
            cache=cache,
            clock=clock,
        ),
        clock,
    )


def fail(b: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        b.record(b.before_call(), Outcome.FAILURE, latency_ms=5, code="provider_timeout")


# ---------------------------------------------------------------------------------- the state machine


def test_opens_after_threshold_consecutive_failures_and_fails_fast():
    b, _ = breaker(threshold=3, cooldown=30)
    fail(b, 2)
    b.before_call()  # still closed after two
    fail(b)
    with pytest.raises(CircuitOpen) as info:
        b.before_call()
    assert info.value.retry_after == 30
    assert info.value.status_code == 503
    with pytest.raises(CircuitOpen):
        b.before_call()
    assert b.snapshot().state is State.OPEN
    assert b.snapshot().fast_failures == 2


def test_a_success_resets_the_count_and_neutral_outcomes_do_not_count():
    b, _ = breaker(threshold=3)
    fail(b, 2)
    b.record(b.before_call(), Outcome.SUCCESS, latency_ms=5)
    fail(b, 2)
    for _ in range(10):
        b.record(b.before_call(), Outcome.NEUTRAL, latency_ms=5, code="provider_rate_limited")
    b.before_call()
    assert b.snapshot().consecutive_failures == 2


def test_after_the_cool_down_exactly_one_trial_goes_through_and_its_success_closes(caplog):
    caplog.set_level(logging.INFO, logger="providers.breaker")
    b, clock = breaker(threshold=2, cooldown=30)
    fail(b, 2)
    clock.now += 29
    with pytest.raises(CircuitOpen):
        b.before_call()
    clock.now += 2
    trial = b.before_call()
    assert trial.trial
    assert b.snapshot().state is State.HALF_OPEN
    with pytest.raises(CircuitOpen):
        b.before_call()  # a second caller while the trial is out
    b.record(trial, Outcome.SUCCESS, latency_ms=7)
    assert b.snapshot().state is State.CLOSED
    assert not b.before_call().trial
    messages = [r.getMessage() for r in caplog.records]
    assert any("opened after 2 consecutive failures" in m for m in messages)
    assert any("half-open" in m for m in messages)
    assert any("closed: a trial call succeeded" in m for m in messages)


def test_a_failed_trial_opens_the_breaker_for_another_cool_down():
    b, clock = breaker(threshold=1, cooldown=30)
    fail(b)
    clock.now += 31
    trial = b.before_call()
    b.record(trial, Outcome.FAILURE, latency_ms=5, code="provider_unavailable")
    with pytest.raises(CircuitOpen) as info:
        b.before_call()
    assert info.value.retry_after == 30
    clock.now += 31
    assert b.before_call().trial


def test_a_neutral_trial_leaves_it_half_open_for_the_next_caller():
    b, clock = breaker(threshold=1)
    fail(b)
    clock.now += 31
    b.record(b.before_call(), Outcome.NEUTRAL, latency_ms=5)
    assert b.before_call().trial


def test_the_snapshot_keeps_last_success_last_failure_and_recent_latency():
    b, clock = breaker()
    b.record(b.before_call(), Outcome.SUCCESS, latency_ms=40)
    success_at = clock.now
    clock.now += 10
    b.record(b.before_call(), Outcome.FAILURE, latency_ms=900, code="provider_server_error")
    health = b.snapshot()
    assert health.last_success == success_at
    assert health.last_failure == clock.now
    assert health.last_failure_code == "provider_server_error"
    assert health.recent_latencies_ms == (40, 900)
    for ms in range(30):
        b.record(b.before_call(), Outcome.SUCCESS, latency_ms=ms)
    assert b.snapshot().recent_latencies_ms == tuple(range(10, 30))
    assert b.snapshot().median_latency_ms == 20


def test_a_noted_failure_is_the_last_failure_but_never_opens_the_breaker():
    b, clock = breaker(threshold=1)
    b.record(b.before_call(), Outcome.SUCCESS, latency_ms=40)
    clock.now += 1
    b.note_failure("answer_undecryptable")
    health = b.snapshot()
    assert (health.last_failure, health.last_failure_code) == (clock.now, "answer_undecryptable")
    assert health.state is State.CLOSED
    assert health.consecutive_failures == 0
    assert not b.before_call().trial


def test_a_broken_cache_never_blocks_calls(caplog):
    class BrokenCache(LocMemCache):
        def get_many(self, *args, **kwargs):
            raise ConnectionError("cache down")

        def set(self, *args, **kwargs):
            raise ConnectionError("cache down")

    b = CircuitBreaker(key="binding-x", policy=BreakerPolicy(), cache=BrokenCache("broken", {}))
    permit = b.before_call()
    b.record(permit, Outcome.FAILURE, latency_ms=5, code="provider_timeout")
    assert not permit.trial
    assert any("state unavailable" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------------- through the door


def door(threshold: int = 3, **overrides: object) -> HttpDoor:
    policy = HttpPolicy(
        **{  # type: ignore[arg-type]
            "allow_loopback_http": True,
            "connect_timeout": 1.0,
            "read_timeout": 1.0,
            "deadline": 2.0,
            "connect_retries": 0,
            "breaker_threshold": threshold,
            **overrides,
        }
    )
    return HttpDoor(name=f"binding-door-{uuid.uuid4().hex[:8]}", policy=policy)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def thredd_url(sandbox: RunningSandbox) -> str:
    return sandbox.url_for("thredd") + "/cards/103169946/cvv"


def outcome(http: HttpDoor, url: str) -> int | str:
    try:
        return http.request("GET", url).status
    except ProviderError as exc:
        return exc.code


def test_once_open_the_door_makes_no_http_request(sandbox, caplog):
    caplog.set_level(logging.INFO)
    sandbox.faults.set(Fault(status=500), kind="thredd")
    http = door(threshold=3)
    assert [outcome(http, thredd_url(sandbox)) for _ in range(3)] == [500, 500, 500]
    assert sandbox.faults.hits == 3
    started = time.monotonic()
    assert outcome(http, thredd_url(sandbox)) == "provider_circuit_open"
    assert time.monotonic() - started < 0.5  # failing fast: no connection, no wait
    assert sandbox.faults.hits == 3
    assert any(
        r.levelno == logging.WARNING and "opened after 3" in r.getMessage() for r in caplog.records
    )


def test_after_the_cool_down_one_trial_reaches_the_provider_and_closes_it(sandbox):
    sandbox.faults.set(Fault(status=503), kind="thredd")
    http = door(threshold=2)
    clock = FakeClock()
    assert http.breaker is not None
    http.breaker.clock = clock
    for _ in range(2):
        outcome(http, thredd_url(sandbox))
    assert outcome(http, thredd_url(sandbox)) == "provider_circuit_open"
    sandbox.faults.clear()
    clock.now += 31
    assert outcome(http, thredd_url(sandbox)) == 401  # the trial: a real answer
    assert http.breaker.snapshot().state is State.CLOSED
    assert outcome(http, thredd_url(sandbox)) == 401


def test_refused_connections_and_timeouts_count_together_for_one_binding(sandbox):
    sandbox.faults.set(Fault(latency=1.2), kind="thredd")
    slow = door(threshold=2)
    # Another door (another worker thread's, say) of the same binding: one breaker between them.
    dead = HttpDoor(name=slow.name, policy=slow.policy)
    assert outcome(dead, f"http://127.0.0.1:{closed_port()}/x") == "provider_unavailable"
    assert outcome(slow, thredd_url(sandbox)) == "provider_timeout"
    assert outcome(slow, thredd_url(sandbox)) == "provider_circuit_open"
    assert outcome(dead, thredd_url(sandbox)) == "provider_circuit_open"
    assert sandbox.faults.hits == 1


@pytest.mark.parametrize("status", [400, 401, 404, 409, 429])
def test_answers_about_our_request_never_open_it(sandbox, status):
    sandbox.faults.set(Fault(status=status), kind="thredd")
    http = door(threshold=2)
    assert [outcome(http, thredd_url(sandbox)) for _ in range(4)] == [status] * 4
    assert sandbox.faults.hits == 4


# ---------------------------------------------------------------------------------- the reveal


def test_an_open_breaker_answers_503_with_retry_after_and_no_provider_call(
    settings, sandbox, alice, make_card, clock, client_key, signed_in
):
    settings.CARDREVEAL_BREAKER_THRESHOLD = 2
    card = make_card(alice.user)
    sandbox.faults.set(Fault(status=502), kind="mastercard")
    for _ in range(2):
        with pytest.raises(RevealError) as info:
            reveal_cvv(
                user=alice.user,
                card_id=card.pk,
                otp_code=totp_code(alice.device, clock),
                client_public_key=client_key.public_b64,
                client=CLIENT,
            )
        assert info.value.code == "provider_server_error"
        clock.advance(30)
    response = signed_in.post(
        f"/cards/{card.pk}/reveal",
        {"otp_code": totp_code(alice.device, clock), "public_key": client_key.public_b64},
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "provider_circuit_open"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert sandbox.faults.hits == 2
    assert binding_breaker(card.binding).snapshot().state is State.OPEN


def test_the_admin_shows_each_binding_breaker_state_and_stats(
    settings, sandbox, verified_admin, alice, make_card, clock, client_key
):
    settings.CARDREVEAL_BREAKER_THRESHOLD = 1
    card = make_card(alice.user)
    sandbox.faults.set(Fault(status=500), kind="mastercard")
    with pytest.raises(RevealError):
        reveal_cvv(
            user=alice.user,
            card_id=card.pk,
            otp_code=totp_code(alice.device, clock),
            client_public_key=client_key.public_b64,
            client=CLIENT,
        )
    change = verified_admin.get(f"/admin/cards/providerbinding/{card.binding.pk}/change/")
    body = change.content.decode()
    assert "open (failing fast until" in body
    assert "provider_server_error" in body
    assert "median" in body
    listing = verified_admin.get("/admin/cards/providerbinding/").content.decode()
    assert "open (failing fast until" in listing


def test_an_admin_can_close_an_open_breaker(settings, verified_admin, make_binding):
    settings.CARDREVEAL_BREAKER_THRESHOLD = 1
    binding = make_binding("thredd")
    b = binding_breaker(binding)
    b.record(b.before_call(), Outcome.FAILURE, latency_ms=5, code="provider_timeout")
    assert b.snapshot().state is State.OPEN
    response = verified_admin.post(
        "/admin/cards/providerbinding/",
        {"action": "close_breakers", "_selected_action": [binding.pk]},
    )
    assert response.status_code == 302
    assert b.snapshot().state is State.CLOSED
    assert not b.before_call().trial


@pytest.fixture
def verified_admin(db, clock):
    """A superuser's browser, signed in and OTP-verified through the real pages."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-long-enough")
    device = TOTPDevice.objects.create(
        user=get_user_model().objects.get(username="ops"), name="ops phone", confirmed=True
    )
    browser = Client()
    browser.post("/accounts/login/", {"username": "ops", "password": "pw-ops-long-enough"})
    browser.post("/accounts/verify/", {"code": totp_code(device, clock)})
    clock.advance(30)
    return browser


# ---------------------------------------------------------------------------------- isolation


@contextlib.contextmanager
def one_call_held(sandbox: RunningSandbox, http: HttpDoor) -> Iterator[threading.Event]:
    """A Thredd call through `http` held inside the sandbox (so holding a slot) until the yielded
    event is set; on exit it is released and must have been answered (401: the sandbox's answer
    to an unsigned call)."""
    held = threading.Event()
    sandbox.faults.set(Fault(hold=held), kind="thredd")
    first: list[int | str] = []
    worker = threading.Thread(target=lambda: first.append(outcome(http, thredd_url(sandbox))))
    worker.start()
    try:
        while sandbox.faults.hits < 1:  # the first call is inside the provider
            time.sleep(0.01)
        yield held
    finally:
        held.set()
        worker.join(5)
    assert first == [401]


def test_a_saturated_binding_fails_fast_as_busy_while_another_binding_is_served(
    sandbox, provider_calls
):
    slow = door(threshold=0, max_concurrency=1, deadline=10.0, read_timeout=10.0)
    healthy = door(threshold=0, max_concurrency=1)
    with one_call_held(sandbox, slow):
        with pytest.raises(ProviderBusy) as info:
            slow.request("GET", thredd_url(sandbox))
        assert info.value.status_code == 503
        assert sandbox.faults.hits == 1  # the busy call made no request
        other = sandbox.url_for("mastercard") + "/cards/70001/card-verification-codes/searches"
        assert outcome(healthy, other) == 405  # another binding is not held up (a GET: 405)
    assert outcome(slow, thredd_url(sandbox)) == 401  # the slot came back


def test_a_call_that_finds_the_binding_full_waits_briefly_for_a_slot(sandbox, provider_calls):
    capped = door(threshold=0, max_concurrency=1, slot_wait=3.0, deadline=10.0, read_timeout=10.0)
    with one_call_held(sandbox, capped) as held:
        sandbox.faults.clear()
        threading.Timer(0.3, held.set).start()  # it answers while the second waits
        began = time.monotonic()
        assert outcome(capped, thredd_url(sandbox)) == 401  # served, not refused as busy
        assert 0.25 < time.monotonic() - began < 3.0


def test_a_call_waits_no_longer_than_the_slot_wait_before_failing_as_busy(sandbox, provider_calls):
    capped = door(threshold=0, max_concurrency=1, slot_wait=0.3, deadline=10.0, read_timeout=10.0)
    with one_call_held(sandbox, capped):
        began = time.monotonic()
        with pytest.raises(ProviderBusy):
            capped.request("GET", thredd_url(sandbox))
        assert 0.25 < time.monotonic() - began < 2.0
        assert sandbox.faults.hits == 1  # the busy call made no request


# ---------------------------------------------------------------------------------- across processes

_WORKER = """
import json, sys
import django
django.setup()
from providers.breaker import BreakerPolicy, CircuitBreaker
from providers.errors import ProviderError
from providers.http import HttpDoor, HttpPolicy

key, cooldown = sys.argv[1], float(sys.argv[2])
door = HttpDoor(
    name=key,
    policy=HttpPolicy(allow_loopback_http=True, connect_retries=0, deadline=3.0),
    breaker=CircuitBreaker(key=key, policy=BreakerPolicy(threshold=3, cooldown=cooldown)),
)
for line in sys.stdin:
    try:
        result = door.request("GET", line.strip()).status
    except ProviderError as exc:
        result = exc.code
    print(json.dumps(result), flush=True)
"""


def _redis_reachable() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


class Worker:
    """Another worker process with its own door on the same binding key, Redis as its cache."""

    def __init__(self, key: str, cooldown: float) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "cardreveal.settings.test",
            "REDIS_URL": REDIS_URL,
            "PYTHONPATH": str(REPO),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER, key, str(cooldown)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
            env=env,
            text=True,
        )

    def call(self, url: str) -> int | str:
        assert self.process.stdin
        assert self.process.stdout
        self.process.stdin.write(url + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(10)


@pytest.mark.skipif(not _redis_reachable(), reason=f"Redis is not reachable at {REDIS_URL}")
def test_breaker_state_is_shared_by_workers_through_redis(sandbox):
    from django.core.cache.backends.redis import RedisCache

    key = f"binding-shared-{uuid.uuid4().hex[:8]}"
    cooldown = 1.0
    here = CircuitBreaker(
        key=key,
        policy=BreakerPolicy(threshold=3, cooldown=cooldown),
        cache=RedisCache(REDIS_URL, {}),  # the app's backend, as the other worker's
    )
    here_door = HttpDoor(
        name=key, policy=HttpPolicy(allow_loopback_http=True, connect_retries=0), breaker=here
    )
    other = Worker(key, cooldown)
    try:
        sandbox.faults.set(Fault(status=500), kind="thredd")
        # The other worker meets three failures: the breaker opens for everyone.
        assert [other.call(thredd_url(sandbox)) for _ in range(3)] == [500, 500, 500]
        assert sandbox.faults.hits == 3
        assert outcome(here_door, thredd_url(sandbox)) == "provider_circuit_open"
        assert sandbox.faults.hits == 3
        assert here.snapshot().state is State.OPEN

        sandbox.faults.clear()
        time.sleep(cooldown + 0.2)  # let the shared cool-down pass in real time
        trial = here.before_call()  # this worker takes the one trial...
        assert trial.trial
        assert other.call(thredd_url(sandbox)) == "provider_circuit_open"  # ...the other waits
        here.record(trial, Outcome.SUCCESS, latency_ms=3)
        assert other.call(thredd_url(sandbox)) == 401  # closed for the other worker too
    finally:
        other.stop()
        here.reset()


def test_failures_still_open_the_breaker_when_its_stats_cannot_be_kept(monkeypatch, caplog):
    b, _ = breaker(threshold=3)

    def refuse(*args, **kwargs):
        raise ConnectionError("stats store unavailable")

    monkeypatch.setattr(b.cache, "set_many", refuse)  # the stats write (and only it) fails
    for _ in range(3):
        b.record(b.before_call(), Outcome.FAILURE, latency_ms=5, code="provider_timeout")
    assert b.snapshot().state is State.OPEN
    assert "could not keep the call's stats" in caplog.text
