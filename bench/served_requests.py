"""Requests to a gunicorn under callgrind on one kept-alive connection: pages, and reveals round robin."""

from __future__ import annotations

import http.client
import time
from typing import Any
from urllib.parse import urlencode

from bench.app_client import App
from bench.client_key import client_key
from bench.processes import LOOPBACK
from bench.profile_requests import FORM
from bench.totp import totp


def _headers(app: App, session: dict[str, Any]) -> dict[str, str]:
    cookies = {"__Host-sessionid": session["sessionid"], "__Host-csrftoken": session["csrftoken"]}
    return {
        "Host": f"{LOOPBACK}:{app.port}",
        "X-Forwarded-Proto": "https",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
    }


def _get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> None:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path} through gunicorn answered {response.status}")


def served_gets(app: App, path: str, session: dict[str, Any], count: int) -> None:
    """`count` GETs of `path` as `session`, after 5 more to warm up (templates, URL conf,
    connections, as when warm)."""
    conn = http.client.HTTPConnection(LOOPBACK, app.port, timeout=300)
    headers = _headers(app, session)
    try:
        for _ in range(5 + count):
            _get(conn, path, headers)
    finally:
        conn.close()


def _post_reveal(
    conn: http.client.HTTPConnection,
    app: App,
    session: dict[str, Any],
    kind: str,
    *,
    public_key: str,
    malformed: bool,
) -> None:
    form = {
        # As late as possible; one step of drift is accepted, as for in-process counts.
        "otp_code": "abc" if malformed else totp(session["totp_key"], time.time()),
        "public_key": public_key,
        "csrfmiddlewaretoken": session["csrftoken"],
    }
    sent = _headers(app, session) | {"Content-Type": FORM, "Origin": app.origin}
    card = session["cards"][kind]["id"]
    conn.request("POST", f"/cards/{card}/reveal", body=urlencode(form), headers=sent)
    response = conn.getresponse()
    body = response.read()
    if response.status != (403 if malformed else 200):
        raise SystemExit(
            f"reveal {kind} through gunicorn answered {response.status}: {body[:200]!r}"
        )


def served_reveals(app: App, sessions: list[dict[str, Any]], count: int) -> None:
    """`count` reveals, round robin over the providers and over the cardholders (one reveal per
    cardholder per 1-second code step; under valgrind a reveal takes longer than that), after one
    reveal per provider to warm up (keys parsed, pooled connection open, Thredd's token)."""
    kinds = sorted(sessions[0]["cards"])
    warm, cardholders = sessions[-len(kinds) :], sessions[: -len(kinds)]
    if len(cardholders) < 2:
        raise SystemExit("reveal-served needs more signed-in cardholders (--users)")
    plan = list(zip(warm, kinds, strict=True)) + [
        (cardholders[i % len(cardholders)], kinds[i % len(kinds)]) for i in range(count)
    ]
    _, key = client_key()
    conn = http.client.HTTPConnection(LOOPBACK, app.port, timeout=300)
    try:
        # Under valgrind a cold worker's first POST takes seconds (imports, templates), longer
        # than a code lives: load the pages first, and post one malformed code (refused before
        # any check, and never counted as a guess) so the reveals after it are warm.
        first = warm[0]
        for path in ["/", *(f"/cards/{card['id']}/" for card in first["cards"].values())]:
            _get(conn, path, _headers(app, first))
        _post_reveal(conn, app, first, kinds[0], public_key=key, malformed=True)
        for session, kind in plan:
            _post_reveal(conn, app, session, kind, public_key=key, malformed=False)
    finally:
        conn.close()
