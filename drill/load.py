"""The drill's clients: signed-in cardholders revealing at a steady pace through the load balancer, and
the probes that must reach given hosts (a code sent to two hosts at once, a lock, a quota)."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.app_client import App
from bench.client_key import client_key
from bench.totp import totp
from drill.checks import Duel
from drill.report import Answer
from providers.jose import jwe_decrypt

KEYS = [client_key() for _ in range(4)]
VERIFY_EVERY = 10  # open the sealed answer and compare the CVV on one reveal in ten


@dataclass
class Outcome:
    """One reveal request: status, the error code or what failed, the host that answered."""

    status: int
    kind: str
    host: str
    body: bytes = b""


def reveal(
    app: App, session: dict[str, Any], card: dict[str, str], code: str, key_index: int
) -> Outcome:
    """POST one reveal as the page does; never raises (a failure to connect is an outcome)."""
    _, public = KEYS[key_index]
    cookies = {"__Host-sessionid": session["sessionid"], "__Host-csrftoken": session["csrftoken"]}
    form = {"otp_code": code, "public_key": public, "csrfmiddlewaretoken": session["csrftoken"]}
    try:
        status, headers, body = app.request(
            "POST",
            f"/cards/{card['id']}/reveal",
            cookies=cookies,
            form=form,
            headers={"Accept": "application/json"},  # as the page's script asks
        )
    except OSError as exc:
        return Outcome(0, _connection_failure(exc), "")
    host = headers.get("X-Drill-Host", "")
    if status == 200:
        return Outcome(200, "ok", host, body)
    try:
        code_name = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code_name = "not JSON (load balancer)" if not host else "not JSON"
    return Outcome(status, f"{status} {code_name}", host)


def _connection_failure(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "client timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"connection error ({type(exc).__name__})"


def wait_for_step(last_step: int, *, at_offset: float = 0.0) -> float:
    """Sleep until a 1-second TOTP step after `last_step` (at `at_offset` into it); the time."""
    now = time.time()
    target = int(now) + at_offset
    while target <= now or int(target) <= last_step:
        target += 1
    time.sleep(target - now)
    return time.time()


@dataclass
class Load:
    """Cardholders revealing through the load balancer, each every `period` seconds at its own
    offset, round robin over their cards (one per provider)."""

    app: App
    sessions: list[dict[str, Any]]
    period: float
    answers: list[Answer] = field(default_factory=list)
    wrong_cvv: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for i, session in enumerate(self.sessions):
            offset = self.period * i / len(self.sessions)
            thread = threading.Thread(target=self._user, args=(session, offset, i), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(90)

    def _user(self, session: dict[str, Any], offset: float, index: int) -> None:
        kinds = sorted(session["cards"])
        start = time.time() + offset
        last_step = int(time.time())
        n = 0
        while not self._stop.is_set():
            due = start + n * self.period
            n += 1
            pause = due - time.time()
            if pause > 0 and self._stop.wait(pause):
                return
            now = wait_for_step(last_step, at_offset=0.9 * index / len(self.sessions))
            last_step = int(now)
            kind = kinds[(n + index) % len(kinds)]  # cardholders spread over the providers
            key_index = random.randrange(len(KEYS))  # noqa: S311 (which test key, not a secret)
            sent = time.time()
            outcome = reveal(
                self.app, session, session["cards"][kind], totp(session["totp_key"], now), key_index
            )
            answered = time.time()
            ok = outcome.status == 200
            if (
                ok
                and n % VERIFY_EVERY == 0
                and not _cvv_matches(outcome.body, key_index, session["cards"][kind])
            ):
                ok = False
                outcome.kind = "wrong CVV"
            with self._lock:
                self.answers.append(Answer(sent, answered, ok, outcome.kind, outcome.host))


def _cvv_matches(body: bytes, key_index: int, card: dict[str, str]) -> bool:
    private, _ = KEYS[key_index]
    sealed = json.loads(body)["sealed"]
    return str(json.loads(jwe_decrypt(sealed, private))["cvv"]) == card["cvv"]


@dataclass
class Duels:
    """Every `period` seconds a code of one cardholder (in turn, their cards in turn) is sent to
    two different hosts at once."""

    direct: Callable[[str], App]
    hosts: list[str]
    sessions: list[dict[str, Any]]
    period: float = 3.0
    duels: list[Duel] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(90)

    def _duel(
        self, pair: tuple[str, str], session: dict[str, Any], card: dict[str, str], code: str
    ) -> list[Outcome]:
        """The same code to both hosts, released together."""
        barrier = threading.Barrier(2)
        results = [Outcome(0, "not sent", ""), Outcome(0, "not sent", "")]

        def send(slot: int, host: str) -> None:
            barrier.wait()
            results[slot] = reveal(self.direct(host), session, card, code, slot)

        threads = [threading.Thread(target=send, args=(i, h)) for i, h in enumerate(pair)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        return results

    def _run(self) -> None:
        last_step = dict.fromkeys(range(len(self.sessions)), 0)
        n = 0
        while not self._stop.wait(self.period):
            who = n % len(self.sessions)
            pair = (self.hosts[n % len(self.hosts)], self.hosts[(n + 1) % len(self.hosts)])
            n += 1
            session = self.sessions[who]
            now = wait_for_step(last_step[who], at_offset=0.2)
            last_step[who] = int(now)
            code = totp(session["totp_key"], now)
            kinds = sorted(session["cards"])
            card = session["cards"][kinds[(n // len(self.sessions)) % len(kinds)]]
            outcomes = self._duel(pair, session, card, code)
            statuses = (outcomes[0].status, outcomes[1].status)
            self.duels.append(Duel(pair, (statuses[0], statuses[1])))


@dataclass
class ProbeResult:
    """What a sharing probe saw, request by request: (host, status, error kind)."""

    steps: list[tuple[str, int, str]]


def quota_probe(
    direct: Callable[[str], App], hosts: list[str], session: dict[str, Any], *, limit: int
) -> ProbeResult:
    """Reveal one card over and over, each time on the next host, until refused (at most `limit`
    + 3 times): with the quota shared, exactly `limit` succeed, whatever host each went to."""
    steps = []
    last_step = 0
    card = session["cards"]["mastercard"]
    for i in range(limit + 3):
        host = hosts[i % len(hosts)]
        now = wait_for_step(last_step, at_offset=0.1)
        last_step = int(now)
        outcome = reveal(direct(host), session, card, totp(session["totp_key"], now), 0)
        steps.append((host, outcome.status, outcome.kind))
        if outcome.status != 200:
            break
    return ProbeResult(steps)


def lock_probe(
    direct: Callable[[str], App], hosts: list[str], session: dict[str, Any], *, threshold: int
) -> ProbeResult:
    """`threshold` wrong codes, each on the next host, then the right code on the next one: with
    the lockout shared, the right code is refused because the account is locked."""
    steps = []
    last_step = 0
    card = session["cards"]["mastercard"]
    for i in range(threshold + 1):
        host = hosts[i % len(hosts)]
        now = wait_for_step(last_step, at_offset=0.1)
        last_step = int(now)
        right = totp(session["totp_key"], now)
        code = right if i == threshold else f"{(int(right) + 1) % 1_000_000:06d}"
        outcome = reveal(direct(host), session, card, code, 0)
        steps.append((host, outcome.status, outcome.kind))
    return ProbeResult(steps)
