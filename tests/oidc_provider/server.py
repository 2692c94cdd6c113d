"""Start the test OpenID provider as its own gunicorn process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.processes import ROOT, free_port, started, wait_for_port

CLIENT_ID = "cardreveal-test"


@dataclass(frozen=True)
class BankUser:
    """A person at the bank's identity provider: `username` is the `sub` it signs in (the
    customer number); `second_id` comes as the `customer_number` claim with scope `customer`."""

    username: str
    password: str
    second_id: str


@dataclass(frozen=True)
class RunningProvider:
    url: str
    client_id: str
    client_secret: str

    @property
    def issuer(self) -> str:
        return f"{self.url}/openid"

    def endpoint(self, name: str) -> str:
        return f"{self.url}/openid/{name}"


@contextlib.contextmanager
def running_provider(
    *, workdir: Path, redirect_uris: list[str], users: list[BankUser]
) -> Iterator[RunningProvider]:
    """Prepare the provider's database (a signing key generated now, one confidential client
    allowed `redirect_uris`, `users`), serve it with gunicorn on loopback, stop it on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(24)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.oidc_provider.settings",
        OP_DATABASE=str(workdir / "op.sqlite3"),
        OP_SITE_URL=url,
        OP_SECRET_KEY=secrets.token_urlsafe(50),
        PYTHONPATH=str(ROOT),
    )
    specs = [f"{u.username}:{u.password}:{u.second_id}" for u in users]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.oidc_provider.prepare",
            CLIENT_ID,
            secret,
            *redirect_uris,
            "--",
            *specs,
        ],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    # gunicorn would read the repository's gunicorn.conf.py (the app's production settings).
    config = workdir / "gunicorn.conf.py"
    config.write_text("")
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "tests.oidc_provider.wsgi:application",
        "--config",
        str(config),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "4",
        "--access-logfile",
        "-",
    ]
    with started(argv, env=env, log=workdir / "op.log") as proc:
        wait_for_port(port, timeout=60, proc=proc)
        yield RunningProvider(url=url, client_id=CLIENT_ID, client_secret=secret)
