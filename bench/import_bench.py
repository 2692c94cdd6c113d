"""`make bench-import`: provision N cardholders with two cards each through the provisioning API
(gunicorn, PostgreSQL, Redis) and through the admin's file import, each into a fresh database, at
two sizes; prints the time and peak memory of each, and whether memory grew with the size.

The API is driven over HTTP with an OAuth2 client token, in batches of 500 cardholders and their
1,000 cards; its memory is the gunicorn worker's peak resident set. The import runs the admin's
import (`cardreveal.provisioning.importing.import_file`, what the admin's confirm button calls)
on generated CSV files in a child process; its memory is that process's peak resident set.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from bench.processes import LOOPBACK, PYTHON, ROOT, VENV_BIN, free_port, started, wait_for_port

API_CARDHOLDERS_PER_REQUEST = 500
CARDS_PER_CARDHOLDER = 2
BINDING = "bench mastercard"
# Peak memory may differ this much between the two sizes and still count as not growing: the
# allocator and Python's free lists settle differently from run to run.
FLAT_TOLERANCE_MB = 15.0
SECTION = "## Provisioning at bank scale (`make bench-import`)"


# ------------------------------------------------------------------------------ pure parts


def cardholder_row(number: int) -> dict[str, str]:
    """The generated cardholder `number` (from 0), as the API and the import file carry it."""
    return {
        "external_id": f"C{number:08d}",
        "email": f"holder{number}@bank.example",
        "first_name": "Holder",
        "last_name": f"N{number}",
        "phone": f"+4477009{number % 100000:05d}",
    }


def card_rows(number: int) -> list[dict[str, object]]:
    """The cards of cardholder `number`: a unique Mastercard contract id each."""
    return [
        {
            "external_id": f"K{number:08d}-{index}",
            "cardholder": f"C{number:08d}",
            "binding": BINDING,
            "reference": {
                "card_contract_id": str(10_000_000 + number * CARDS_PER_CARDHOLDER + index)
            },
            "last4": f"{(number * 7 + index) % 10000:04d}",
            "expiry_month": 1 + (number + index) % 12,
            "expiry_year": 2030 + index,
            "label": "Everyday" if index == 0 else "Travel",
        }
        for index in range(CARDS_PER_CARDHOLDER)
    ]


def api_batches(count: int) -> Iterator[dict[str, list[dict[str, object]]]]:
    """The request bodies that provision `count` cardholders and their cards."""
    for start in range(0, count, API_CARDHOLDERS_PER_REQUEST):
        numbers = range(start, min(count, start + API_CARDHOLDERS_PER_REQUEST))
        yield {
            "cardholders": [dict(cardholder_row(n)) for n in numbers],
            "cards": [card for n in numbers for card in card_rows(n)],
        }


CARD_COLUMNS = [
    "external_id",
    "cardholder",
    "binding",
    "reference.card_contract_id",
    "last4",
    "expiry_month",
    "expiry_year",
    "label",
]


def write_import_files(count: int, directory: Path) -> tuple[Path, Path]:
    """A cardholder CSV and a card CSV for `count` cardholders, written row by row."""
    holders, cards = directory / f"cardholders-{count}.csv", directory / f"cards-{count}.csv"
    with holders.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(cardholder_row(0)))
        writer.writeheader()
        for number in range(count):
            writer.writerow(cardholder_row(number))
    with cards.open("w", newline="") as out:
        plain = csv.writer(out)
        plain.writerow(CARD_COLUMNS)
        for number in range(count):
            for card in card_rows(number):
                reference = card["reference"]
                assert isinstance(reference, dict)  # noqa: S101 (card_rows makes it)
                plain.writerow(
                    [
                        card["external_id"],
                        card["cardholder"],
                        card["binding"],
                        reference["card_contract_id"],
                        card["last4"],
                        card["expiry_month"],
                        card["expiry_year"],
                        card["label"],
                    ]
                )
    return holders, cards


@dataclass(frozen=True)
class Measurement:
    path: str  # "API" or "admin import"
    cardholders: int
    cards: int
    seconds: float
    peak_mb: float  # peak resident set of the process doing the work
    baseline_mb: float  # its resident set before the first row
    after_mb: float  # its resident set after the last row

    @property
    def rows_per_second(self) -> float:
        return (self.cardholders + self.cards) / self.seconds if self.seconds else 0.0


def memory_verdict(small: Measurement, large: Measurement) -> str:
    """Whether the peak memory, and the memory held after the last row, stayed flat from the
    smaller size to the larger, in words."""
    grew = large.peak_mb - small.peak_mb
    kept = large.after_mb - small.after_mb
    words = []
    for what, change in (("peak", grew), ("held after the last row", kept)):
        flat = change <= FLAT_TOLERANCE_MB
        words.append(
            f"{what} {change:+.0f} MB: "
            + ("flat, within the tolerance" if flat else "GROWS with the size")
        )
    return (
        f"{small.path}, {small.cardholders:,} to {large.cardholders:,} cardholders: "
        + "; ".join(words)
        + f" (tolerance {FLAT_TOLERANCE_MB:.0f} MB)."
    )


def report_table(measurements: list[Measurement]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| path | cardholders | cards | time | rows/s | peak memory | before the first row "
        "| after the last |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in measurements:
        lines.append(
            f"| {m.path} | {m.cardholders:,} | {m.cards:,} | {m.seconds:.1f} s | "
            f"{m.rows_per_second:,.0f} | {m.peak_mb:.0f} MB | {m.baseline_mb:.0f} MB | "
            f"{m.after_mb:.0f} MB |"
        )
    return "\n".join(lines)


def peak_rss_mb(status_text: str) -> float:
    """VmHWM (the peak resident set) from a /proc/<pid>/status text, in MB."""
    match = re.search(r"^VmHWM:\s+(\d+) kB", status_text, flags=re.MULTILINE)
    if match is None:
        raise ValueError("no VmHWM line")
    return int(match.group(1)) / 1024


def current_rss_mb(status_text: str) -> float:
    match = re.search(r"^VmRSS:\s+(\d+) kB", status_text, flags=re.MULTILINE)
    if match is None:
        raise ValueError("no VmRSS line")
    return int(match.group(1)) / 1024


# ------------------------------------------------------------------------------ the stack


def _env(postgres_url: str, database: str, redis_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": LOOPBACK,
        "DATABASE_URL": postgres_url.rsplit("/", 1)[0] + "/" + database,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": database,
        "CARDREVEAL_FIELD_KEYS": Fernet.generate_key().decode(),
        "CARDREVEAL_BANK_CONTACT_NAME": "Example Bank",
        "CARDREVEAL_BANK_CONTACT_PHONE": "+44 20 7946 0000",
        "CARDREVEAL_FRAUD_ALERT_EMAIL": "fraud-team@bank.example",
        "DJANGO_LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def fresh_database(postgres_url: str, label: str) -> Iterator[str]:
    """A new PostgreSQL database named provisioning_bench_<label>_<random>, dropped after."""
    import psycopg

    database = f"provisioning_bench_{label}_{secrets.token_hex(3)}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        yield database
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _manage(env: dict[str, str], *args: str) -> str:
    import subprocess

    result = subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stderr[-2000:]}")
    return result.stdout


SETUP = """
from cardreveal.cards.models import ProviderBinding
ProviderBinding.objects.create(name={name!r}, kind="mastercard", base_url="https://mastercard.invalid")
"""


def prepare(env: dict[str, str]) -> None:
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "shell", "-c", SETUP.format(name=BINDING))


def _status(pid: int) -> str:
    return Path(f"/proc/{pid}/status").read_text()


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def run_api(env: dict[str, str], count: int, workdir: Path) -> Measurement:
    """Provision `count` cardholders through the API of a one-worker gunicorn."""
    import requests

    prepare(env)
    issued = _manage(
        env,
        "provisioning_client",
        "create",
        "bench",
        "--scope",
        "cardholders:write",
        "--scope",
        "cards:write",
        "--requests-per-minute",
        "1000000",
    )
    client_id = re.search(r"client_id: (\S+)", issued).group(1)  # type: ignore[union-attr]
    client_secret = re.search(r"client_secret: (\S+)", issued).group(1)  # type: ignore[union-attr]
    port = free_port()
    # One worker, one thread: the batches go one after another (a batch waits for the one before
    # to commit anyway), and the worker's peak is then the app's, not that of several threads'
    # malloc arenas each keeping the high-water mark of the requests it happened to serve.
    server_env = env | {"PORT": str(port), "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "1"}
    argv = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py"]
    with started(argv, env=server_env, log=workdir / f"gunicorn-{count}.log") as gunicorn:
        wait_for_port(port, timeout=60, proc=gunicorn)
        base = f"http://{LOOPBACK}:{port}/api/v1/provisioning"
        headers = {"Host": f"{LOOPBACK}:{port}", "X-Forwarded-Proto": "https"}
        session = requests.Session()
        token = session.post(
            f"{base}/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, client_secret),
            headers=headers,
            timeout=60,
        ).json()["access_token"]
        headers["Authorization"] = f"Bearer {token}"
        (worker,) = _children(gunicorn.pid)
        baseline = current_rss_mb(_status(worker))
        started_at = time.perf_counter()
        for body in api_batches(count):
            answer = session.post(f"{base}/batch", json=body, headers=headers, timeout=600)
            if answer.status_code != 200:
                raise SystemExit(
                    f"the API refused a batch: {answer.status_code} {answer.text[:500]}"
                )
        seconds = time.perf_counter() - started_at
        status = _status(worker)
    return Measurement(
        "API",
        count,
        count * CARDS_PER_CARDHOLDER,
        seconds,
        peak_rss_mb(status),
        baseline,
        current_rss_mb(status),
    )


IMPORT_CHILD = """
import json, resource, sys, time
import django
django.setup()
from pathlib import Path
from cardreveal.client_info import SYSTEM_CLIENT
from cardreveal.provisioning.importing import import_file
from cardreveal.provisioning.services import Actor

def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) / 1024

baseline = rss()
actor = Actor(by="import:bench", name="bench", client=SYSTEM_CLIENT)
started = time.perf_counter()
for kind, path in (("cardholders", sys.argv[1]), ("cards", sys.argv[2])):
    report = import_file(path=Path(path), file_format="csv", kind=kind, actor=actor, dry_run=False)
    if not report.ok:
        sys.exit(f"{kind}: {report.header_problem} {[(e.line, e.message) for e in report.errors[:5]]}")
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "baseline_mb": baseline, "after_mb": rss()}))
"""


def run_import(env: dict[str, str], count: int, workdir: Path) -> Measurement:
    """Import `count` cardholders and their cards from CSV files, as the admin's confirm does."""
    import subprocess

    prepare(env)
    holders, cards = write_import_files(count, workdir)
    result = subprocess.run(  # noqa: S603
        [PYTHON, "-c", IMPORT_CHILD, str(holders), str(cards)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"the import failed:\n{result.stderr[-2000:]}")
    found = json.loads(result.stdout.strip().splitlines()[-1])
    holders.unlink()
    cards.unlink()
    return Measurement(
        "admin import",
        count,
        count * CARDS_PER_CARDHOLDER,
        found["seconds"],
        found["peak_mb"],
        found["baseline_mb"],
        found["after_mb"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cardholders", type=int, default=100_000, help="the larger size")
    parser.add_argument(
        "--smaller", type=int, default=0, help="the smaller size (default: a quarter)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
    )
    parser.add_argument("--paths", default="api,import", help="api, import or both")
    args = parser.parse_args(argv)
    if args.cardholders < 4:
        parser.error("--cardholders must be at least 4")
    smaller = args.smaller or args.cardholders // 4
    workdir = ROOT / "var" / "bench" / f"import-{time.strftime('%Y%m%d-%H%M%S')}"
    workdir.mkdir(parents=True, exist_ok=True)
    runners = {"api": run_api, "import": run_import}
    measurements: list[Measurement] = []
    for name in args.paths.split(","):
        runner = runners[name.strip()]
        for count in (smaller, args.cardholders):
            with fresh_database(args.postgres_url, name.strip()) as database:
                env = _env(args.postgres_url, database, args.redis_url)
                print(f"bench-import: {name} with {count:,} cardholders", flush=True)
                measurements.append(runner(env, count, workdir))
    print(report_table(measurements))
    for small, large in zip(measurements[::2], measurements[1::2], strict=True):
        print(memory_verdict(small, large))
    return 0


if __name__ == "__main__":
    sys.exit(main())
