"""The restore drill: dump the database with pg_dump, restore it into a fresh one, and `verify_audit`
the copy against the chain heads kept from before the dump (anchors)."""

from __future__ import annotations

import contextlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.processes import PYTHON, ROOT

_HEAD_RE = re.compile(r"^(?P<chain>[a-z]+): OK, (?P<links>[0-9]+) links; head (?P<head>\S+)$", re.M)


@dataclass(frozen=True)
class Verified:
    """What `manage.py verify_audit` said: whether every chain is intact, each head, its words."""

    ok: bool
    heads: dict[str, str]  # chain -> "chain:seq:hash", as --anchor takes it
    links: dict[str, int]
    output: str


def verify_audit(env: dict[str, str], *, anchors: list[str] | tuple[str, ...] = ()) -> Verified:
    """Run `manage.py verify_audit` (with `--anchor` for each of `anchors`) on `env`'s database."""
    argv = [PYTHON, "manage.py", "verify_audit"]
    for anchor in anchors:
        argv += ["--anchor", anchor]
    result = subprocess.run(  # noqa: S603
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = (result.stdout + result.stderr).strip()
    heads = {m["chain"]: m["head"] for m in _HEAD_RE.finditer(result.stdout)}
    links = {m["chain"]: int(m["links"]) for m in _HEAD_RE.finditer(result.stdout)}
    return Verified(result.returncode == 0, heads, links, output)


@dataclass(frozen=True)
class Restored:
    """The restore drill's result: the heads before, the check of the copy against them."""

    before: Verified
    after: Verified
    dump_bytes: int

    @property
    def ok(self) -> bool:
        return self.before.ok and self.after.ok and bool(self.before.heads)


def database_url(server_url: str, database: str) -> str:
    """`server_url` (any database on the server) pointed at `database`."""
    return server_url.rsplit("/", 1)[0] + "/" + database


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {result.stderr.strip()[-2000:]}")


def restore_drill(
    *, server_url: str, database: str, env: dict[str, str], workdir: Path, keep: bool = False
) -> Restored:
    """Keep the chain heads of `database`, pg_dump it, restore the dump into a new database, and
    verify the copy against those heads. `env` runs the app's commands (its DATABASE_URL is
    replaced). The copy is dropped afterwards unless `keep`."""
    import psycopg

    before = verify_audit(env | {"DATABASE_URL": database_url(server_url, database)})
    dump = workdir / f"{database}.dump"
    _run(
        [
            "pg_dump",
            "--format=custom",
            f"--file={dump}",
            f"--dbname={database_url(server_url, database)}",
        ]
    )
    copy = f"{database}_restored"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{copy}"')
    try:
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                f"--dbname={database_url(server_url, copy)}",
                str(dump),
            ]
        )
        after = verify_audit(
            env | {"DATABASE_URL": database_url(server_url, copy)},
            anchors=list(before.heads.values()),
        )
    finally:
        if not keep:
            with (
                contextlib.suppress(Exception),
                psycopg.connect(server_url, autocommit=True) as admin,
            ):
                admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
    return Restored(before, after, dump.stat().st_size)
