"""Usage steps from per-host CPU rates sampled every I seconds, each over a range R.

Both the recording rules (I = 1m, R = 2m) and, for the raw counters, the split
steps (I = ``split_step``, R = 2 I, so that each range holds two scrapes at
scrape intervals up to I) give such rates. ``rate()`` takes each series on its
own, so a counter reset, a series that ends (a CPU taken offline) or a relabelled
target (``job`` renamed) moves at most a range's worth of that series.

A rate r sampled at t is the mean over [t - R, t]; it becomes its *tile*, the
step [t - (R + I)/2, t - (R - I)/2] at rate r, centred on its range, so that
consecutive samples' tiles meet. A host's last sample within 2 I of ``end`` is
extended by g = (R - I)/2 + (end - newest sample), so the newest samples' tiles
reach ``end`` (the same edge as the recording rules' window total).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

from exporter.model import UsageStep

_Key = tuple[str, str, str]  # (instance, project, machine)
PROJECT = "cloud_project_name"
MACHINE = "machine_name"


_Series = tuple[tuple[float, ...], tuple[float, ...]]  # ascending sample times, rates


def parse(
    data: Any,
    column_of: Callable[[dict[str, Any]], int | None],
    interval: float,
    rate_range: float,
    end: float,
    host_label: str = "instance",
) -> dict[_Key, list[UsageStep]]:
    """Turn a matrix of per-host rates, sampled every ``interval``, into usage steps.

    ``column_of`` tells a series' class from its labels: 0 busy, 1 idle, None
    neither. Series of one host, group and class that differ in other labels add
    up, as they do in the window total (a host seen by several scrape jobs already
    counts once in the rates given: the raw steps query and the recording rules
    take the largest job); NaN, infinite and negative samples are ignored.
    """
    # (instance, project, machine) -> (busy series, idle series)
    acc: dict[_Key, tuple[list[_Series], list[_Series]]] = {}
    for item in (data or {}).get("result") or ():
        metric = item.get("metric")
        if not isinstance(metric, dict):
            continue
        k = column_of(metric)
        instance = metric.get(host_label)
        if k is None or not isinstance(instance, str):
            continue
        key = (instance, str(metric.get(PROJECT, "")), str(metric.get(MACHINE, "")))
        pair = acc.get(key)
        if pair is None:
            pair = acc[key] = ([], [])
        series = _series(item.get("values") or (), end)
        if series[0]:
            pair[k].append(series)
    back = (rate_range + interval) / 2
    newest = max((s[0][-1] for pair in acc.values() for c in pair for s in c), default=end)
    steps: dict[_Key, list[UsageStep]] = {}
    make = UsageStep._make  # tuple.__new__: no Python-level constructor per step
    for key, (busy_series, idle_series) in acc.items():
        at_times, busy_rates, idle_rates = _aligned(_merged(busy_series), _merged(idle_series))
        starts = [t - back for t in at_times]
        stops = [s + interval for s in starts]
        if at_times and at_times[-1] > end - 2 * interval:  # the last tile, extended by g
            stops[-1] = at_times[-1] + (end - newest)
        widths = list(map(operator.sub, stops, starts))
        busy = list(map(operator.mul, busy_rates, widths))
        idle = list(map(operator.mul, idle_rates, widths))
        steps[key] = list(map(make, zip(starts, stops, busy, idle, strict=True)))
    return steps


def _series(values: Any, end: float) -> _Series:
    """A series' samples up to ``end`` with a finite rate of at least 0, by time."""
    try:  # the usual answer, checked and converted in bulk
        times, numbers = zip(*values, strict=True) if values else ((), ())
        at, rates = tuple(map(float, times)), tuple(map(float, numbers))
    except (TypeError, ValueError):
        pass
    else:  # NaN fails both comparisons
        if not at or (
            min(rates) >= 0.0
            and sum(rates) < math.inf
            and at[-1] <= end
            and all(map(operator.lt, at, at[1:]))
        ):
            return at, rates
    summed: dict[float, float] = {}
    for t, raw in values:
        when = float(t)  # a sample without a time is a malformed answer: the caller's error
        try:
            rate = float(raw)
        except (TypeError, ValueError):
            continue
        if 0.0 <= rate < math.inf and when <= end:
            summed[when] = summed.get(when, 0.0) + rate
    return _by_time(summed)


def _by_time(summed: dict[float, float]) -> _Series:
    ordered = sorted(summed.items())
    return tuple(t for t, _ in ordered), tuple(r for _, r in ordered)


def _merged(series: list[_Series]) -> _Series:
    """One class's series of a host added up (one, but for a relabelled target)."""
    if len(series) == 1:
        return series[0]
    summed: dict[float, float] = {}
    for at, rates in series:
        for t, r in zip(at, rates, strict=True):
            summed[t] = summed.get(t, 0.0) + r
    return _by_time(summed)


def _aligned(busy: _Series, idle: _Series) -> tuple[Sequence[float], ...]:
    """Sample times and the busy and idle rate at each (0 where a class has none)."""
    if busy[0] == idle[0]:  # the usual case: both read at the same evaluations
        return busy[0], busy[1], idle[1]
    at_times = sorted(set(busy[0]) | set(idle[0]))
    by_class = [dict(zip(*s, strict=True)) for s in (busy, idle)]
    return at_times, *([d.get(t, 0.0) for t in at_times] for d in by_class)
