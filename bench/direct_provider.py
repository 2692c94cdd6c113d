"""The physical limit: the same provider calls a reveal makes, without the app around them.

python -m bench.direct_provider --users N --duration S --out result.json
(with DJANGO_SETTINGS_MODULE=bench.settings and the benchmark database seeded)

Each of N threads plays one cardholder exactly as RevealUser does in bench/locust_reveal.py (one
call a second at its own offset, round robin over the four providers), but calls the provider
module directly: the provider object (built once per binding, as a warm app worker has it) and its
pooled HTTP door, `fetch_cvv` for the card with a client key. What this leaves out is everything
the app adds: HTTP to the app, the session, the OTP check, quotas, audit, sealing, the receipt.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.client_key import client_key as new_client_key

if TYPE_CHECKING:
    from providers.base import CardRef, ClientKey, Provider

BENCH_OWNER = "bench0000"  # the first cardholder bench/seed.py creates


def bench_calls() -> tuple[dict[str, tuple[Provider, CardRef]], ClientKey]:
    """What the direct calls are made with: per provider kind, the provider object for the first
    bench cardholder's card there (built once, as a warm app worker has it) and that card's
    reference; and one client key for all. Needs Django set up and the bench database seeded."""
    from cardreveal.cards.bindings import card_ref, provider_for_binding
    from cardreveal.cards.models import Card
    from cardreveal.cards.sealing import parse_client_key

    cards = Card.objects.filter(owner__username=BENCH_OWNER).select_related("binding")
    calls = {
        card.binding.kind: (provider_for_binding(card.binding), card_ref(card)) for card in cards
    }
    return calls, parse_client_key(new_client_key()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description="Time provider calls made directly.")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from providers.errors import ProviderError

    calls, client_key = bench_calls()
    providers = {kind: provider for kind, (provider, _) in calls.items()}
    refs = {kind: ref for kind, (_, ref) in calls.items()}
    kinds = sorted(providers)
    for kind in kinds:  # warm the pooled connection and any token cache, as a running app has
        providers[kind].fetch_cvv(card=refs[kind], client_key=client_key)

    # CPU per call, one at a time: what the provider module itself costs (crypto, HTTP client).
    cpu_ms: dict[str, float] = {}
    for kind in kinds:
        began = time.process_time()
        for _ in range(20):
            providers[kind].fetch_cvv(card=refs[kind], client_key=client_key)
        cpu_ms[kind] = round((time.process_time() - began) * 1000 / 20, 2)

    samples: list[tuple[str, float]] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = time.time() + 1.0
    end = start + args.duration

    def cardholder(index: int) -> None:
        offset = random.random() * 0.9
        turn = index
        target = int(start) + offset
        while True:
            while target < start:
                target += 1
            now = time.time()
            if target > now:
                time.sleep(target - now)
            if time.time() >= end:
                return
            kind = kinds[turn % len(kinds)]
            turn += 1
            began = time.perf_counter()
            try:
                providers[kind].fetch_cvv(card=refs[kind], client_key=client_key)
            except ProviderError as exc:
                with lock:
                    errors.append(f"{kind}: {exc.code}")
            else:
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    samples.append((kind, elapsed))
            target += 1

    threads = [threading.Thread(target=cardholder, args=(i,)) for i in range(args.users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    args.out.write_text(
        json.dumps(
            {"duration": args.duration, "samples": samples, "errors": errors, "cpu_ms": cpu_ms}
        )
    )


if __name__ == "__main__":
    main()
