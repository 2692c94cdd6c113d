"""Locust users for `make bench`: signed-in cardholders revealing CVVs, or browsing their cards.

Run by bench/run_bench.py (locust --headless -f bench/locust_reveal.py <one user class below>).
The sessions come from real sign-ins done before the run (BENCH_SESSIONS names the JSON file),
so no password hashing happens while the clock runs.

RevealUser: once a second (each user at its own fixed offset within the second, so the load is
spread evenly instead of arriving in a burst at each second boundary), POST a reveal with a fresh
TOTP code for the current 1-second step and a client public key, for the user's next card
(round robin over the four providers). Keys: RSA-2048 generation costs ~50-100 ms, far more than a
reveal, so a pool of keys is generated at start-up and users reuse public keys across reveals;
a real browser makes a fresh key per reveal on the client's own CPU, which the server never sees.
The sealed answer is opened and the CVV checked on the first reveal of each card and 1 in 10
after that (decrypting is the client's cost, not the server's; sampled to keep the generator light).

ProviderFloorUser and BareFloorUser: paced as RevealUser is, but against the floor server
(bench/floors.py): the same provider calls behind Django's signed-in request path alone, and
behind gunicorn alone, so the report can say which layer adds what.

CardListUser: GET / back to back (a closed loop), to find the card list's throughput.

Every request's response time is also kept as measured, in a list written as JSON to the file
BENCH_SAMPLES names when Locust quits: Locust's own percentiles come from a histogram that rounds
each time to whole milliseconds under 100 ms and to tens of milliseconds above, too coarse for a
target of 10 ms added against a direct call timed to the microsecond.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from typing import Any

import gevent
from cryptography.hazmat.primitives.asymmetric import rsa
from locust import FastHttpUser, constant, events, task

from bench.client_key import client_key
from bench.totp import totp
from providers.jose import jwe_decrypt

KEY_POOL_SIZE = 8
VERIFY_EVERY = 10


class _Shared:
    sessions: list[dict[str, Any]] = []
    next_session: itertools.count[int] = itertools.count()
    keys: list[tuple[rsa.RSAPrivateKey, str]] = []
    samples: list[tuple[str, float, bool]] = []  # (name, response time in ms, succeeded)


@events.init.add_listener
def _load(environment: Any, **_: Any) -> None:
    with open(os.environ["BENCH_SESSIONS"]) as fh:
        _Shared.sessions = json.load(fh)["sessions"]
    for _ in range(KEY_POOL_SIZE):
        _Shared.keys.append(client_key())


@events.request.add_listener
def _keep_sample(name: str, response_time: float, exception: Any, **_: Any) -> None:
    _Shared.samples.append((name, response_time, exception is None))


@events.quitting.add_listener
def _write_samples(environment: Any, **_: Any) -> None:
    path = os.environ.get("BENCH_SAMPLES")
    if path:
        with open(path, "w") as fh:
            json.dump({"samples": _Shared.samples}, fh)


class _SignedIn(FastHttpUser):
    abstract = True

    def on_start(self) -> None:
        index = next(_Shared.next_session) % len(_Shared.sessions)
        self.session = _Shared.sessions[index]
        self.client.client.cookiejar = None  # cookies are sent by hand: the session is fixed
        host = self.host or ""
        self.headers = {
            "Cookie": (
                f"__Host-sessionid={self.session['sessionid']}; "
                f"__Host-csrftoken={self.session['csrftoken']}"
            ),
            # What the TLS-terminating load balancer adds; the app runs with SSL redirect on.
            "X-Forwarded-Proto": "https",
            "Origin": host.replace("http://", "https://"),
        }


class _Paced(_SignedIn):
    """One request a second at this user's own offset within the second, for its next card."""

    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        super().on_start()
        self.offset = random.random() * 0.9
        self.last_step = int(time.time())  # the sign-in code used an earlier step
        self.kinds = itertools.cycle(sorted(self.session["cards"]))
        self.private_key, self.public_key = random.choice(_Shared.keys)
        self.revealed: dict[str, int] = {}

    def _wait_for_next_step(self) -> None:
        now = time.time()
        target = int(now) + self.offset
        while target <= now or int(target) <= self.last_step:
            target += 1
        gevent.sleep(target - now)

    def _post(self, path: str, data: dict[str, str], name: str) -> Any:
        """POST a form as the page does; a redirect (to sign-in) is a failure, not the page after
        it. Use as a context manager, as Locust's `catch_response` responses are."""
        return self.client.post(
            path,
            data=data,
            headers=self.headers,
            name=name,
            catch_response=True,
            allow_redirects=False,
        )

    def _next_card(self) -> tuple[str, dict[str, Any], float]:
        self._wait_for_next_step()
        now = time.time()
        self.last_step = int(now)
        kind = next(self.kinds)
        return kind, self.session["cards"][kind], now


class RevealUser(_Paced):
    @task
    def reveal(self) -> None:
        kind, card, now = self._next_card()
        body = {
            "otp_code": totp(self.session["totp_key"], now),
            "public_key": self.public_key,
            "csrfmiddlewaretoken": self.session["csrftoken"],
        }
        with self._post(f"/cards/{card['id']}/reveal", body, f"reveal {kind}") as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {response.text[:200]}")
                return
            count = self.revealed.get(kind, 0)
            self.revealed[kind] = count + 1
            if count % VERIFY_EVERY == 0:
                sealed = response.json()["sealed"]
                cvv = json.loads(jwe_decrypt(sealed, self.private_key))["cvv"]
                if str(cvv) != card["cvv"]:
                    response.failure(f"wrong CVV from {kind}")


class ProviderFloorUser(_Paced):
    """The Django floor (bench/floor_urls.py `provider_floor`), posted as the reveal is posted,
    with the same key but no code: the signed-in request path, the card read, the provider call."""

    @task
    def provider_floor(self) -> None:
        kind, card, _ = self._next_card()
        body = {"public_key": self.public_key, "csrfmiddlewaretoken": self.session["csrftoken"]}
        path = f"/bench/provider-floor/{card['id']}"
        with self._post(path, body, f"provider floor {kind}") as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {response.text[:200]}")


class BareFloorUser(_Paced):
    """The bare floor (bench/floors.py): the provider call behind gunicorn alone, no Django."""

    @task
    def bare_floor(self) -> None:
        kind, _, _ = self._next_card()
        with self._post(f"/bench/bare/{kind}", {"kind": kind}, f"bare floor {kind}") as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {response.text[:200]}")


class CardListUser(_SignedIn):
    wait_time = constant(0)

    @task
    def card_list(self) -> None:
        with self.client.get(
            "/",
            headers=self.headers,
            name="card list (GET /)",
            catch_response=True,
            allow_redirects=False,
        ) as response:
            if response.status_code != 200 or b"bench" not in (response.content or b""):
                response.failure(f"{response.status_code}")
