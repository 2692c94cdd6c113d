"""The container recipe in docs/deploy.md, checked without a Docker engine (none runs here).

The image cannot be built on these machines, so the recipe's own steps are checked against the
repository: what it copies exists, what it leaves out of the build context is what holds local
state, its build-time `collectstatic` runs as written (its shell line, its ENV) without a database,
and what it starts is what `make serve` starts.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy.md"


def _block(language: str, after: str) -> str:
    """The first fenced block of `language` (may be empty) after the line `after`."""
    text = DEPLOY.read_text()
    start = text.index(after)
    match = re.search(rf"```{language}\n(.*?)```", text[start:], re.S)
    assert match, f"no ```{language} block after {after!r} in docs/deploy.md"
    return match.group(1)


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", _block("dockerfile", "`Dockerfile`:"))
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _env() -> dict[str, str]:
    values: dict[str, str] = {}
    for keyword, rest in _instructions():
        if keyword == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                values[name] = value
    return values


def test_every_file_the_recipe_copies_before_the_install_is_in_the_repository():
    copied = [rest.split() for keyword, rest in _instructions() if keyword == "COPY"]
    assert copied, "the recipe copies the project in"
    for *sources, _target in copied:
        for source in sources:
            if source != ".":
                assert (ROOT / source).is_file(), (
                    f"the Dockerfile copies {source}, which is missing"
                )


def test_the_build_context_leaves_out_local_state_and_secrets():
    ignored = set(_block("", "`.dockerignore`:").split())
    # The venv, the run-time folder (SQLite database, demo keys, bench output) and git history.
    assert {".git", ".venv", "var"} <= ignored
    assert all(not (ROOT / name).is_file() for name in ignored if "*" not in name)


def test_the_image_starts_what_make_serve_starts():
    instructions = dict(_instructions())
    assert instructions["CMD"] == '["gunicorn", "-c", "gunicorn.conf.py"]'
    assert (ROOT / "gunicorn.conf.py").is_file()
    serve = subprocess.run(
        ["make", "-n", "serve"],  # noqa: S607 (the project's own Makefile, printed, not run)
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "gunicorn -c gunicorn.conf.py" in serve
    env = _env()
    assert env["DJANGO_SETTINGS_MODULE"] == "cardreveal.settings.production"
    assert env["GUNICORN_BIND"] == "0.0.0.0:8000"
    assert "8000" in instructions["EXPOSE"]
    assert "/healthz" in instructions["HEALTHCHECK"]
    assert instructions["USER"] == "app"  # not root


def test_the_build_time_collectstatic_runs_as_written_without_a_database(tmp_path):
    (run,) = [
        rest for keyword, rest in _instructions() if keyword == "RUN" and "collectstatic" in rest
    ]
    env = _env() | {"DJANGO_STATIC_ROOT": str(tmp_path / "staticfiles")}
    # Nothing else from this machine: the build has only the image's ENV. `python` is the
    # interpreter the project is installed in, as `pip install -e .` makes it in the image.
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        ["bash", "-c", run],  # noqa: S607 (the recipe's own build line, as the image runs it)
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = tmp_path / "staticfiles" / "staticfiles.json"
    assert manifest.is_file(), (
        "collectstatic should write the hashed-name manifest WhiteNoise serves"
    )
    assert '"css/' in manifest.read_text()
    # The line's database is a role that does not exist on any server (PostgreSQL refuses it even
    # on a machine that runs one, as CI's does): it succeeded, so the database was never opened.
    assert "postgres://build@127.0.0.1/build" in run
