"""HTTP to the bench's gunicorn as the load balancer sends it, and the cardholders' signed-in sessions."""

from __future__ import annotations

import contextlib
import http.client
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from bench.processes import LOOPBACK
from bench.profile_requests import FORM
from bench.totp import totp


class App:
    """Plain HTTP to gunicorn, dressed as the TLS-terminating load balancer would send it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"https://{LOOPBACK}:{port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        cookies: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request on a new connection: (status, headers, body). A form is posted as the
        page posts it; cookies the answer sets are stored in `cookies`."""
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30)
        sent = {"Host": f"{LOOPBACK}:{self.port}", "X-Forwarded-Proto": "https"}
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = FORM
            sent["Origin"] = self.origin
        sent.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if cookies is not None:
            for header in response.msg.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, response.msg, data


def wait_ready(app: App, *, timeout: float = 60) -> None:
    """Return once the app answers /readyz with 200; SystemExit after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if app.request("GET", "/readyz")[0] == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"the app did not become ready within {timeout:.0f} s")


def sign_in(app: App, user: dict[str, Any]) -> dict[str, Any]:
    """Sign in through the real pages (password, then a TOTP code); return the session."""
    cookies: dict[str, str] = {}
    status, _, page = app.request("GET", "/accounts/login/", cookies=cookies)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if status != 200 or token is None:
        raise SystemExit(f"login page answered {status}")
    form = {
        "csrfmiddlewaretoken": token.group(1).decode(),
        "username": user["username"],
        "password": user["password"],
    }
    status, _, _ = app.request("POST", "/accounts/login/", cookies=cookies, form=form)
    if status != 302:
        raise SystemExit(f"sign-in for {user['username']} answered {status}")
    code = totp(user["totp_key"], time.time())
    form = {"csrfmiddlewaretoken": cookies["__Host-csrftoken"], "code": code}
    status, _, _ = app.request("POST", "/accounts/verify/", cookies=cookies, form=form)
    if status != 302:
        raise SystemExit(f"sign-in code for {user['username']} answered {status}")
    return {
        "sessionid": cookies["__Host-sessionid"],
        "csrftoken": cookies["__Host-csrftoken"],
        "totp_key": user["totp_key"],
        "cards": user["cards"],
    }


def sign_in_all(app: App, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every user signed in, in order. A user's sign-in code and first reveal code must be
    different 1-second steps; the reveal users wait for the next step anyway. Two at a time:
    PBKDF2 keeps both cores busy."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda u: sign_in(app, u), users))


def keep_signed_in(app: App, sessions: list[dict[str, Any]]) -> None:
    """A page for every session through the bench's own gunicorn (not counted), so none reaches
    the 15-minute idle timeout during a count or a load run that starts later than that."""
    for session in sessions:
        cookies = {"__Host-sessionid": session["sessionid"]}
        status, _, _ = app.request("GET", "/", cookies=cookies)
        if status != 200:
            raise SystemExit(f"a bench session is no longer signed in (GET / answered {status})")
