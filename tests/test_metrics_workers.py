"""Under gunicorn every worker counts into the host's metrics folder: a scrape served by any worker
sums them all, including workers that have since exited (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]

_COUNT = """
import sys
from cardreveal.metrics import reveal_counted
for _ in range(int(sys.argv[1])):
    reveal_counted(outcome="revealed", reason="ok", provider="thredd")
"""
_SCRAPE = """
import sys
from cardreveal.metrics import exposition
sys.stdout.write(exposition().decode())
"""


def _python(code: str, folder: Path, *args: str) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def test_a_scrape_from_any_worker_sums_every_workers_counts(tmp_path):
    _python(_COUNT, tmp_path, "2")  # one worker, since exited
    _python(_COUNT, tmp_path, "3")  # another
    text = _python(_SCRAPE, tmp_path)  # a third answers the scrape
    values = {
        (s.name, s.labels.get("provider")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert values[("cardreveal_reveals_total", "thredd")] == 5
