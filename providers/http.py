"""The one HTTP door to providers: pooled sessions, timeouts and a hard deadline, TLS on (private CA
and mTLS per binding), no redirects, a bounded body, safe retries, a circuit breaker and a
concurrency cap per binding, no body logging, and every transport failure mapped to a provider error.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import http.client
import ipaddress
import itertools
import logging
import os
import secrets
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from providers.breaker import BreakerPolicy, CircuitBreaker, Outcome, Permit
from providers.errors import (
    CircuitOpen,
    ProviderBadResponse,
    ProviderBusy,
    ProviderConfigError,
    ProviderConnectionLost,
    ProviderError,
    ProviderTimeout,
    ProviderTLSError,
    ProviderUnavailable,
    error_for_status,
)
from providers.sensitive import Sensitive

logger = logging.getLogger(__name__)

_CHUNK = 16 * 1024
# Jittered back-off between attempts: the n-th retry waits a random time in [0, base * 2**(n-1)].
_BACKOFF_BASE_SECONDS = 0.1
# A retry is only worth starting when at least this much of the deadline is left after the wait.
_MIN_ATTEMPT_SECONDS = 0.25
_random = secrets.SystemRandom()


@dataclass(frozen=True)
class HttpPolicy:
    """Limits for every call through one door.

    `deadline` bounds the whole call, retries and back-off included, however the server paces its
    bytes. `max_concurrency` caps calls in flight through this door in this process (0: no cap);
    a call that finds every slot taken waits up to `slot_wait` seconds for one (inside its
    deadline) before failing as busy, so a momentary burst is absorbed while a slow provider still
    holds at most `max_concurrency` threads plus briefly waiting ones.
    `breaker_threshold` > 0 puts a circuit breaker keyed by the door's name in front of it.
    """

    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    deadline: float = 15.0
    max_body_bytes: int = 256 * 1024
    allow_loopback_http: bool = False
    # A path to a CA bundle for a private CA, or True for the public store (certifi). Never False.
    verify: bool | str = True
    # PEM certificates of a private CA to trust instead of the public store.
    ca_bundle_pem: bytes | None = field(default=None, repr=False)
    # Client certificate for mTLS as files: a (cert_path, key_path) pair, or None. Bindings pass
    # PEM material instead, as a `ClientCertificate` to `DoorPool.door`.
    client_cert: tuple[str, str] | None = None
    connect_retries: int = 1
    max_concurrency: int = 0
    slot_wait: float = 0.0
    breaker_threshold: int = 0
    breaker_cooldown: float = 30.0


@dataclass(frozen=True, eq=False)
class ClientCertificate:
    """A client certificate chain and its private key (PEM), for mutual TLS with a provider."""

    cert_pem: bytes = field(repr=False)
    key_pem: Sensitive[bytes] = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """A digest that changes when either part changes (doors are rebuilt then)."""
        digest = hashlib.sha256(self.cert_pem)
        digest.update(self.key_pem.reveal())
        return digest.hexdigest()[:32]


@dataclass(frozen=True)
class HttpResponse:
    """What a provider answered: status, headers (case-insensitive) and the whole, bounded body."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)

    def header(self, name: str, default: str = "") -> str:
        """A response header, case-insensitively."""
        return self.headers.get(name, default)

    @property
    def retry_after(self) -> int | None:
        """Retry-After in whole seconds when it is given as a number."""
        raw = self.header("Retry-After").strip()
        return int(raw) if raw.isdigit() else None


def check_url(url: str, *, allow_loopback_http: bool) -> None:
    """Refuse URLs that are not https (plain http only to loopback when allowed); say why."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and allow_loopback_http:
        host = parts.hostname
        try:
            if host == "localhost" or ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
    raise ProviderConfigError("provider URL must be https:// (http:// only to loopback in dev)")


# ---------------------------------------------------------------------------------- the deadline
#
# Socket timeouts bound each read, not the call: a server that sends one byte just inside the read
# timeout could hold a worker forever. So every call registers the sockets it uses (new, reused and
# TLS-wrapped) with a guard, and one watchdog thread shuts those sockets down when the call's
# deadline passes; the blocked read returns at once and the call fails as a timeout.


class _CallGuard:
    """The sockets one call is using, shut down if the call outlives its deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.done = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if self.done:
                return
            if self.expired:
                _shutdown(sock)
                return
            self._sockets.append(sock)

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)

    def finish(self) -> None:
        with self._lock:
            self.done = True
            self._sockets = []


def _shutdown(sock: socket.socket) -> None:
    # The plain socket method, also on an SSLSocket: unblock the reader without touching TLS state.
    with contextlib.suppress(OSError):  # already closed, or never connected
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread per process that expires call guards at their deadlines."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _CallGuard]] = []
        self._seq = itertools.count()
        self._pid = 0
        self._thread: threading.Thread | None = None

    def watch(self, guard: _CallGuard) -> None:
        with self._cond:
            if self._thread is None or self._pid != os.getpid():  # first use, or a forked worker
                self._heap = []
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="provider-deadline-watchdog", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._heap, (guard.deadline, next(self._seq), guard))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            due: list[_CallGuard] = []
            with self._cond:
                while not due:
                    now = time.monotonic()
                    while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                        guard = heapq.heappop(self._heap)[2]
                        if not guard.done:
                            due.append(guard)
                    if due:
                        break
                    wait = self._heap[0][0] - now if self._heap else None
                    self._cond.wait(wait)
            for guard in due:
                guard.expire()


_watchdog = _Watchdog()
_active = threading.local()


def _guard_socket(sock: socket.socket | None) -> None:
    guard: _CallGuard | None = getattr(_active, "guard", None)
    if guard is not None and sock is not None:
        guard.add(sock)


@contextmanager
def _deadline_guard(deadline: float) -> Iterator[_CallGuard]:
    guard = _CallGuard(deadline)
    _active.guard = guard
    _watchdog.watch(guard)
    try:
        yield guard
    finally:
        guard.finish()
        _active.guard = None


# urllib3 offers no public hook that sees each new socket, and the deadline watchdog must close a
# drip-fed connection mid-read: `_new_conn` is the smallest override that does it (urllib3 2.x;
# tests/providers/test_resilience.py fails if an upgrade moves it).
class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _guard_socket(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _guard_socket(self.sock)  # a pooled connection being reused
        super().request(*args, **kwargs)


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _guard_socket(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _guard_socket(self.sock)
        super().request(*args, **kwargs)


class _GuardedSSLSocket(ssl.SSLSocket):
    """Wrapping detaches the plain socket, so the TLS socket registers itself for the handshake."""

    def do_handshake(self, block: bool = False) -> None:
        _guard_socket(self)
        super().do_handshake(block)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


# ---------------------------------------------------------------------------------- TLS


def tls_context(
    *, policy: HttpPolicy, client_certificate: ClientCertificate | None = None
) -> ssl.SSLContext:
    """The TLS settings of one door: verification always on (hostname included), TLS 1.2+, the
    public store (certifi, as requests uses) or only the binding's private CA, and an optional
    client certificate. Raises ProviderConfigError naming the part that does not load.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname check and CERT_REQUIRED on
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if policy.ca_bundle_pem:
            # Only the private CA: a binding that names its CA does not also trust the public ones.
            context.load_verify_locations(cadata=policy.ca_bundle_pem.decode("ascii"))
        elif isinstance(policy.verify, str):
            context.load_verify_locations(cafile=policy.verify)
        else:
            context.load_verify_locations(cafile=certifi.where())
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise ProviderConfigError("the TLS CA bundle could not be loaded") from exc
    try:
        if client_certificate is not None:
            _load_client_certificate(context, client_certificate)
        elif policy.client_cert:
            context.load_cert_chain(*policy.client_cert)
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise ProviderConfigError(
            "the TLS client certificate and key could not be loaded or do not match"
        ) from exc
    context.sslsocket_class = _GuardedSSLSocket
    return context


def _load_client_certificate(context: ssl.SSLContext, identity: ClientCertificate) -> None:
    """`load_cert_chain` only reads files: hand it an anonymous in-memory file (Linux memfd), or
    else a 0600 file in a private temporary folder, removed as soon as it is loaded."""
    pem = identity.cert_pem.rstrip(b"\n") + b"\n" + identity.key_pem.reveal()
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("cardreveal-client-cert", os.MFD_CLOEXEC)
        try:
            os.write(fd, pem)
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="cardreveal-tls-") as folder:  # pragma: no cover
        path = Path(folder) / "client.pem"
        path.touch(mode=0o600)
        path.write_bytes(pem)
        try:
            context.load_cert_chain(str(path))
        finally:
            path.unlink()


class _DoorAdapter(HTTPAdapter):
    """Connections whose sockets the deadline guard can reach, and the door's own TLS context
    (requests' verify/cert handling is bypassed so nothing widens the trust we configured)."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        host_params, _ = super().build_connection_pool_key_attributes(request, True, None)
        return host_params, {"ssl_context": self._context, "cert_reqs": "CERT_REQUIRED"}

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None
        conn.cert_file = None
        conn.key_file = None


class _NoRedirectSession(requests.Session):
    """Never looks at a Location: requests would otherwise read a 3xx body whole (unbounded)
    while preparing the next hop, even with redirects off."""

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


class _NoHeaderDump(logging.Filter):
    """urllib3 logs the bytes it could not parse as headers, which can be a provider's body
    (a CVV): keep the fact, drop the bytes and the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Failed to parse headers"):
            record.msg = "Failed to parse a provider's response headers (contents not logged)"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("urllib3.connection").addFilter(_NoHeaderDump())


# ---------------------------------------------------------------------------------- the door


class _Attempt(Exception):
    """One failed attempt: the error to raise, and whether the request surely never left us."""

    def __init__(self, error: ProviderError, *, never_sent: bool) -> None:
        super().__init__(error.code)
        self.error = error
        self.never_sent = never_sent


class HttpDoor:
    """Makes one binding's outbound calls. Thread-safe; one pooled session per door."""

    def __init__(
        self,
        *,
        name: str,
        policy: HttpPolicy,
        client_certificate: ClientCertificate | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        # Whether this door presents a client certificate (mutual TLS), for providers whose
        # binding options promise one.
        self.presents_client_certificate = client_certificate is not None or bool(
            policy.client_cert
        )
        self._session = self._new_session(policy, client_certificate)
        if breaker is None and policy.breaker_threshold > 0:
            breaker = CircuitBreaker(
                key=name,
                policy=BreakerPolicy(
                    threshold=policy.breaker_threshold,
                    cooldown=policy.breaker_cooldown,
                    trial_lease=policy.deadline + 5,
                ),
            )
        self.breaker = breaker
        self._slots = (
            threading.BoundedSemaphore(policy.max_concurrency) if policy.max_concurrency else None
        )

    @staticmethod
    def _new_session(
        policy: HttpPolicy, client_certificate: ClientCertificate | None
    ) -> requests.Session:
        context = tls_context(policy=policy, client_certificate=client_certificate)
        session = _NoRedirectSession()
        session.trust_env = False  # no proxies, .netrc or CA bundles from the environment
        session.max_redirects = 0
        # Compressed answers could inflate past the body limit before we count them.
        session.headers["Accept-Encoding"] = "identity"
        adapter = _DoorAdapter(context, pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        retry_safe: bool = False,
    ) -> HttpResponse:
        """Send exactly `body` and return the whole response, or raise a `ProviderError`.

        Fails fast with `CircuitOpen` while the binding's breaker is open, and with `ProviderBusy`
        when `max_concurrency` calls stay in flight for `slot_wait`, in both cases without any
        HTTP request.
        A failure where the request surely never left (connection refused, connect timeout, DNS)
        is retried; one after the request may have reached the provider (a dropped connection)
        only when `retry_safe` says the provider lets us repeat it (GET, or an idempotency key).
        A timeout is never retried. Retries wait a jittered back-off and stay inside the deadline.
        Logs the method, host, path, status and time; never headers or bodies.
        """
        check_url(url, allow_loopback_http=self.policy.allow_loopback_http)
        started = time.monotonic()
        path = urlsplit(url).path
        try:
            permit = self.breaker.before_call() if self.breaker else None
        except CircuitOpen as exc:
            self._log(exc.log_level, method, path, exc.code, started)
            raise
        if self._slots is not None and not self._slot_acquire(self._slots):
            busy = ProviderBusy(f"{self.policy.max_concurrency} calls already in flight")
            self._release_trial(permit)
            self._log(busy.log_level, method, path, busy.code, started)
            raise busy
        try:
            response = self._with_retries(method, url, headers or {}, body, retry_safe, started)
        except ProviderError as exc:
            self._report(permit, exc, started)
            self._log(exc.log_level, method, path, exc.code, started)
            raise
        finally:
            if self._slots is not None:
                self._slots.release()
        self._report_status(permit, response.status, started)
        self._log(logging.INFO, method, path, str(response.status), started)
        return response

    def _slot_acquire(self, slots: threading.BoundedSemaphore) -> bool:
        wait = min(self.policy.slot_wait, self.policy.deadline)
        return slots.acquire(timeout=wait) if wait > 0 else slots.acquire(blocking=False)

    def _with_retries(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        retry_safe: bool,
        started: float,
    ) -> HttpResponse:
        deadline = started + self.policy.deadline
        retries_left = self.policy.connect_retries
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send(method, url, headers, body, deadline)
            except _Attempt as caught:
                failed = caught
            # Raised outside the handler so the error chains only to the transport exception.
            error = failed.error
            # Only "could not reach it" failures repeat: never a timeout, a TLS failure or an
            # answer; and one that may have reached the provider only when it is safe to.
            may_repeat = isinstance(error, ProviderUnavailable) and failed.never_sent
            may_repeat |= retry_safe and isinstance(
                error, ProviderUnavailable | ProviderConnectionLost
            )
            if not may_repeat or retries_left <= 0:
                raise error from failed.__cause__
            wait = _random.uniform(0, _BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
            if time.monotonic() + wait + _MIN_ATTEMPT_SECONDS > deadline:
                raise error from failed.__cause__
            retries_left -= 1
            logger.info(
                "provider call %s %s: %s, retrying in %.0f ms",
                self.name,
                method,
                error.code,
                wait * 1000,
            )
            time.sleep(wait)

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, deadline: float
    ) -> HttpResponse:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Attempt(ProviderTimeout("deadline passed before sending"), never_sent=True)
        timeout = (
            min(self.policy.connect_timeout, remaining),
            min(self.policy.read_timeout, remaining),
        )
        with _deadline_guard(deadline) as guard:
            try:
                raw = self._session.request(
                    method,
                    url,
                    headers=dict(headers),
                    data=body,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=True,
                )
            except requests.exceptions.RequestException as exc:
                raise _request_failure(exc, expired=guard.expired) from exc
            try:
                if 300 <= raw.status_code < 400:
                    raise _Attempt(
                        ProviderBadResponse(f"redirect {raw.status_code} refused"), never_sent=False
                    )
                body_bytes = self._read_bounded(raw, guard)
                return HttpResponse(raw.status_code, raw.headers, body_bytes)
            finally:
                raw.close()

    def _read_bounded(self, raw: requests.Response, guard: _CallGuard) -> bytes:
        declared = raw.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.policy.max_body_bytes:
            raise _Attempt(ProviderBadResponse("response body too large"), never_sent=False)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.iter_content(_CHUNK):
                size += len(chunk)
                if size > self.policy.max_body_bytes:
                    raise _Attempt(ProviderBadResponse("response body too large"), never_sent=False)
                if time.monotonic() > guard.deadline:
                    raise _Attempt(
                        ProviderTimeout("deadline passed while reading the body"), never_sent=False
                    )
                chunks.append(chunk)
        except requests.exceptions.RequestException as exc:
            raise _body_failure(exc, expired=guard.expired) from exc
        if guard.expired:
            # The watchdog cut the connection and the body merely looked complete.
            raise _Attempt(
                ProviderTimeout("deadline passed while reading the body"), never_sent=False
            )
        return b"".join(chunks)

    # ------------------------------------------------------------------ breaker and logs

    def _report(self, permit: Permit | None, error: ProviderError, started: float) -> None:
        if self.breaker is None or permit is None:
            return
        outcome = Outcome.FAILURE if error.counts_against_breaker else Outcome.NEUTRAL
        self.breaker.record(permit, outcome, latency_ms=_elapsed_ms(started), code=error.code)

    def _report_status(self, permit: Permit | None, status: int, started: float) -> None:
        if self.breaker is None or permit is None:
            return
        if status < 400:
            outcome, code = Outcome.SUCCESS, ""
        else:
            error = error_for_status(status)
            code = error.code
            if error.counts_against_breaker:
                outcome = Outcome.FAILURE
            elif status == 429:
                outcome = Outcome.NEUTRAL
            else:
                # A 4xx is an answer about our request: the provider is up.
                outcome = Outcome.SUCCESS
        self.breaker.record(permit, outcome, latency_ms=_elapsed_ms(started), code=code)

    def _release_trial(self, permit: Permit | None) -> None:
        if self.breaker is not None and permit is not None and permit.trial:
            self.breaker.record(permit, Outcome.NEUTRAL, latency_ms=0)

    def _log(self, level: int, method: str, path: str, outcome: str, started: float) -> None:
        logger.log(
            level,
            "provider call %s %s %s -> %s in %d ms",
            self.name,
            method,
            path,
            outcome,
            _elapsed_ms(started),
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _request_failure(exc: requests.exceptions.RequestException, *, expired: bool) -> _Attempt:
    """Map a failure before the response headers arrived. Never copies the exception's text,
    which can quote what the server sent."""
    if expired:
        return _Attempt(ProviderTimeout("deadline passed"), never_sent=False)
    if isinstance(exc, requests.exceptions.SSLError):
        return _Attempt(ProviderTLSError("TLS verification failed"), never_sent=True)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return _Attempt(ProviderUnavailable("connect timeout"), never_sent=True)
    if isinstance(exc, requests.exceptions.Timeout):
        return _Attempt(ProviderTimeout("read timeout"), never_sent=False)
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = _root_reason(exc)
        if isinstance(reason, urllib3.exceptions.NameResolutionError):
            return _Attempt(ProviderUnavailable("name resolution failed"), never_sent=True)
        if isinstance(reason, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return _Attempt(ProviderUnavailable("connection refused"), never_sent=True)
        if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
            return _Attempt(ProviderUnavailable("connect timeout"), never_sent=True)
        if isinstance(reason, http.client.RemoteDisconnected | ConnectionError):
            return _Attempt(
                ProviderConnectionLost("connection closed before the answer"), never_sent=False
            )
        if isinstance(reason, http.client.HTTPException):
            return _Attempt(ProviderBadResponse("the answer is not HTTP"), never_sent=False)
        # Unclassified: the request may have reached the provider.
        return _Attempt(ProviderUnavailable("connection failed"), never_sent=False)
    return _Attempt(ProviderBadResponse("request failed"), never_sent=False)


def _body_failure(exc: requests.exceptions.RequestException, *, expired: bool) -> _Attempt:
    """Map a failure while reading the body (the provider has answered, at least in part)."""
    if expired:
        return _Attempt(ProviderTimeout("deadline passed while reading the body"), never_sent=False)
    if isinstance(exc, requests.exceptions.ConnectionError) and "timed out" in str(exc).lower():
        # urllib3 reports a read timeout during streaming as a ConnectionError.
        return _Attempt(ProviderTimeout("read timeout"), never_sent=False)
    if isinstance(
        exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError
    ):
        return _Attempt(ProviderConnectionLost("connection broken mid-answer"), never_sent=False)
    return _Attempt(ProviderBadResponse("response could not be read"), never_sent=False)


def _root_reason(exc: BaseException) -> BaseException | None:
    """The innermost urllib3 or socket error behind a requests ConnectionError."""
    seen: set[int] = set()
    current: BaseException | None = exc.args[0] if exc.args else None
    while isinstance(current, BaseException) and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.MaxRetryError):
            current = current.reason
            continue
        if isinstance(current, urllib3.exceptions.ProtocolError) and len(current.args) > 1:
            inner = current.args[1]
            if isinstance(inner, BaseException):
                current = inner
                continue
        return current
    return None


class DoorPool:
    """One `HttpDoor` per binding key, reused across requests so connections are pooled.

    A changed policy or client certificate for a key replaces its door (and closes the old one).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._doors: dict[str, tuple[HttpPolicy, str, HttpDoor]] = {}

    def door(
        self,
        *,
        key: str,
        policy: HttpPolicy,
        client_certificate: ClientCertificate | None = None,
    ) -> HttpDoor:
        """Return the door for this binding key, creating it on first use or when its policy or
        client certificate changed. Raises ProviderConfigError when the TLS material is unusable."""
        identity = client_certificate.fingerprint if client_certificate else ""
        with self._lock:
            entry = self._doors.get(key)
            if entry is not None and entry[0] == policy and entry[1] == identity:
                return entry[2]
            door = HttpDoor(name=key, policy=policy, client_certificate=client_certificate)
            self._doors[key] = (policy, identity, door)
        if entry is not None:
            entry[2].close()
        return door

    def clear(self) -> None:
        """Close and forget every door (tests, and after a binding changes)."""
        with self._lock:
            entries, self._doors = list(self._doors.values()), {}
        for _, _, door in entries:
            door.close()


doors = DoorPool()
