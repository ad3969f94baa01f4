"""The handover split: each host's window usage shared between its tenures.

* A host with one tenure (one owner, or nobody, for the whole window) gives its
  window total to it as is.
* A host whose timeline has several tenures is split using its fine-grained usage
  steps: each step is shared between the tenures it overlaps, in proportion to the
  overlap, and each tenure's share of the steps' total is applied to the window
  total. The window total per group is therefore conserved exactly. Without steps,
  or where they sum to zero, the split follows the tenures' durations (usage taken
  as steady).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from exporter.attribution.timelines import Tenure, Timelines
from exporter.model import UNATTRIBUTED, HostUsage, UsageStep


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


def attribute(
    usage: Iterable[HostUsage],
    timelines: Timelines,
    steps: Mapping[tuple[str, str, str], Sequence[UsageStep]],
    start: float,
    end: float,
) -> list[Share]:
    """Split every host's window usage between the users who owned it, piece by piece.

    ``steps``: usage steps keyed by (instance, cloud_project_name, machine_name); only
    those of hosts with several tenures matter (one tenure takes all, steps or not).
    A host no workspace owned in the window is one ``unattributed`` tenure.
    """
    shares: list[Share] = []
    for u in usage:
        timeline = timelines.by_host.get(u.host) or (Tenure(start, end, UNATTRIBUTED),)
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


def handovers(usage: Iterable[HostUsage], timelines: Timelines) -> dict[str, list[float]]:
    """The instances of the hosts that changed hands in the window (several tenures), in
    order, each with the times of its handovers: the hosts whose usage is split."""
    by_host = timelines.by_host
    return {
        u.instance: [piece.end for piece in by_host[u.host][:-1]]
        for u in sorted(usage, key=lambda u: u.instance)
        if len(by_host.get(u.host, ())) > 1
    }


def split_fractions(
    timeline: Sequence[Tenure], steps: Sequence[UsageStep] | None
) -> list[tuple[float, float]]:
    """Each piece's (busy, idle) fraction of the host's window usage.

    Each step, in any order, is shared between the pieces it overlaps in proportion
    to the overlap. A piece's usage is summed from its own steps' parts (never as a
    difference of window-long sums), so a short piece keeps its own precision.
    """
    busy = [0.0] * len(timeline)
    idle = [0.0] * len(timeline)
    for s_start, s_end, s_busy, s_idle in steps or ():
        width = s_end - s_start
        if width <= 0:
            continue
        for k, (p_start, p_end, _) in enumerate(timeline):
            lo = s_start if s_start > p_start else p_start
            hi = s_end if s_end < p_end else p_end
            if hi > lo:
                busy[k] += s_busy * (hi - lo) / width
                idle[k] += s_idle * (hi - lo) / width
    durations = [p.end - p.start for p in timeline]
    return list(zip(_normalise(busy, durations), _normalise(idle, durations), strict=True))


def _normalise(weights: list[float], fallback: list[float]) -> list[float]:
    total = sum(weights)
    if total > 0:
        return [w / total for w in weights]
    total = sum(fallback)
    return [w / total for w in fallback] if total > 0 else [1.0 / len(fallback)] * len(fallback)
