"""Load test: with one provider dead, slow or dripping, do reveals through another keep their latency?

Two provider sandboxes run as separate processes on loopback: A serves Mastercard (always healthy),
B serves Thredd and gets a fault through its /_faults endpoint (or is stopped, for "dead"). This
process plays one app worker with a fixed pool of threads (like gunicorn's gthread worker):
requests arrive at a fixed rate, alternating between a Mastercard card and a Thredd card, wait for
a free thread, and run the provider leg of a reveal (`provider_for_binding(...).fetch_cvv`, the
only part of a reveal a provider's health can change). Each scenario runs twice: with the
protections (deadline, breaker, per-binding concurrency cap) and with the breaker and cap
switched off. The latency reported for Mastercard is arrival to answer, queueing included.

    .venv/bin/python bench/resilience.py [--duration 30] [--rate 20] [--threads 8]

It makes no request to anything but the two loopback sandboxes it starts, and stops by itself.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
import os
import platform
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardreveal.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402

from cardreveal.cards.bindings import encoded_secrets, provider_for_binding  # noqa: E402
from cardreveal.cards.models import ProviderBinding  # noqa: E402
from providers.base import CardRef  # noqa: E402
from providers.errors import ProviderError  # noqa: E402
from providers.http import doors  # noqa: E402
from providers.sandbox.mastercard import MastercardEmulator  # noqa: E402
from providers.sandbox.thredd import ThreddEmulator  # noqa: E402

MASTERCARD_CARD = CardRef({"card_contract_id": "70001"}, 4, 2030)
THREDD_CARD = CardRef({"public_token": "103169946"}, 2, 2030)

SCENARIOS: dict[str, dict[str, object] | None] = {
    "baseline (both healthy)": {},
    "Thredd dead (connection refused)": None,
    "Thredd slow (answers after 60 s)": {"latency": 60.0},
    "Thredd drips (1 byte every 0.5 s)": {"drip_interval": 0.5},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sandbox:
    """`python -m providers.sandbox` in its own process."""

    def __init__(self, state: Path) -> None:
        self.port = free_port()
        self.state = state
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "providers.sandbox", "--port", str(self.port)]
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [*command, "--state", str(self.state)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sandbox did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def fault(self, spec: dict[str, object]) -> None:
        method, body = ("PUT", {"kind": "thredd", "fault": spec}) if spec else ("DELETE", None)
        request = urllib.request.Request(  # noqa: S310 (our own loopback sandbox)
            f"{self.url}/_faults",
            data=json.dumps(body).encode() if body else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310
            pass


def binding(pk: int, kind: str, base_url: str, emulator: object) -> ProviderBinding:
    """An unsaved binding: this bench needs no database."""
    return ProviderBinding(
        pk=pk,
        name=f"{kind} bench",
        kind=kind,
        base_url=base_url,
        secrets=encoded_secrets(kind, emulator.binding_secrets()),  # type: ignore[attr-defined]
        options=emulator.binding_options(),  # type: ignore[attr-defined]
    )


@dataclass
class Results:
    healthy_ms: list[float] = field(default_factory=list)
    healthy_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    faulty: collections.Counter[str] = field(default_factory=collections.Counter)
    faulty_thread_seconds: float = 0.0
    healthy_unserved: int = 0


def run(
    *,
    bindings: dict[str, ProviderBinding],
    duration: float,
    rate: float,
    threads: int,
) -> Results:
    """Offer `rate` requests a second for `duration` seconds to `threads` worker threads."""
    work: queue.Queue[tuple[float, str] | None] = queue.Queue()
    results = Results()
    lock = threading.Lock()
    cards = {"mastercard": MASTERCARD_CARD, "thredd": THREDD_CARD}

    def worker() -> None:
        while (item := work.get()) is not None:
            arrived, kind = item
            started = time.monotonic()
            try:
                provider_for_binding(bindings[kind]).fetch_cvv(card=cards[kind])
                outcome = "ok"
            except ProviderError as exc:
                outcome = exc.code
            done = time.monotonic()
            with lock:
                if kind == "mastercard":
                    if outcome == "ok":
                        results.healthy_ms.append((done - arrived) * 1000)
                    else:
                        results.healthy_errors[outcome] += 1
                else:
                    results.faulty[outcome] += 1
                    results.faulty_thread_seconds += done - started

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    start = time.monotonic()
    for n in range(int(duration * rate)):
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        work.put((time.monotonic(), "mastercard" if n % 2 == 0 else "thredd"))
    # Requests still queued when the run ends were never served: count them, do not serve them.
    while True:
        try:
            item = work.get_nowait()
        except queue.Empty:
            break
        if item is not None and item[1] == "mastercard":
            results.healthy_unserved += 1
    for _ in pool:
        work.put(None)
    for thread in pool:
        thread.join(60)
    return results


def warm_up(healthy: ProviderBinding, *, threads: int) -> None:
    """Open the healthy binding's pooled connections and load its keys before measuring."""

    def call() -> None:
        # "busy" beyond the cap is fine: the connections that matter are open.
        with contextlib.suppress(ProviderError):
            provider_for_binding(healthy).fetch_cvv(card=MASTERCARD_CARD)

    pool = [threading.Thread(target=call) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(30)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def row(name: str, protections: str, r: Results) -> str:
    ms = r.healthy_ms or [float("nan")]
    faulty = ", ".join(f"{code} {count}" for code, count in r.faulty.most_common())
    return (
        f"| {name} | {protections} | {len(r.healthy_ms)} | {r.healthy_unserved} | "
        f"{statistics.median(ms):.0f} | {percentile(ms, 95):.0f} | {percentile(ms, 99):.0f} | "
        f"{max(ms):.0f} | {sum(r.healthy_errors.values())} | {faulty} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per run")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second offered")
    parser.add_argument("--threads", type=int, default=8, help="worker threads")
    parser.add_argument("--only", default="", help="run only scenarios containing this text")
    args = parser.parse_args()
    # Breaker state changes (warnings) stay visible on stderr; per-call lines would drown them.
    logging.getLogger("providers.http").setLevel(logging.WARNING)
    logging.getLogger("providers.sandbox").setLevel(logging.WARNING)

    # Production limits, not the test settings' short ones.
    settings.CARDREVEAL_PROVIDER_CONNECT_TIMEOUT = 3.05
    settings.CARDREVEAL_PROVIDER_READ_TIMEOUT = 10.0
    settings.CARDREVEAL_PROVIDER_DEADLINE = 15.0
    default_cap = int(settings.CARDREVEAL_PROVIDER_MAX_CONCURRENCY)
    default_threshold = int(settings.CARDREVEAL_BREAKER_THRESHOLD)

    with tempfile.TemporaryDirectory(prefix="cardreveal-bench-") as folder:
        healthy, faulty = Sandbox(Path(folder) / "a"), Sandbox(Path(folder) / "b")
        healthy.start()
        faulty.start()
        bindings = {
            "mastercard": binding(
                9001,
                "mastercard",
                f"{healthy.url}/mastercard",
                MastercardEmulator(healthy.state),
            ),
            "thredd": binding(9002, "thredd", f"{faulty.url}/thredd", ThreddEmulator(faulty.state)),
        }
        print(
            f"{platform.node()} · {platform.processor() or platform.machine()} · "
            f"{os.cpu_count()} cores · Python {platform.python_version()} · "
            f"{time.strftime('%Y-%m-%d %H:%M %Z')}"
        )
        print(
            f"{args.rate:.0f} requests/s offered for {args.duration:.0f} s (half to each provider),"
            f" {args.threads} worker threads; connect 3.05 s, read 10 s, deadline 15 s; "
            f"breaker {settings.CARDREVEAL_BREAKER_THRESHOLD} failures / "
            f"{settings.CARDREVEAL_BREAKER_COOLDOWN_SECONDS} s; cap "
            f"{settings.CARDREVEAL_PROVIDER_MAX_CONCURRENCY} calls per binding\n"
        )
        print(
            "| scenario | breaker and cap | Mastercard served | Mastercard left queued | "
            "p50 ms | p95 ms | p99 ms | max ms | Mastercard errors | Thredd outcomes |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        try:
            for name, spec in SCENARIOS.items():
                if args.only and args.only not in name:
                    continue
                for mode in ("on", "off"):
                    if spec is None:
                        faulty.stop()
                    else:
                        if faulty.process is None:
                            faulty.start()
                        faulty.fault(spec)
                    on = mode == "on"
                    settings.CARDREVEAL_BREAKER_THRESHOLD = default_threshold if on else 1000
                    settings.CARDREVEAL_PROVIDER_MAX_CONCURRENCY = default_cap if on else 1000
                    cache.clear()
                    doors.clear()
                    warm_up(bindings["mastercard"], threads=args.threads)
                    result = run(
                        bindings=bindings,
                        duration=args.duration,
                        rate=args.rate,
                        threads=args.threads,
                    )
                    print(row(name, mode, result), flush=True)
        finally:
            healthy.stop()
            faulty.stop()


if __name__ == "__main__":
    main()
