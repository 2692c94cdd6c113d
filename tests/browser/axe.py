"""axe-core for the browser tests: the npm package's axe.min.js, installed once into var/cache with
npm (nothing vendored), run in a page through Playwright, its violations put in words."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

AXE_CORE_VERSION = "4.14.1"
CACHE = Path(__file__).resolve().parents[2] / "var" / "cache" / f"axe-core-{AXE_CORE_VERSION}"
SCRIPT = CACHE / "node_modules" / "axe-core" / "axe.min.js"

# Page.evaluate runs through the DevTools protocol, which the page's Content-Security-Policy does
# not govern: axe runs on the page exactly as served, strict policy included.
RUN_AXE = """async () => {
  const results = await axe.run(document, { resultTypes: ["violations"] });
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ") + ": " + n.failureSummary.split("\\n").slice(1).join(" ")),
  }));
}"""


def axe_script() -> str:
    """axe.min.js of AXE_CORE_VERSION, installed with npm on first use. Skips when npm is missing
    (as the browser tests skip without Chromium); fails, saying why, when the install fails."""
    if not SCRIPT.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed; the accessibility checks need it to fetch axe-core")
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=CACHE.parent))  # renamed into place once complete
        try:
            done = subprocess.run(
                [npm, "install", "--no-save", "--no-package-lock", "--prefix", str(staging),
                 f"axe-core@{AXE_CORE_VERSION}"],
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                pytest.fail(f"npm could not install axe-core {AXE_CORE_VERSION}:\n{done.stderr}")
            if not SCRIPT.exists():  # another run may have finished first
                staging.rename(CACHE)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return SCRIPT.read_text()


def axe_violations(page: Any, script: str) -> list[str]:
    """axe-core's violations on the page as it is now, one line each: rule, impact, help, where."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(script)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {'; '.join(v['nodes'])}"
        for v in page.evaluate(RUN_AXE)
    ]
