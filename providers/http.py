"""The one HTTP door to providers: pooled sessions, timeouts and a deadline, TLS on, no redirects,
a bounded body, no body logging, and every transport failure mapped to a provider error.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from providers.errors import (
    ProviderBadResponse,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
    ProviderTLSError,
    ProviderUnavailable,
)

logger = logging.getLogger(__name__)

_CHUNK = 16 * 1024


@dataclass(frozen=True)
class HttpPolicy:
    """Limits for every call through one door."""

    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    deadline: float = 15.0
    max_body_bytes: int = 256 * 1024
    allow_loopback_http: bool = False
    # A path to a CA bundle for a private CA, or True for the system store. Never False.
    verify: bool | str = True
    # Client certificate for mTLS: a (cert_path, key_path) pair, or None.
    client_cert: tuple[str, str] | None = None
    connect_retries: int = 1


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


class HttpDoor:
    """Makes one binding's outbound calls. Thread-safe; one pooled session per door."""

    def __init__(self, *, name: str, policy: HttpPolicy) -> None:
        self.name = name
        self.policy = policy
        self._session = self._new_session(policy)

    @staticmethod
    def _new_session(policy: HttpPolicy) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxies, .netrc or CA bundles from the environment
        session.verify = policy.verify if policy.verify is not False else True
        if policy.client_cert:
            session.cert = policy.client_cert
        session.max_redirects = 0
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
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

        `retry_safe` marks a request the provider lets us repeat (GET, or with an idempotency
        key); only then is a connect failure retried. A read timeout is never retried.
        Logs the method, host, path, status and time; never headers or bodies.
        """
        check_url(url, allow_loopback_http=self.policy.allow_loopback_http)
        started = time.monotonic()
        deadline = started + self.policy.deadline
        attempts = 1 + (self.policy.connect_retries if retry_safe else 0)
        path = urlsplit(url).path
        for attempt in range(1, attempts + 1):
            try:
                response = self._send(method, url, headers or {}, body, deadline)
            except ProviderUnavailable:
                if attempt < attempts and time.monotonic() + 0.2 < deadline:
                    time.sleep(0.1 * attempt)
                    continue
                self._log(logging.WARNING, method, path, "connect failed", started)
                raise
            except ProviderError as exc:
                self._log(exc.log_level, method, path, exc.code, started)
                raise
            self._log(logging.INFO, method, path, str(response.status), started)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, deadline: float
    ) -> HttpResponse:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProviderTimeout("deadline passed before sending")
        timeout = (
            min(self.policy.connect_timeout, remaining),
            min(self.policy.read_timeout, remaining),
        )
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
        except requests.exceptions.SSLError as exc:
            raise ProviderTLSError("TLS verification failed") from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise ProviderUnavailable("connect timeout") from exc
        except requests.exceptions.ConnectionError as exc:
            raise ProviderUnavailable("connection failed") from exc
        except requests.exceptions.Timeout as exc:
            raise ProviderTimeout("read timeout") from exc
        except requests.exceptions.RequestException as exc:
            raise ProviderBadResponse("request failed") from exc
        try:
            if 300 <= raw.status_code < 400:
                raise ProviderBadResponse(f"redirect {raw.status_code} refused")
            body_bytes = self._read_bounded(raw, deadline)
            return HttpResponse(raw.status_code, raw.headers, body_bytes)
        finally:
            raw.close()

    def _read_bounded(self, raw: requests.Response, deadline: float) -> bytes:
        declared = raw.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.policy.max_body_bytes:
            raise ProviderBadResponse("response body too large")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.iter_content(_CHUNK):
                size += len(chunk)
                if size > self.policy.max_body_bytes:
                    raise ProviderBadResponse("response body too large")
                if time.monotonic() > deadline:
                    raise ProviderTimeout("deadline passed while reading the body")
                chunks.append(chunk)
        except requests.exceptions.ConnectionError as exc:
            # urllib3 reports a read timeout during streaming as a ConnectionError.
            if "timed out" in str(exc).lower():
                raise ProviderTimeout("read timeout") from exc
            raise ProviderBadResponse("connection broken while reading") from exc
        except requests.exceptions.RequestException as exc:
            raise ProviderBadResponse("response could not be read") from exc
        return b"".join(chunks)

    def _log(self, level: int, method: str, path: str, outcome: str, started: float) -> None:
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.log(
            level,
            "provider call %s %s %s -> %s in %.0f ms",
            self.name,
            method,
            path,
            outcome,
            elapsed_ms,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()


class DoorPool:
    """One `HttpDoor` per binding key and policy, reused across requests so connections are pooled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._doors: dict[tuple[str, HttpPolicy], HttpDoor] = {}

    def door(self, *, key: str, policy: HttpPolicy) -> HttpDoor:
        """Return the door for this binding key and policy, creating it on first use."""
        with self._lock:
            door = self._doors.get((key, policy))
            if door is None:
                door = HttpDoor(name=key, policy=policy)
                self._doors[(key, policy)] = door
            return door

    def clear(self) -> None:
        """Close and forget every door (tests, and after a binding changes)."""
        with self._lock:
            for door in self._doors.values():
                door.close()
            self._doors.clear()


doors = DoorPool()
