"""Run the provider sandbox standalone: python -m providers.sandbox --port 8765 --state var/sandbox."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from providers.sandbox.juspay import JuspayEmulator
from providers.sandbox.mastercard import MastercardEmulator
from providers.sandbox.netxd import NetxdEmulator
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
    # How the emulators play what the providers' documentation leaves open (docs/providers.md,
    # "Still unconfirmed"); a binding's matching option is in each emulator's binding_options().
    parser.add_argument(
        "--mastercard-padding",
        choices=("oaep-sha256", "oaep-sha1"),
        default="oaep-sha256",
        help="the RSA padding of the pass-through encryptedCardVerificationCode",
    )
    parser.add_argument(
        "--mastercard-probe-answer",
        choices=("not_found", "invalid_contract_type"),
        default="not_found",
        help="what a search of contract id 0 (the connection check) is answered",
    )
    parser.add_argument(
        "--netxd-serialisation",
        choices=("as_sent", "compact", "canonical"),
        default="as_sent",
        help="the payload bytes the ledger checks the signature over",
    )
    parser.add_argument(
        "--juspay-response-form",
        choices=("compact", "flattened", "juspay"),
        default="compact",
        help="how encryptedResponse carries the JWE",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    emulators = all_emulators(args.state)
    for emulator in emulators:
        if isinstance(emulator, MastercardEmulator):
            emulator.client_key_padding = args.mastercard_padding
            emulator.contract_zero_answer = args.mastercard_probe_answer
        elif isinstance(emulator, NetxdEmulator):
            emulator.payload_serialisation = args.netxd_serialisation
        elif isinstance(emulator, JuspayEmulator):
            emulator.response_form = args.juspay_response_form
    server = SandboxServer((args.host, args.port), emulators)
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
