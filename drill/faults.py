"""The faults the drill injects under load, one at a time: each breaks one part, holds, and heals it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from dataclasses import dataclass

from drill.scrape import scrape, total
from drill.stack import Stack, wait_balanced, wait_port, wait_ready

HUNG_PROVIDER = "thredd"


@dataclass
class Fault:
    """One fault: `inject` breaks, `heal` repairs after `hold` seconds; `detail` says how."""

    name: str
    hold: float
    detail: str = ""

    def inject(self, stack: Stack) -> None:
        raise NotImplementedError

    def heal(self, stack: Stack) -> None:
        raise NotImplementedError


@dataclass
class KillHost(Fault):
    """SIGKILL one host's gunicorn (master and workers at once); start it again after `hold`."""

    host: str = "h1"

    def inject(self, stack: Stack) -> None:
        stack.hosts[self.host].kill()

    def heal(self, stack: Stack) -> None:
        stack.hosts[self.host].start()
        took = wait_ready(stack, self.host, timeout=120)
        self.detail = (
            f"{self.host} killed, started again after {self.hold:.0f} s, ready {took:.1f} s later"
        )


@dataclass
class RestartRedis(Fault):
    """Stop Redis (nothing persisted: it comes back empty) and start it after `hold`."""

    def inject(self, stack: Stack) -> None:
        stack.redis.stop()

    def heal(self, stack: Stack) -> None:
        stack.redis.start()
        wait_port(stack.network.gateway, stack.redis_port, timeout=30, service=stack.redis)
        self.detail = f"down {self.hold:.0f} s, back empty"


@dataclass
class RestartPostgres(Fault):
    """Cut every connection to PostgreSQL for `hold` seconds: SIGKILL the forward the hosts reach
    it through (its open connections die with it), or with `real`, restart the machine's cluster."""

    real: bool = False

    def inject(self, stack: Stack) -> None:
        if self.real:
            subprocess.run(["pg_ctlcluster", "15", "main", "restart"], check=True, timeout=120)  # noqa: S607
            self.detail = "pg_ctlcluster 15 main restart"
        else:
            stack.pg_forward.kill()

    def heal(self, stack: Stack) -> None:
        if not self.real:
            stack.pg_forward.start()
            self.detail = f"every connection cut, unreachable {self.hold:.0f} s"


@dataclass
class HangProvider(Fault):
    """One provider's sandbox answers nothing for `hold` seconds (requests wait 120 s)."""

    def _faults(self, stack: Stack, method: str, body: dict[str, object] | None = None) -> None:
        url = f"http://{stack.network.gateway}:{stack.sandbox_port}/_faults"
        if method == "DELETE":
            url += f"?kind={HUNG_PROVIDER}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (the drill's own sandbox)
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310
            pass

    def inject(self, stack: Stack) -> None:
        self._faults(stack, "PUT", {"kind": HUNG_PROVIDER, "fault": {"latency": 120}})

    def heal(self, stack: Stack) -> None:
        self._faults(stack, "DELETE")
        healed = time.monotonic()
        closed = _breakers_closed(stack, timeout=90)
        self.detail = f"{HUNG_PROVIDER} silent for {self.hold:.0f} s; " + (
            f"its breaker closed again {time.monotonic() - healed:.0f} s after it answered again"
            if closed
            else "its breaker was still not closed 90 s after it answered again"
        )


def _breakers_closed(stack: Stack, *, timeout: float) -> bool:
    """Wait until the hung provider's breaker reads closed in the metrics (a trial call succeeded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in stack.hosts:
            samples = scrape(stack.direct(name), stack.metrics_token)
            labels = {"provider": HUNG_PROVIDER, "state": "closed"}
            if samples is not None and total(samples, "cardreveal_breaker_state", **labels) >= 1:
                return True
        time.sleep(1)
    return False


def all_ready(stack: Stack, *, timeout: float = 120) -> None:
    """Wait until every host is ready again and the balancer sends to each."""
    deadline = time.monotonic() + timeout
    for name in stack.hosts:
        wait_ready(stack, name, timeout=max(1.0, deadline - time.monotonic()))
    wait_balanced(stack, timeout=max(1.0, deadline - time.monotonic()))
