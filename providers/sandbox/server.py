"""Serves every emulator over real HTTP (or HTTPS) on loopback, each under its own path prefix
(/mastercard/...), with the fault knobs of `FaultTable` in front of them and a /_faults endpoint."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from providers.sandbox.core import (
    FAULT_BODY_MARKER,
    Emulator,
    Fault,
    FaultTable,
    SandboxRequest,
    SandboxResponse,
)

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024
FAULTS_PATH = "/_faults"
# A held request gives up after this long, so a test that forgets to release it cannot hang.
_MAX_HOLD_SECONDS = 30.0
_HUGE_CHUNK = 64 * 1024


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
    """A threaded HTTP server dispatching to emulators by the first path segment.

    With `tls` (a server-side SSLContext) it speaks HTTPS, handshaking in each connection's own
    thread so a client that stalls its handshake holds up no one else.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        emulators: Iterable[Emulator],
        *,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.emulators = {emulator.kind: emulator for emulator in emulators}
        self.faults = FaultTable()
        # Called with (kind, request) as each request for an emulator arrives, before any fault
        # applies (the drill logs the provider calls it sees); must not raise.
        self.observer: Callable[[str, SandboxRequest], None] | None = None
        self.tls = tls
        super().__init__(address, _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        # A TLS certificate names "localhost", not the address.
        shown = "localhost" if self.tls is not None else f"{host!s}"
        return f"{self.scheme}://{shown}:{port}"

    def url_for(self, kind: str) -> str:
        """The base URL a binding of `kind` uses to reach its emulator."""
        return f"{self.base_url}/{kind}"

    def emulator(self, kind: str) -> Emulator:
        return self.emulators[kind]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up, refuse our certificate or are cut off by a fault are expected.
        logger.debug("sandbox connection from %s ended abruptly", client_address)


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"
    server_version = "sandbox"
    sys_version = ""
    # Headers and body go out in two writes; without TCP_NODELAY each answer stalls ~40 ms.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
        super().setup()

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
        if parts.path.rstrip("/") == FAULTS_PATH:
            self._write(self._faults_endpoint(parts.query, body))
            return
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
            url=f"{self.server.scheme}://{host}{parts.path}"
            + (f"?{parts.query}" if parts.query else ""),
        )

        def answer() -> SandboxResponse:
            try:
                return emulator.handle(request)
            except Exception:
                logger.exception("sandbox %s crashed", kind)
                return SandboxResponse.json(500, {"error": "sandbox failure"})

        if self.server.observer is not None:
            self.server.observer(kind, request)
        fault = self.server.faults.match(kind, parts.path, body)
        if fault is None:
            self._write(answer())
        else:
            self._misbehave(fault, answer)

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

    # ------------------------------------------------------------------ faults

    def _misbehave(self, fault: Fault, answer: Callable[[], SandboxResponse]) -> None:
        """Answer the way `fault` says (see `Fault`); every faulty answer closes the connection."""
        self.close_connection = True
        if fault.hold is not None:
            fault.hold.wait(_MAX_HOLD_SECONDS)
        if fault.latency:
            time.sleep(fault.latency)
        try:
            if fault.garbage:
                self._send_raw(f"%%GARBAGE {FAULT_BODY_MARKER} \x00\xff\r\n\r\n".encode("latin-1"))
                return
            if fault.reset and not fault.reset_after_bytes:
                self._reset()
                return
            if fault.huge_body_bytes:
                self._send_huge(fault)
                return
            if fault.redirect_to:
                response = SandboxResponse(
                    302, FAULT_BODY_MARKER.encode(), {"Location": fault.redirect_to}
                )
            elif fault.status:
                response = SandboxResponse(
                    fault.status,
                    fault.body or json.dumps({"error": FAULT_BODY_MARKER}).encode(),
                    {"Content-Type": "application/json", **fault.headers},
                )
            else:
                response = answer()
            if fault.content_type:
                headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
                response = SandboxResponse(
                    response.status, response.body, {**headers, "Content-Type": fault.content_type}
                )
            raw = self._serialize(response)
            head_length = raw.index(b"\r\n\r\n") + 4
            if fault.reset:
                self._send_raw(raw[: fault.reset_after_bytes])
                self._reset()
            elif fault.drip_interval:
                start = head_length if fault.drip_body_only else 0
                self._send_raw(raw[:start])
                for i in range(start, len(raw)):
                    self._send_raw(raw[i : i + 1])
                    time.sleep(fault.drip_interval)
            else:
                self._send_raw(raw)
        except OSError:
            pass  # the client gave up (that is often the point of the fault)

    def _serialize(self, response: SandboxResponse) -> bytes:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Status"
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in response.headers.items()]
        lines += [f"Content-Length: {len(response.body)}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + response.body

    def _send_raw(self, data: bytes) -> None:
        if data:
            self.wfile.write(data)
            self.wfile.flush()

    def _send_huge(self, fault: Fault) -> None:
        head = ["HTTP/1.1 200 OK", "Content-Type: application/json", "Connection: close"]
        if fault.huge_declares_length:
            head.append(f"Content-Length: {fault.huge_body_bytes}")
        self._send_raw(("\r\n".join([*head, "", ""])).encode())
        chunk = (FAULT_BODY_MARKER * (_HUGE_CHUNK // len(FAULT_BODY_MARKER) + 1)).encode()
        left = fault.huge_body_bytes
        while left > 0:
            piece = chunk[: min(left, _HUGE_CHUNK)]
            self._send_raw(piece)
            left -= len(piece)

    def _reset(self) -> None:
        """Close the connection with a TCP reset rather than a clean close."""
        connection: socket.socket = self.connection
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the last reference besides the socket itself
        connection.close()

    def _faults_endpoint(self, query: str, body: bytes) -> SandboxResponse:
        """GET lists the faults; PUT/POST {"kind", "reference"?, "fault": {...}} sets one;
        DELETE clears them all, or ?kind=...&reference=... only those."""
        faults = self.server.faults
        if self.command == "GET":
            return SandboxResponse.json(200, {"faults": faults.listing()})
        if self.command == "DELETE":
            params = {k: v[0] for k, v in parse_qs(query).items()}
            faults.clear(kind=params.get("kind", ""), reference=params.get("reference"))
            return SandboxResponse(204)
        if self.command not in ("PUT", "POST"):
            return SandboxResponse(405, headers={"Allow": "GET, PUT, POST, DELETE"})
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("send a JSON object")
            kind = data.get("kind")
            if kind not in self.server.emulators:
                raise ValueError(f"kind must be one of {', '.join(sorted(self.server.emulators))}")
            reference = data.get("reference") or ""
            if not isinstance(reference, str):
                raise ValueError("reference must be text")
            spec = data.get("fault")
            if not isinstance(spec, dict):
                raise ValueError("fault must be a JSON object")
            fault = Fault.from_json(spec)
        except ValueError as exc:
            return SandboxResponse.json(400, {"error": str(exc)})
        faults.set(fault, kind=kind, reference=reference)
        return SandboxResponse.json(200, {"faults": faults.listing()})


class RunningSandbox:
    """A sandbox server running in a background thread (tests and embedded use)."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, name="sandbox", daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def faults(self) -> FaultTable:
        """The fault knobs: `faults.set(Fault(...), kind=..., reference=...)`, `faults.clear()`."""
        return self.server.faults

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
    tls: ssl.SSLContext | None = None,
) -> RunningSandbox:
    """Start every emulator on `host:port` (0 picks a free port) in a background thread; with
    `tls`, over HTTPS (see `providers.sandbox.tls` for a certificate made at run time)."""
    server = SandboxServer(
        (host, port),
        emulators if emulators is not None else all_emulators(state_dir),
        tls=tls,
    )
    return RunningSandbox(server)
