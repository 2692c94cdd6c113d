"""The embedded default (`make run`: the demo settings on SQLite, the dev server, the provider
sandbox) under light concurrency: an admin saving cards while cardholders reveal gets no 500 and
no "database is locked"; and the demo database stays fully durable."""

from __future__ import annotations

import base64
import html
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from bench.processes import ROOT, free_port, started, wait_for_port
from bench.totp import totp
from tests.conftest import ClientKeyPair

# Against the demo settings before WAL and IMMEDIATE, this load had 36-42 of the 60 saves and about
# a third of the reveals answer 500 with "database is locked" (two runs); with them, none.
ADMIN_THREADS = 2  # two admin tabs, saving at the same time
SAVES_PER_ADMIN_THREAD = 30
RUN_SECONDS_MAX = 60  # the saves and reveals take seconds; a bound, not a pace
START_SECONDS_MAX = 60  # for the sandbox and the dev server to listen, on a loaded machine
# The demo settings with two differences: var/ (database, logins) in the test's own folder, so
# nothing touches the checkout's demo; and the test settings' fast password hasher, so that
# load_demo and the sign-ins, all before the concurrent part, take a second instead of several
# (the demo's hasher costs ~0.6 s a password). DATABASES keeps every OPTION of the demo's.
SETTINGS_MODULE = """
from pathlib import Path

from cardreveal.settings.dev import *  # noqa: F403
from cardreveal.settings.dev import DATABASES

VAR_DIR = Path({var!r})
DATABASES = {{"default": {{**DATABASES["default"], "NAME": VAR_DIR / "db.sqlite3"}}}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
"""


# ---------------------------------------------------------------------------------- the demo


def _demo_env(folder: Path) -> dict[str, str]:
    """The environment of a demo whose var/ is `folder`."""
    (folder / "demo_here.py").write_text(SETTINGS_MODULE.format(var=str(folder)))
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(folder)),
        "PYTHONPATH": str(folder),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "demo_here",
        # Given, so the demo settings generate none into the checkout's var/.
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CARDREVEAL_FIELD_KEYS": Fernet.generate_key().decode(),
    }


def _manage(env: dict[str, str], *args: str) -> str:
    """Run a manage.py command as `make run` does; return what it printed."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@dataclass
class Login:
    username: str
    password: str
    totp_key_hex: str

    def code(self, *, steps_ago: int = 0) -> str:
        """The code the authenticator shows now (or `steps_ago` 30-second steps before)."""
        return totp(self.totp_key_hex, time.time() - 30 * steps_ago, step=30)


@dataclass
class Demo:
    url: str
    logins: dict[str, Login]
    server_log: Path


def _printed_logins(printed: str) -> dict[str, Login]:
    """The passwords and TOTP secrets load_demo prints for people to sign in with."""
    found = re.findall(r"^\s+(\w+)\s+password (\S+).*\n\s+TOTP secret ([A-Z2-7=]+)$", printed, re.M)
    return {
        name: Login(name, password, base64.b32decode(secret).hex())
        for name, password, secret in found
    }


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """What `make run` does: migrate, load_demo, then the sandbox and `runserver --noreload`,
    with the demo settings, on a fresh SQLite file in tmp_path and free loopback ports."""
    env = _demo_env(tmp_path)
    sandbox_port, app_port = free_port(), free_port()
    app_url = f"http://127.0.0.1:{app_port}"
    state = f"--state={tmp_path / 'sandbox'}"
    sandbox = [sys.executable, "-m", "providers.sandbox", f"--port={sandbox_port}", state]
    app = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{app_port}", "--noreload"]
    server_log = tmp_path / "runserver.stderr"
    _manage(env, "migrate", "--noinput", "-v0")
    # The dev server starts (imports, system checks) while the demo loads: it reads nothing of
    # the demo before its first request.
    with started(app, env=env, log=server_log, stdout=tmp_path / "runserver.stdout") as app_proc:
        printed = _manage(
            env,
            "load_demo",
            f"--sandbox-url=http://127.0.0.1:{sandbox_port}",
            f"--app-url={app_url}",
            state,
        )
        logins = _printed_logins(printed)
        assert set(logins) == {"alice", "bob", "tester", "admin"}, printed
        with started(sandbox, env=env, log=tmp_path / "sandbox.log") as sandbox_proc:
            wait_for_port(sandbox_port, timeout=START_SECONDS_MAX, proc=sandbox_proc)
            wait_for_port(app_port, timeout=START_SECONDS_MAX, proc=app_proc)
            yield Demo(app_url, logins, server_log)


# ---------------------------------------------------------------------------------- a browser


class _FormFields(HTMLParser):
    """The fields a browser would submit from a page's forms as they stand (no buttons, no files)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        name = attr.get("name", "")
        if tag == "input" and name:
            kind = attr.get("type", "text")
            if kind in {"submit", "button", "file", "image", "reset"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in attr:
                return
            self.fields[name] = attr.get("value", "on" if kind == "checkbox" else "")
        elif tag == "select" and name:
            self._select = name
            self.fields.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attr:
            self.fields[self._select] = attr.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            # A browser drops the one newline that starts a textarea's text.
            self.fields[self._textarea] = self.fields[self._textarea].removeprefix("\n")
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data


class Browser:
    """A person's browser tab: cookies, the CSRF token, and every status the tab received."""

    def __init__(self, base_url: str, statuses: list[int] | None = None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.statuses: list[int] = [] if statuses is None else statuses

    def tab(self) -> Browser:
        """Another tab of the same browser: the same sign-in, a connection of its own."""
        other = Browser(self.base_url, self.statuses)
        other.session.cookies.update(self.session.cookies)
        return other

    def get(self, path: str) -> requests.Response:
        response = self.session.get(self.base_url + path, allow_redirects=False, timeout=60)
        self.statuses.append(response.status_code)
        return response

    def post(self, path: str, form: dict[str, str]) -> requests.Response:
        token = self.session.cookies.get("csrftoken", "")
        response = self.session.post(
            self.base_url + path,
            data={**form, "csrfmiddlewaretoken": token},
            allow_redirects=False,
            timeout=60,
        )
        self.statuses.append(response.status_code)
        return response

    def sign_in(self, login: Login) -> None:
        """Password, then the code of the step before this one (within the one step of clock
        drift an authenticator is allowed, as when a code is typed just as it changes), so that
        this step's code is still fresh for a reveal."""
        assert self.get("/accounts/login/").status_code == 200
        form = {"username": login.username, "password": login.password}
        assert self.post("/accounts/login/", form).status_code == 302
        verified = self.post("/accounts/verify/", {"code": login.code(steps_ago=1)})
        assert verified.status_code == 302, verified.text[:2000]

    def cards(self) -> dict[str, str]:
        """The card list: each card's label and id."""
        page = self.get("/").text
        found = re.findall(
            r'class="card-label">([^<]*)</span>.*?href="/cards/([0-9a-f-]{36})/"', page, re.S
        )
        return {html.unescape(label): card for label, card in found}

    def form_fields(self, path: str) -> dict[str, str]:
        page = self.get(path)
        assert page.status_code == 200, page.text[:2000]
        parser = _FormFields()
        parser.feed(page.text)
        return parser.fields


# ---------------------------------------------------------------------------------- the run


@dataclass
class Reveal:
    status: int
    body: dict[str, Any]


@dataclass
class Run:
    admin_saves: list[int] = field(default_factory=list)
    reveals: list[Reveal] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def _together(work: list[Callable[[], None]], run: Run) -> None:
    """Run each callable in a thread of its own, all released at the same moment."""
    gate = threading.Barrier(len(work))

    def body(job: Callable[[], None]) -> None:
        try:
            gate.wait()
            job()
        except BaseException as exc:  # collected for the test to report
            run.errors.append(exc)

    threads = [threading.Thread(target=body, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RUN_SECONDS_MAX + 30)
    assert not any(thread.is_alive() for thread in threads)


def test_demo_on_sqlite_saves_every_admin_change_while_cardholders_reveal(
    demo: Demo, client_key: ClientKeyPair
) -> None:
    admin = Browser(demo.url)
    admin.sign_in(demo.logins["admin"])
    holders = {name: Browser(demo.url) for name in ("alice", "bob")}
    for name, holder in holders.items():
        holder.sign_in(demo.logins[name])
    alice_cards = holders["alice"].cards()
    revealed = {  # each one's own Mastercard sandbox card
        "alice": alice_cards["Everyday debit"],
        "bob": holders["bob"].cards()["Household bills"],
    }
    # The admin edits two of alice's cards, the one she is revealing among them.
    edited = [alice_cards[label] for label in ("Everyday debit", "Travel card")]
    forms = {card: admin.form_fields(f"/admin/cards/card/{card}/change/") for card in edited}
    run = Run()
    admins_left = [ADMIN_THREADS]
    admins_lock = threading.Lock()
    admins_done = threading.Event()
    deadline = time.monotonic() + RUN_SECONDS_MAX

    def admin_saves(tab: Browser, thread: int) -> Callable[[], None]:
        def saves() -> None:
            try:
                for n in range(SAVES_PER_ADMIN_THREAD):
                    card = edited[(thread + n) % len(edited)]
                    form = {**forms[card], "label": f"Edited {thread}-{n}", "_save": "Save"}
                    response = tab.post(f"/admin/cards/card/{card}/change/", form)
                    run.admin_saves.append(response.status_code)
            finally:
                with admins_lock:
                    admins_left[0] -= 1
                    if admins_left[0] == 0:
                        admins_done.set()

        return saves

    def reveals(tab: Browser, name: str) -> Callable[[], None]:
        """Reveal with the code the authenticator shows, until the admin is done: the first in
        a step succeeds, the others are refused (code used, then too many wrong codes)."""
        login = demo.logins[name]

        def stream() -> None:
            while not admins_done.is_set() and time.monotonic() < deadline:
                response = tab.post(
                    f"/cards/{revealed[name]}/reveal",
                    {"otp_code": login.code(), "public_key": client_key.public_b64},
                )
                is_json = response.headers.get("Content-Type", "").startswith("application/json")
                run.reveals.append(Reveal(response.status_code, response.json() if is_json else {}))

        return stream

    _together(
        [admin_saves(admin.tab(), i) for i in range(ADMIN_THREADS)]
        + [reveals(holder.tab(), name) for name, holder in holders.items()],
        run,
    )

    statuses = admin.statuses + holders["alice"].statuses + holders["bob"].statuses
    summary = (
        f"{len(run.admin_saves)} admin saves, {len(run.reveals)} reveals; "
        f"{statuses.count(500)} answers were 500; errors {run.errors!r}"
    )
    server_log = demo.server_log.read_text()
    assert "database is locked" not in server_log, summary
    assert [line for line in server_log.splitlines() if " ERROR " in line] == [], summary
    assert 500 not in statuses, summary
    assert not run.errors, summary
    assert run.admin_saves == [302] * (ADMIN_THREADS * SAVES_PER_ADMIN_THREAD), summary
    assert admin.form_fields(f"/admin/cards/card/{edited[0]}/change/")["label"].startswith(
        "Edited "
    )
    opened = [client_key.open(r.body["sealed"]) for r in run.reveals if r.status == 200]
    assert opened, f"no reveal succeeded: {summary}"
    assert set(opened) <= {"347", "582"}  # the sandbox's CVCs of alice's and bob's cards
    for refusal in (r for r in run.reveals if r.status != 200):
        assert 400 <= refusal.status < 500, summary
        assert refusal.body["error"]["code"], refusal
        assert refusal.body["error"]["message"], refusal


def test_demo_database_is_wal_with_full_sync_a_busy_timeout_and_immediate_writes(
    tmp_path: Path,
) -> None:
    # What the test above cannot see: a commit is on disk when it returns (synchronous=FULL; WAL
    # with NORMAL could lose the last ones, audit records and used codes among them, in a crash).
    probe = (
        "import django; django.setup()\n"
        "from django.db import connection, transaction\n"
        "from django.test.utils import CaptureQueriesContext\n"
        "with connection.cursor() as cursor:\n"
        "    for pragma in ('journal_mode', 'synchronous', 'busy_timeout'):\n"
        "        print(cursor.execute(f'PRAGMA {pragma}').fetchone()[0])\n"
        "with CaptureQueriesContext(connection) as queries, transaction.atomic():\n"
        "    pass\n"
        "print(queries[0]['sql'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=_demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # synchronous 2 is FULL; busy_timeout is in milliseconds
    assert result.stdout.split("\n")[:4] == ["wal", "2", "20000", "BEGIN IMMEDIATE"]
