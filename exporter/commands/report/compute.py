"""The report's arithmetic: usage summed by a key, top N, experiments' shares, workspaces.
Pure, no I/O.

Input is a list of :class:`Interval`: attributed usage (the exporter's
``Usage`` per project, machine type, facility and user) summed over the windows
ending in (start, end]. One interval covers a whole period; reports by
experiment cut the period where experiments start and end; raw reports have
one interval per window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from itertools import pairwise

from exporter.attribution.experiments import NO_EXPERIMENT, Experiment, Matcher
from exporter.equivalencies import Equivalent
from exporter.methodology import Method
from exporter.model import UNATTRIBUTED, GroupKey, Usage, WorkspaceKey
from exporter.pricing import JOULES_PER_KWH

# Report key -> the label names a row is keyed by.
KEYS: Mapping[str, tuple[str, ...]] = {
    "facility": ("facility",),
    "project": ("cloud_project_name",),
    "group": ("cloud_project_name", "machine_name"),
    "user": ("user",),
    "experiment": ("experiment",),
    "pi": ("pi",),
    "workspace": ("workspace_id", "host", "user", "cloud_project_name", "machine_name"),
}
# --every -> the columns of a row: the zone's calendar period and the hours it counts.
PERIODS: Mapping[str, tuple[str, ...]] = {p: (p, "hours") for p in ("day", "week", "month")}
_POSITION = {"cloud_project_name": 0, "machine_name": 1, "facility": 2, "user": 3}
NO_PI = "(no PI)"


@dataclass(frozen=True)
class Interval:
    """Usage over the time (start, end], unix seconds, summed over whole windows."""

    start: float
    end: float
    usage: Mapping[GroupKey, Usage]
    # The same usage per workspace, for reports by workspace (computed from raw data only).
    workspaces: Mapping[WorkspaceKey, Usage] = field(default_factory=dict)


def plus(a: Usage, b: Usage, weight: float = 1.0) -> Usage:
    """``a + weight * b``, field by field."""
    return Usage(*(x + weight * y for x, y in zip(a, b, strict=True)))


def total_of(usages: Iterable[Usage]) -> Usage:
    out = Usage()
    for u in usages:
        out = plus(out, u)
    return out


def kwh(u: Usage) -> tuple[float, float, float]:
    """Energy in kWh: (busy, idle, total)."""
    busy, idle = u.busy_joules / JOULES_PER_KWH, u.idle_joules / JOULES_PER_KWH
    return busy, idle, busy + idle


def grams(u: Usage) -> float:
    return u.busy_grams + u.idle_grams


def intensity(u: Usage) -> float | None:
    """The effective grid intensity, gCO2/kWh: grams over kWh; None without energy."""
    energy = kwh(u)[2]
    return grams(u) / energy if energy > 0 else None


def by_labels(intervals: Iterable[Interval], by: str) -> dict[tuple[str, ...], Usage]:
    """Usage summed by the labels of ``KEYS[by]`` (facility, project, group or user)."""
    positions = [_POSITION[name] for name in KEYS[by]]
    out: dict[tuple[str, ...], Usage] = {}
    for interval in intervals:
        for group, u in interval.usage.items():
            key = tuple(group[p] for p in positions)
            out[key] = plus(out.get(key, Usage()), u)
    return out


def by_experiment(
    intervals: Iterable[Interval], experiments: Sequence[Experiment], matcher: Matcher, by: str
) -> tuple[dict[tuple[str, ...], Usage], Usage]:
    """Usage per experiment (or per PI, ``by="pi"``), and the usage no experiment matched.

    Each piece of usage is shared between the experiments it matches, so the rows
    and the remainder add up to the total exactly (see :mod:`exporter.attribution.experiments`).
    """
    pi = {e.name: e.pi or NO_PI for e in experiments}
    out: dict[tuple[str, ...], Usage] = {}
    rest = Usage()
    for interval in intervals:
        for (_, machine, _, user), u in interval.usage.items():
            shares = matcher.fractions(user, machine, interval.start, interval.end)
            for name, share in shares.items():
                key = (pi[name],) if by == "pi" else (name,)
                out[key] = plus(out.get(key, Usage()), u, share)
            rest = plus(rest, u, 1.0 - sum(shares.values()))
    return out, rest


def by_workspace(intervals: Iterable[Interval]) -> tuple[dict[tuple[str, ...], Usage], Usage]:
    """Usage per workspace, and the usage of the time nobody held a host (``unattributed``).

    The rows and the remainder add up to the total of every user, ``unattributed`` included.
    """
    out: dict[tuple[str, ...], Usage] = {}
    rest = Usage()
    for interval in intervals:
        for w, u in interval.workspaces.items():
            key = (w.workspace_id, w.host, w.user, w.cloud_project_name, w.machine_name)
            out[key] = plus(out.get(key, Usage()), u)
        for (_, _, _, user), u in interval.usage.items():
            if user == UNATTRIBUTED:
                rest = plus(rest, u)
    return out, rest


@dataclass(frozen=True)
class Row:
    key: tuple[str, ...]
    usage: Usage


@dataclass(frozen=True)
class Table:
    """The rows of a report, biggest emitter first, and what the top N left out."""

    columns: tuple[str, ...]  # the label names of a row's key
    rows: tuple[Row, ...]
    other: Row | None  # the rows beyond the top N, summed
    other_count: int
    # Usage no experiment matched (by experiment or PI), or nobody held (by workspace).
    unassigned: Row | None
    total: Usage


def table(
    groups: Mapping[tuple[str, ...], Usage],
    by: str,
    top: int,
    unassigned: Usage | None = None,
    unassigned_label: str = NO_EXPERIMENT,
) -> Table:
    """Rank ``groups`` by emissions (then by key), keep ``top`` (0: all), sum the rest.

    By a calendar period (``PERIODS``), every period is shown, in order of time.
    """
    if by in PERIODS:
        columns, ranked = PERIODS[by], sorted(groups.items())
        top = 0
    else:
        columns, ranked = KEYS[by], sorted(groups.items(), key=lambda kv: (-grams(kv[1]), kv[0]))
    shown = ranked if top <= 0 else ranked[:top]
    hidden = ranked[len(shown) :]
    other = Row(("other",), total_of(u for _, u in hidden)) if hidden else None
    rest = Row((unassigned_label,), unassigned) if unassigned is not None else None
    total = total_of([*groups.values(), *([unassigned] if unassigned is not None else [])])
    return Table(columns, tuple(Row(k, u) for k, u in shown), other, len(hidden), rest, total)


@dataclass(frozen=True)
class Report:
    """Everything a rendered report shows."""

    start: float  # the period counted: from the start of its first window to the end of its last
    end: float
    by: str  # a key of KEYS, or of PERIODS (--every)
    source: str  # "exporter": its series in Prometheus; "raw": computed window by window
    origin: str  # where from, for people: a URL, or "built-in demo"
    window_seconds: float
    windows_expected: int
    windows_present: int
    table: Table
    equivalents: tuple[Equivalent, ...]
    reason: str = ""  # why this source was used, when it was not the first choice
    notes: tuple[str, ...] = ()
    embodied: bool = False  # show the embodied column (computed from raw data, with models)
    method: Method = field(
        default_factory=Method
    )  # the power models and intensity sources behind the numbers
    tz: tzinfo = timezone.utc  # the zone of --tz, that dates and calendar periods are read in
    asked: tuple[float, float] | None = None  # the period typed, when it differs from start-end


def pieces(
    start: float, end: float, window: float, boundaries: Iterable[float], longest: float
) -> list[tuple[float, float]]:
    """Cut the period (start, end] into pieces of whole windows to query one by one.

    Each boundary (an experiment's start or end) inside the period cuts it on both
    sides of the window holding it, so a piece either lies wholly inside or outside
    every experiment, or is that one window; no piece is longer than ``longest``.
    """
    grid = {start, end}
    for b in boundaries:
        around = ((b // window) * window, -(-b // window) * window)  # the window holding b
        grid.update(t for t in around if start < t < end)
    cuts = sorted(grid)
    out: list[tuple[float, float]] = []
    step = max(window, (longest // window) * window)
    for a, b in pairwise(cuts):
        while b - a > step:
            mid = ((a + step) // window) * window
            out.append((a, mid))
            a = mid
        out.append((a, b))
    return out


def covered(piece: tuple[float, float], window: float) -> tuple[float, float]:
    """The time the windows ending in a piece (a, b] cover: from the grid point at or below a."""
    a, b = piece
    return (a // window) * window, (b // window) * window
