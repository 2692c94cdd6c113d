"""The drill's checks on what it recorded: every provider call has its audit record, no code worked twice."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Timestamps from the sandbox, the app and PostgreSQL come from one clock; this only absorbs the
# database's rounding to microseconds.
_SLACK = 0.002


@dataclass(frozen=True)
class ProviderCall:
    """A code request the sandbox received: when, for which provider."""

    at: float
    kind: str


@dataclass(frozen=True)
class ProviderLeg:
    """An audit record of a reveal that asked its provider: opened (before the call) and
    completed (after the answer; None while still pending: the call's outcome never written)."""

    kind: str
    opened: float
    completed: float | None


def unmatched_calls(
    calls: Iterable[ProviderCall], legs: Iterable[ProviderLeg]
) -> list[ProviderCall]:
    """The calls no audit record accounts for, each record accounting for at most one call that
    arrived between its opening and its completion (a greedy matching, which finds a full one
    whenever there is one: each call takes the open record that ends first)."""
    by_kind: dict[str, list[ProviderLeg]] = {}
    for leg in legs:
        by_kind.setdefault(leg.kind, []).append(leg)
    for kind_legs in by_kind.values():
        kind_legs.sort(key=lambda leg: leg.opened)
    missing = []
    cursors = dict.fromkeys(by_kind, 0)
    heaps: dict[str, list[tuple[float, int]]] = {kind: [] for kind in by_kind}
    for call in sorted(calls, key=lambda c: c.at):
        kind_legs = by_kind.get(call.kind, [])
        heap = heaps.setdefault(call.kind, [])
        i = cursors.get(call.kind, 0)
        while i < len(kind_legs) and kind_legs[i].opened <= call.at + _SLACK:
            leg = kind_legs[i]
            end = math.inf if leg.completed is None else leg.completed
            heapq.heappush(heap, (end, i))
            i += 1
        cursors[call.kind] = i
        while heap and heap[0][0] + _SLACK < call.at:
            heapq.heappop(heap)  # ended before this call arrived: it cannot account for it
        if heap:
            heapq.heappop(heap)
        else:
            missing.append(call)
    return missing


@dataclass(frozen=True)
class Duel:
    """One code sent twice at once, to two different app hosts: the statuses they answered."""

    hosts: tuple[str, str]
    statuses: tuple[int, int]

    @property
    def successes(self) -> int:
        return sum(1 for status in self.statuses if status == 200)


def double_spends(duels: Sequence[Duel]) -> list[Duel]:
    """The duels in which the one code revealed twice."""
    return [duel for duel in duels if duel.successes > 1]
