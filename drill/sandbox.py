"""The provider sandbox for the drill, on the bridge's address, logging every card-code call it receives.

python -m drill.sandbox --host 10.251.7.1 --port 8765 --state DIR --calls calls.jsonl

Each call for a CVV is written as one JSON line (arrival time, provider kind) when it arrives,
before any fault holds it, so the drill can check afterwards that every call has its audit record.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

from bench.bench_cards import add_measured_cards
from providers.sandbox.core import SandboxRequest
from providers.sandbox.server import SandboxServer, all_emulators

# The request that fetches a card's code, per provider (providers/sandbox/*.py); the drill never
# locks cards, so NetXD's one endpoint carries only code requests.
_CVV_PATHS = {
    "mastercard": re.compile(r"/cards/[^/]+/card-verification-codes/searches/?"),
    "thredd": re.compile(r"/cards/[^/]+/cvv/?"),
    "netxd": re.compile(r"/cardv2/?"),
    "juspay": re.compile(r"/ardra/vt/cvv/v2/?"),
}


def is_cvv_call(kind: str, path: str) -> bool:
    """True when a request to emulator `kind` at `path` (relative to its prefix) asks for a code."""
    pattern = _CVV_PATHS.get(kind)
    return pattern is not None and pattern.fullmatch(path) is not None


class CallLog:
    """Appends one JSON line per code request to a file, flushed at once (the drill reads it)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", buffering=1)
        self._lock = threading.Lock()

    def __call__(self, kind: str, request: SandboxRequest) -> None:
        if not is_cvv_call(kind, request.path):
            return
        line = json.dumps({"t": time.time(), "kind": kind})
        with self._lock:
            self._file.write(line + "\n")


class _DrillSandboxServer(SandboxServer):
    request_queue_size = 256

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Head and body go out in two sends; without this each answer waits ~40 ms for an ACK.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().finish_request(request, client_address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--calls", type=Path, required=True)
    parser.add_argument(
        "--cards", type=int, default=0, help="seeded cardholders' cards to know per provider"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("providers.sandbox.server").setLevel(logging.WARNING)
    emulators = all_emulators(args.state)
    for emulator in emulators:
        add_measured_cards(emulator, args.cards)
    server = _DrillSandboxServer((args.host, args.port), emulators)
    server.observer = CallLog(args.calls)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
