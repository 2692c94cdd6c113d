"""Run the provider sandbox standalone: python -m providers.sandbox --port 8765 --state var/sandbox."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from providers.sandbox.server import SandboxServer, all_emulators


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the provider emulators on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--state",
        type=Path,
        default=Path("var/sandbox"),
        help="folder for the generated sandbox keys (shared with the demo loader)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = SandboxServer((args.host, args.port), all_emulators(args.state))
    logging.getLogger(__name__).info(
        "provider sandbox on %s (%s)", server.base_url, ", ".join(sorted(server.emulators))
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
