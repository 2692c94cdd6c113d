"""Waits until the demo's app and sandbox accept connections, then prints the address to open: the
last line `make run` prints, after the servers' own start-up messages."""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def _accepts_connections(url: str) -> bool:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = (
        "Wait for the demo app and sandbox to listen, then print the address to open (DEBUG only)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app-url", default="http://127.0.0.1:8000")
        parser.add_argument("--sandbox-url", default="http://127.0.0.1:8765")
        parser.add_argument(
            "--timeout", type=float, default=60.0, help="seconds to wait for both to listen"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_open is for the demo settings only (DEBUG on).")
        app_url: str = options["app_url"].rstrip("/")
        waiting = {"the app": app_url, "the provider sandbox": options["sandbox_url"]}
        deadline = time.monotonic() + options["timeout"]
        while waiting:
            waiting = {name: url for name, url in waiting.items() if not _accepts_connections(url)}
            if waiting and time.monotonic() > deadline:
                names = " and ".join(f"{name} ({url})" for name, url in waiting.items())
                raise CommandError(
                    f"{names} did not start within {options['timeout']:.0f} seconds; "
                    "the messages above say why."
                )
            if waiting:
                time.sleep(0.2)
        self.stdout.write(
            self.style.SUCCESS(f"cardreveal demo: open {app_url}/")
            + "   (sign in as alice, bob or tester; the logins are above; Ctrl-C stops it)"
        )
