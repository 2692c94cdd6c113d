"""What the drill saw per fault (reveals answered, errors by kind, the longest gap), as Markdown tables."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

START_MARKER = "<!-- drill:start -->"
END_MARKER = "<!-- drill:end -->"


@dataclass(frozen=True)
class Answer:
    """One reveal request as the client saw it: when it was sent and answered, whether the CVV
    came back, else what went wrong ("504 provider_timeout", "connection refused"), and which
    app host answered (the load balancer's header; empty when none did)."""

    sent: float
    answered: float
    ok: bool
    kind: str
    host: str = ""


@dataclass(frozen=True)
class Phase:
    """One fault's window, from its injection until the stack had recovered and settled."""

    name: str
    started: float
    ended: float
    detail: str = ""


@dataclass
class PhaseSummary:
    """The figures of one phase: what clients saw, and what the metrics endpoints counted."""

    phase: Phase
    requests: int
    revealed: int
    errors: collections.Counter[str]
    longest_gap: float
    metrics_revealed: float | None = None
    metrics_failed: float | None = None
    notes: list[str] = field(default_factory=list)


def longest_gap(successes: Iterable[float], *, start: float, end: float) -> float:
    """The longest stretch of [start, end] with no successful answer, in seconds (the whole
    window when none succeeded)."""
    times = sorted(t for t in successes if start <= t <= end)
    edges = [start, *times, end]
    return max(b - a for a, b in itertools.pairwise(edges))


def summarise(answers: Sequence[Answer], phase: Phase) -> PhaseSummary:
    """The client's view of `phase`: the answers that arrived inside its window."""
    inside = [a for a in answers if phase.started <= a.answered < phase.ended]
    errors = collections.Counter(a.kind for a in inside if not a.ok)
    successes = [a.answered for a in inside if a.ok]
    return PhaseSummary(
        phase=phase,
        requests=len(inside),
        revealed=len(successes),
        errors=errors,
        longest_gap=longest_gap(successes, start=phase.started, end=phase.ended),
    )


def counter_increase(before: Mapping[str, float], after: Mapping[str, float]) -> float:
    """How much a counter rose, summed over hosts ({host: value} at two scrapes). A host whose
    value fell was restarted (its counter began again at 0): its increase is its new value, as
    Prometheus' increase() counts it. A host missing from a scrape adds nothing."""
    total = 0.0
    for host, value in after.items():
        old = before.get(host)
        if old is None or value < old:
            total += value
        else:
            total += value - old
    return total


def _errors_cell(errors: collections.Counter[str]) -> str:
    if not errors:
        return "none"
    return ", ".join(
        f"{count} x {kind}" for kind, count in sorted(errors.items(), key=lambda e: (-e[1], e[0]))
    )


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def phase_table(summaries: Sequence[PhaseSummary]) -> str:
    """The faults-by-outcomes table, in Markdown."""
    lines = [
        "| fault | window | load's requests | revealed | errors by kind | longest gap "
        "| revealed / failed, all clients (metrics) | scrape during the fault |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        window = f"{s.phase.ended - s.phase.started:.0f} s"
        name = s.phase.name + (f" ({s.phase.detail})" if s.phase.detail else "")
        metrics = f"{_figure(s.metrics_revealed)} / {_figure(s.metrics_failed)}"
        lines.append(
            f"| {name} | {window} | {s.requests} | {s.revealed} | {_errors_cell(s.errors)} | "
            f"{s.longest_gap:.1f} s | {metrics} | {'; '.join(s.notes) or '-'} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Check:
    """One "nothing lost" check after the run: its name, whether it held, and the evidence."""

    name: str
    ok: bool
    detail: str
    note: bool = False  # a figure worth reporting that passes or fails nothing


def checks_table(checks: Sequence[Check]) -> str:
    lines = ["| check | result | evidence |", "|---|---|---|"]
    for check in checks:
        result = "note" if check.note else "passed" if check.ok else "**FAILED**"
        detail = " ".join(check.detail.split()).replace("|", "/")  # one table row, whatever it says
        lines.append(f"| {check.name} | {result} | {detail} |")
    return "\n".join(lines)


def write_block(path: Path, report: str) -> None:
    """Put `report` between the drill's markers in `path`, keeping the rest of the file; without
    the markers, append the block."""
    text = path.read_text() if path.exists() else "# Reliability\n"
    block = f"{START_MARKER}\n{report}\n{END_MARKER}"
    if START_MARKER in text and END_MARKER in text:
        head, rest = text.split(START_MARKER, 1)
        text = head + block + rest.split(END_MARKER, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
