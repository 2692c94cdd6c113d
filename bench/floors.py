"""The floor server of `make bench`: the reveal's provider call behind less of the app, to split
what a reveal adds over the direct call into what the stack costs and what the reveal's own work
costs.

    gunicorn -c gunicorn.conf.py bench.floors:application
    (DJANGO_SETTINGS_MODULE=bench.settings, CARDREVEAL_BENCH_URLCONF=1, the bench database seeded)

Two floors, each called as the reveal is (POST, one call a second per cardholder, bench/locust_reveal.py):

- `POST /bench/bare/<kind>`: gunicorn calls this module's WSGI callable, which calls the provider
  module for the first bench cardholder's card at that provider, with the provider object built
  once per process as the direct caller builds it (bench/direct_provider.py). What it adds over
  the direct call is the HTTP hop from the load generator and gunicorn's worker: no Django.
- `POST /bench/provider-floor/<card id>`: Django, with the production settings and middleware,
  serving `provider_floor` (bench/floor_urls.py): the signed-in request path, the reveal's card
  read and the provider call, without the code check, quota, sealing, audit or receipt.

Neither ever answers the CVV: the result is dropped unread and the answer is {"ok": true}. Every
other path goes to the app (with the floor URLs), so sessions, /readyz and the app's own pages
work here as in the app's server.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from cardreveal.wsgi import application as django_application

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from providers.base import CardRef, ClientKey, Provider

BARE_PREFIX = "/bench/bare/"
_OK = b'{"ok": true}'

_lock = threading.Lock()
_calls: dict[str, tuple[Provider, CardRef, ClientKey]] = {}


def _bare_calls() -> dict[str, tuple[Provider, CardRef, ClientKey]]:
    """Per provider kind: what the direct caller calls it with (`bench_calls`), made on the first
    bare call in this process and kept, as the direct caller keeps them."""
    with _lock:
        if not _calls:
            from bench.direct_provider import bench_calls

            calls, key = bench_calls()
            _calls.update((kind, (provider, ref, key)) for kind, (provider, ref) in calls.items())
        return _calls


def _answer(start_response: Callable[..., Any], status: str, body: bytes = b"") -> Iterable[bytes]:
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def bare_call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The bare floor: POST /bench/bare/<kind> makes that provider's call and answers 200
    {"ok": true}; 405 for another method, 404 for a kind with no bench card, 502 when the provider
    call fails (its error code in the body, never a provider body)."""
    from providers.errors import ProviderError

    if environ.get("REQUEST_METHOD") != "POST":
        return _answer(start_response, "405 Method Not Allowed")
    kind = environ.get("PATH_INFO", "")[len(BARE_PREFIX) :]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(min(length, 65536))
    call = _bare_calls().get(kind)
    if call is None:
        return _answer(start_response, "404 Not Found")
    provider, ref, key = call
    try:
        provider.fetch_cvv(card=ref, client_key=key)
    except ProviderError as exc:
        return _answer(start_response, "502 Bad Gateway", f'{{"error": "{exc.code}"}}'.encode())
    return _answer(start_response, "200 OK", _OK)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The floor server's WSGI callable: the bare floor under BARE_PREFIX, the app otherwise."""
    if environ.get("PATH_INFO", "").startswith(BARE_PREFIX):
        return bare_call(environ, start_response)
    return django_application(environ, start_response)
