"""Cores used per process group over a scenario (app, sandbox, PostgreSQL, Redis, load), read from /proc."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")

# pid -> (parent pid, command name, CPU seconds used by it and its reaped children)
ProcTable = dict[int, tuple[int, str, float]]


def _proc_table() -> ProcTable:
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        table[int(entry.name)] = (int(fields[1]), name, ticks / _TICKS)
    return table


def _group(table: ProcTable, roots: set[int]) -> float:
    """CPU seconds of `roots` and all their descendants."""
    found = set(roots) & set(table)
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return sum(table[p][2] for p in found)


def _service_roots(table: ProcTable, name: str) -> set[int]:
    """The top process of a service (postgres, redis-server): named so, with a parent not."""
    return {
        pid
        for pid, (ppid, comm, _) in table.items()
        if comm.startswith(name) and not table.get(ppid, (0, "", 0))[1].startswith(name)
    }


@dataclass
class CpuMeter:
    """Cores used per group over a scenario: the app (gunicorn and its workers, and the receipt
    sender process when there is one), the sandbox, PostgreSQL, Redis, and the load generator
    (Locust or the direct caller, with this script). Each group counts its live processes and the
    ones they reaped, so short-lived PostgreSQL backends are included."""

    roots: dict[str, set[int]]
    before: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    def _sample(self) -> dict[str, float]:
        table = _proc_table()
        used = {group: _group(table, pids) for group, pids in self.roots.items()}
        used["postgresql"] = _group(table, _service_roots(table, "postgres"))
        used["redis"] = _group(table, _service_roots(table, "redis-server"))
        own = os.times()
        used["load"] = own.user + own.system + own.children_user + own.children_system
        return used

    def start(self) -> None:
        self.before = self._sample()
        self.wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Cores used per group since `start`, to three decimals."""
        after = self._sample()
        wall = time.monotonic() - self.wall
        return {k: round((after[k] - self.before.get(k, 0)) / wall, 3) for k in after}
