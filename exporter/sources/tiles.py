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
from collections.abc import Callable
from typing import Any

from exporter.model import UsageStep

_Key = tuple[str, str, str]  # (instance, project, machine)
PROJECT = "cloud_project_name"
MACHINE = "machine_name"


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
    neither. Series of one host, group and class that differ in other labels (e.g.
    ``job``) add up; NaN, infinite and negative samples are ignored.
    """
    inf = math.inf
    # (instance, project, machine) -> (busy, idle), each sample time -> summed rate
    acc: dict[_Key, tuple[dict[float, float], dict[float, float]]] = {}
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
            pair = acc[key] = ({}, {})
        rates, values = pair[k], item.get("values") or ()
        try:  # the usual answer, converted in bulk
            times, numbers = zip(*values, strict=True) if values else ((), ())
            clean = dict(zip(map(float, times), map(float, numbers), strict=True))
        except (TypeError, ValueError):
            clean = None
        # NaN fails both comparisons; none later than end, but an upstream may err.
        if (
            clean is not None
            and len(clean) == len(values)
            and not rates
            and all(0.0 <= r < inf for r in clean.values())
            and max(clean, default=end) <= end
        ):
            rates.update(clean)
            continue
        for t, raw in values:
            try:
                rate = float(raw)
            except (TypeError, ValueError):
                continue
            at = float(t)
            if 0.0 <= rate < inf and at <= end:
                rates[at] = rates.get(at, 0.0) + rate
    back = (rate_range + interval) / 2
    newest = max((max(b | i) for b, i in acc.values() if b or i), default=end)
    steps: dict[_Key, list[UsageStep]] = {}
    make = UsageStep._make  # tuple.__new__: no Python-level constructor per step
    for key, (busy_at, idle_at) in acc.items():
        at_times = sorted(busy_at.keys() | idle_at.keys())
        starts = [t - back for t in at_times]
        stops = [s + interval for s in starts]
        if at_times and at_times[-1] > end - 2 * interval:  # the last tile, extended by g
            stops[-1] = at_times[-1] + (end - newest)
        widths = [b - a for a, b in zip(starts, stops, strict=True)]
        busy = [busy_at.get(t, 0.0) * w for t, w in zip(at_times, widths, strict=True)]
        idle = [idle_at.get(t, 0.0) * w for t, w in zip(at_times, widths, strict=True)]
        steps[key] = list(map(make, zip(starts, stops, busy, idle, strict=True)))
    return steps
