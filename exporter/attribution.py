"""Who used a host when: ownership timelines and the split of CPU-seconds between owners.

Pure functions, no I/O. The rules, in the words the README uses:

* A workspace owns its host from ``acquired_time`` (else ``created_time``) until
  ``deleted_time`` (or for ever while alive). A READY pool workspace owns nothing.
* Moments no workspace owns are ``unattributed``: reported, never dropped.
* Two claimed workspaces alive on one host at once: the one whose tenure began
  last wins for the overlap (it is the newer claim; the older record is usually a
  deletion not yet written), ties broken by the larger workspace id. Such hosts
  are counted as ownership conflicts.
* A host with one owner for the whole window gets its window total as is. A host
  whose timeline has several pieces is split using its fine-grained usage steps:
  each step is shared between the pieces it overlaps, in proportion to the
  overlap, and each piece's share of the steps' total is applied to the window
  total. The window total per group is therefore conserved exactly.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple, TypeVar

from exporter.model import UNATTRIBUTED, HostUsage, UsageStep, Workspace

K = TypeVar("K")


class Tenure(NamedTuple):
    """One piece of a host's timeline within the window: [start, end) belongs to ``user``.

    A NamedTuple, as Share is: one per host a scrape, and more where hosts changed hands.
    """

    start: float
    end: float
    user: str


class Share(NamedTuple):
    """CPU-seconds of one group on one host attributed to one user over [start, end).

    A NamedTuple rather than a frozen dataclass: one per host and owner, every scrape.
    """

    cloud_project_name: str
    machine_name: str
    user: str
    start: float
    end: float
    busy_seconds: float
    idle_seconds: float


@dataclass(frozen=True)
class Timelines:
    by_host: Mapping[str, tuple[Tenure, ...]]
    conflicted_hosts: frozenset[str]


def build_timelines(workspaces: Iterable[Workspace], start: float, end: float) -> Timelines:
    """Each host's ownership over [start, end), from the workspaces alive in the window."""
    builder = TimelineBuilder(start, end)
    for ws in workspaces:
        builder.add(ws)
    return builder.timelines()


class TimelineBuilder:
    """Timelines built one workspace at a time, as MongoDB's answer arrives.

    A host's first claim, if it spans the whole window, is its timeline at once (most
    hosts: one owner all along); :meth:`timelines` then only orders the claims of the
    hosts that changed hands or had several claims.
    """

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self._claims: dict[str, list[tuple[float, float, float, str, str]]] = {}
        self._by_host: dict[str, tuple[Tenure, ...]] = {}
        self._to_sweep: set[str] = set()
        self._whole: dict[str, tuple[Tenure, ...]] = {}  # user -> whole-window timeline, shared

    def add(self, ws: Workspace) -> None:
        if not ws.claimed:
            return
        start, end = self.start, self.end
        since, deleted = ws.owned_from, ws.deleted
        lo = since if since > start else start
        hi = end if deleted is None or deleted > end else deleted
        if hi <= lo:
            return
        user = ws.owner or ""
        claim = (lo, hi, since, ws.workspace_id, user)
        held = self._claims.get(ws.host)
        if held is None:
            self._claims[ws.host] = [claim]
            if lo == start and hi == end:
                timeline = self._whole.get(user)
                if timeline is None:
                    timeline = self._whole[user] = (Tenure(start, end, user),)
                self._by_host[ws.host] = timeline
            else:
                self._to_sweep.add(ws.host)
        else:
            held.append(claim)
            self._to_sweep.add(ws.host)

    def timelines(self) -> Timelines:
        by_host = dict(self._by_host)
        conflicted: set[str] = set()
        for host in self._to_sweep:
            tenures, overlapped = _sweep(self._claims[host], self.start, self.end)
            by_host[host] = tenures
            if overlapped:
                conflicted.add(host)
        return Timelines(by_host, frozenset(conflicted))


def _sweep(
    intervals: Sequence[tuple[float, float, float, str, str]], start: float, end: float
) -> tuple[tuple[Tenure, ...], bool]:
    cuts = sorted({start, end, *(i[0] for i in intervals), *(i[1] for i in intervals)})
    pieces: list[Tenure] = []
    overlapped = False
    for a, b in pairwise(cuts):
        live = [i for i in intervals if i[0] <= a and i[1] >= b]
        overlapped = overlapped or len(live) > 1
        # The newest claim wins: latest tenure start, then the larger workspace id.
        user = max(live, key=lambda i: (i[2], i[3]))[4] if live else UNATTRIBUTED
        if pieces and pieces[-1].user == user and pieces[-1].end == a:
            pieces[-1] = Tenure(pieces[-1].start, b, user)
        else:
            pieces.append(Tenure(a, b, user))
    return tuple(pieces), overlapped


def timeline_for(timelines: Timelines, host: str, start: float, end: float) -> tuple[Tenure, ...]:
    """The host's timeline, or one unattributed piece if no workspace owned it in the window."""
    return timelines.by_host.get(host) or (Tenure(start, end, UNATTRIBUTED),)


def needs_split(timeline: Sequence[Tenure]) -> bool:
    """True when a host's window usage must be divided between several pieces."""
    return len(timeline) > 1


class StepColumns(NamedTuple):
    """A host's usage steps in time order, as columns.

    Any piece's usage is then two searches and a sum of a slice (:meth:`within`),
    all in C, where sharing the steps out one by one costs Python work per step: a
    split host has one step a minute, and a refresh at 10,000 hosts splits 1,000.
    Built by :func:`prepared` in the thread that fetched the steps, while MongoDB is
    still answering. (Differences of running sums over the window would be cheaper
    still, but lose the precision of a short piece to that of the window's total.)
    """

    starts: tuple[float, ...]
    ends: tuple[float, ...]
    busy: tuple[float, ...]
    idle: tuple[float, ...]

    def within(self, start: float, end: float) -> tuple[float, float]:
        """Busy and idle CPU-seconds of the steps in [start, end), parts of those across it."""
        starts, ends = self.starts, self.ends
        first = bisect.bisect_left(starts, start)  # steps[first:last] lie within
        last = bisect.bisect_right(ends, end)
        b, d = sum(self.busy[first:last]), sum(self.idle[first:last])
        # Only the step before ``first`` and the one at ``last`` can cross an end.
        for k in (first - 1, last) if first - 1 != last else (last,):
            if 0 <= k < len(starts):
                lo = starts[k] if starts[k] > start else start
                hi = ends[k] if ends[k] < end else end
                if hi > lo:
                    part = (hi - lo) / (ends[k] - starts[k])
                    b += self.busy[k] * part
                    d += self.idle[k] * part
        return b, d


def step_columns(steps: Sequence[UsageStep]) -> StepColumns | None:
    """The steps as :class:`StepColumns`; None if there are none, or they are out of order.

    In order means each step has a width and ends by the time the next starts, as
    tiled steps do; others are shared out one by one.
    """
    if not steps:
        return None
    starts, ends, busy, idle = zip(*steps, strict=True)
    if not (all(map(operator.lt, starts, ends)) and all(map(operator.le, ends, starts[1:]))):
        return None
    return StepColumns(starts, ends, busy, idle)


Steps = Sequence[UsageStep] | StepColumns


def prepared(steps: Mapping[K, Sequence[UsageStep]]) -> dict[K, Steps]:
    """Each host's steps as :class:`StepColumns` where they are in order (as tiled)."""
    return {key: step_columns(s) or s for key, s in steps.items()}


def split_fractions(timeline: Sequence[Tenure], steps: Steps | None) -> list[tuple[float, float]]:
    """Each piece's (busy, idle) fraction of the host's window usage.

    Fractions come from the usage steps, each step shared between the pieces it
    overlaps in proportion to the overlap; where there are none, or they sum to
    zero, from the pieces' durations (usage assumed steady).
    """
    if not isinstance(steps, StepColumns):
        steps = step_columns(steps or ()) or steps
    if isinstance(steps, StepColumns):
        busy, idle = [], []
        for piece in timeline:
            b, d = steps.within(piece.start, piece.end)
            busy.append(b)
            idle.append(d)
    else:
        busy, idle = _by_overlaps(timeline, steps or ())
    durations = [p.end - p.start for p in timeline]
    return list(zip(_normalise(busy, durations), _normalise(idle, durations), strict=True))


def _by_overlaps(
    timeline: Sequence[Tenure], steps: Sequence[UsageStep]
) -> tuple[list[float], list[float]]:
    """Each piece's usage, step by step and piece by piece: steps in any order."""
    busy = [0.0] * len(timeline)
    idle = [0.0] * len(timeline)
    for s_start, s_end, s_busy, s_idle in steps:
        width = s_end - s_start
        if width <= 0:
            continue
        for k, p in enumerate(timeline):
            lo, hi = max(s_start, p.start), min(s_end, p.end)
            if hi > lo:
                busy[k] += s_busy * (hi - lo) / width
                idle[k] += s_idle * (hi - lo) / width
    return busy, idle


def _normalise(weights: list[float], fallback: list[float]) -> list[float]:
    total = sum(weights)
    if total > 0:
        return [w / total for w in weights]
    total = sum(fallback)
    return [w / total for w in fallback] if total > 0 else [1.0 / len(fallback)] * len(fallback)


def attribute_whole(
    usage: Iterable[HostUsage], timelines: Timelines
) -> tuple[dict[tuple[str, str, str], list[float]], list[HostUsage]]:
    """CPU-seconds of the hosts that need no split, summed as [busy, idle] per
    (project, machine, user); and the hosts that do.

    A host with one piece (one owner, or nobody, for the whole window) gives its window
    usage to that piece as it is: no Share, no fractions.
    """
    by_host = timelines.by_host
    sums: dict[tuple[str, str, str], list[float]] = {}
    parted: list[HostUsage] = []
    for u in usage:
        _, host, project, machine, busy, idle = u
        timeline = by_host.get(host)
        if not timeline:
            key = (project, machine, UNATTRIBUTED)
        elif len(timeline) == 1:
            key = (project, machine, timeline[0][2])  # its user
        else:
            parted.append(u)
            continue
        cpu = sums.get(key)
        if cpu is None:
            sums[key] = [busy, idle]
        else:
            cpu[0] += busy
            cpu[1] += idle
    return sums, parted


def attribute(
    usage: Iterable[HostUsage],
    timelines: Timelines,
    steps: Mapping[tuple[str, str, str], Steps],
    start: float,
    end: float,
) -> list[Share]:
    """Split every host's window usage between the users who owned it, piece by piece."""
    shares: list[Share] = []
    for u in usage:
        timeline = timeline_for(timelines, u.host, start, end)
        if not needs_split(timeline):
            fractions = [(1.0, 1.0)]
        else:
            key = (u.instance, u.cloud_project_name, u.machine_name)
            fractions = split_fractions(timeline, steps.get(key))
        for piece, (fb, fi) in zip(timeline, fractions, strict=True):
            shares.append(
                Share(
                    u.cloud_project_name,
                    u.machine_name,
                    piece.user,
                    piece.start,
                    piece.end,
                    u.busy_seconds * fb,
                    u.idle_seconds * fi,
                )
            )
    return shares
