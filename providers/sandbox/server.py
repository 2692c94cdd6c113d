"""Serves every emulator over real HTTP on loopback, each under its own path prefix (/mastercard/...)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from providers.sandbox.core import Emulator, SandboxRequest, SandboxResponse

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024


def all_emulators(state_dir: Path | None = None) -> list[Emulator]:
    """One emulator per provider kind the sandbox knows."""
    from providers.sandbox.juspay import JuspayEmulator
    from providers.sandbox.mastercard import MastercardEmulator
    from providers.sandbox.netxd import NetxdEmulator
    from providers.sandbox.thredd import ThreddEmulator

    return [
        MastercardEmulator(state_dir),
        ThreddEmulator(state_dir),
        NetxdEmulator(state_dir),
        JuspayEmulator(state_dir),
    ]


class SandboxServer(ThreadingHTTPServer):
    """A threaded HTTP server dispatching to emulators by the first path segment."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulators: Iterable[Emulator]) -> None:
        self.emulators = {emulator.kind: emulator for emulator in emulators}
        super().__init__(address, _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def url_for(self, kind: str) -> str:
        """The base URL a binding of `kind` uses to reach its emulator."""
        return f"{self.base_url}/{kind}"

    def emulator(self, kind: str) -> Emulator:
        return self.emulators[kind]


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"
    server_version = "sandbox"
    sys_version = ""

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        segments = parts.path.split("/", 2)
        kind = segments[1] if len(segments) > 1 else ""
        emulator = self.server.emulators.get(kind)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._write(SandboxResponse.json(413, {"error": "request too large"}))
            return
        body = self.rfile.read(length) if length else b""
        if emulator is None:
            self._write(SandboxResponse.json(404, {"error": f"no emulator for /{kind}"}))
            return
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = SandboxRequest(
            method=self.command,
            path="/" + (segments[2] if len(segments) > 2 else ""),
            query=parts.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            url=f"http://{host}{parts.path}" + (f"?{parts.query}" if parts.query else ""),
        )
        try:
            response = emulator.handle(request)
        except Exception:
            logger.exception("sandbox %s crashed", kind)
            response = SandboxResponse.json(500, {"error": "sandbox failure"})
        self._write(response)

    def _write(self, response: SandboxResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def log_message(self, format: str, *args: object) -> None:
        # Request lines only (method, path, status); never bodies.
        logger.info("sandbox %s", format % args)


class RunningSandbox:
    """A sandbox server running in a background thread (tests and embedded use)."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, name="sandbox", daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def url_for(self, kind: str) -> str:
        return self.server.url_for(kind)

    def emulator(self, kind: str) -> Emulator:
        return self.server.emulator(kind)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_sandbox(
    *,
    state_dir: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    emulators: Iterable[Emulator] | None = None,
) -> RunningSandbox:
    """Start every emulator on `host:port` (0 picks a free port) in a background thread."""
    server = SandboxServer(
        (host, port), emulators if emulators is not None else all_emulators(state_dir)
    )
    return RunningSandbox(server)
