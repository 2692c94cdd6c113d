"""The provider sandbox with a fixed latency added to every answer, keeping connections alive.

python -m bench.sandbox_latency --port 8765 --state var/bench/sandbox --latency-ms 50

The sandbox's own fault knobs (providers/sandbox/core.py `Fault.latency`) close the connection
after each faulty answer, which is right for fault tests but would make every benchmark call open
a new connection, unlike a real provider with keep-alive. So the latency is added here, around
each emulator's `handle`, and the server keeps HTTP/1.1 connections open as it normally does.
"""

from __future__ import annotations

import argparse
import logging
import socket
import time
from pathlib import Path
from typing import Any

from bench.bench_cards import add_measured_cards
from providers.sandbox.core import Emulator, SandboxRequest, SandboxResponse
from providers.sandbox.server import SandboxServer, all_emulators


def with_latency(emulator: Emulator, seconds: float) -> Emulator:
    """Make `emulator` wait `seconds` before each answer (the wait holds no lock)."""
    original = emulator.handle

    def handle(request: SandboxRequest) -> SandboxResponse:
        time.sleep(seconds)
        return original(request)

    emulator.handle = handle  # type: ignore[method-assign]
    return emulator


class _BenchSandboxServer(SandboxServer):
    request_queue_size = 256  # a burst of new connections must not be refused

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handler writes the status and headers, then the body, in two sends. With Nagle's
        # algorithm on, the body waits for the client's (delayed, up to 40 ms) ACK of the head:
        # every call would take ~40 ms more than the latency set here. Real providers' servers
        # do not stall like that.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().finish_request(request, client_address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument(
        "--cards", type=int, default=0, help="measured cardholders' cards to know per provider"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # Request lines at INFO would cost the sandbox more than the emulators do.
    logging.getLogger("providers.sandbox.server").setLevel(logging.WARNING)
    emulators = [with_latency(e, args.latency_ms / 1000) for e in all_emulators(args.state)]
    for emulator in emulators:
        add_measured_cards(emulator, args.cards)
    server = _BenchSandboxServer(("127.0.0.1", args.port), emulators)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
