"""The machine a run measures: what it is, and its speed before, during and after each scenario."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import statistics
import threading
import time
from pathlib import Path
from typing import Any


def machine() -> dict[str, str]:
    """The CPU, memory, Python, load average and date, for the report's first line."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    loadavg = Path("/proc/loadavg")
    return {
        "load": loadavg.read_text().split()[0] if loadavg.exists() else "?",
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def warn_if_busy() -> None:
    """Say so when other work on the machine will show in the numbers."""
    load = os.getloadavg()[0]
    if load > 1.0:
        print(
            f"bench: warning: the 1-minute load average is {load:.1f}; other work on this "
            "machine will show in the numbers",
            flush=True,
        )


def _reference_work() -> int:
    names = []
    for i in range(100_000):
        row = {"id": i, "label": f"card {i}", "last4": str(i % 10_000).zfill(4)}
        names.append(str(row["label"]).title() + str(row["last4"]))
    return len(names)


def reference_workload_ms(rounds: int = 7) -> float:
    """CPU ms of a fixed pure-Python workload (dicts, strings, calls: what Django spends its time
    on), the median of `rounds`. It measures the machine, not the app: runs on different machines,
    or on one shared machine at different times, compare through it. Lower is faster."""
    times = []
    for _ in range(rounds):
        began = time.process_time()
        _reference_work()
        times.append(time.process_time() - began)
    return round(statistics.median(times) * 1000, 1)


class SpeedSampler:
    """The reference workload, one round every `every` seconds while a scenario runs, in a thread
    at the lowest CPU priority (nice 19), timed by the thread's own CPU clock: the machine's speed
    during the scenario, not just before it (on a shared VM it can change twofold within a
    minute). A round takes about 0.1 s of CPU, so it costs the app a few percent of one core at
    most; `cpu_seconds` is what it used, for taking out of the load generator's share."""

    def __init__(self, every: float = 3.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self.cpu_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="speed-sampler", daemon=True)

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: a thread has its own nice
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while not self._stop.wait(self.every):
            began = time.thread_time()
            _reference_work()
            spent = time.thread_time() - began
            self.samples.append(round(spent * 1000, 1))
            self.cpu_seconds += spent

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        """{"median", "min", "max", "samples"} in ms (None when no round finished)."""
        self._stop.set()
        self._thread.join()
        if not self.samples:
            return {"median": None, "min": None, "max": None, "samples": 0}
        return {
            "median": round(statistics.median(self.samples), 1),
            "min": min(self.samples),
            "max": max(self.samples),
            "samples": len(self.samples),
        }
