"""The PromQL and parsing behind ``prometheus.source: recording_rules``.

``prometheus/ada-carbon-rules.yml`` records, every ``interval`` I (1m), each
host's busy and idle CPU rate: ``rate()`` over ``range`` R (2m), summed over
cpu and mode. A rule sample r at time e is the mean rate over [e - R, e].

**Window total.** Each rule evaluation in (end - W, end] stands for I seconds
at its rate: ``I * sum_over_time(r[W - 1ms])``. This reads every sample once
(unlike a ``[W:1m]`` subquery, which resamples and may read one twice or miss
one when evaluations jitter), so consecutive windows tile the timeline with no
overlap or gap. Prometheus 2 ranges are closed at both ends and timestamps are
whole milliseconds, hence ``W - 1ms``.

A tile stands for the middle of its rate's range, [e - R/2 - I/2, e - R/2 + I/2],
so the tiles cover [start - g, end - g], where g = (R - I)/2 + (end - last
evaluation): the rules lag the raw counters by 30 to 90 s with the defaults.
Left alone, a host whose load changed during the window would be misjudged by
g x the change (5 % on a host going from 60 % to 13 % busy). So the query also
adds the *edges*, g x (r_last - r_first): the last rate extended over the final
g seconds, less the g seconds before the window that the first tiles stand for,
as ``increase()`` extrapolates to the edges of its range. For a steady rate the
edges are zero; a host that appeared or went away inside the window has its
tiles shifted by g just the same, so its own first and last rates correct them.

The query keeps Prometheus' work low, as it selects every host's series once
per function: r_last - r_first is ``delta(r[W - 1ms])``, which extrapolates
that difference from the W - I between the first and last evaluations to the
whole range (the query undoes the factor), and the time of the last evaluation
is read once, from the busy rule: both rules are one group, evaluated together.

**Steps.** The samples of the hosts that changed hands are read as they are (a
range selector in an instant query) and become those same tiles, the last one
stretched to the window's end, so each owner's share is measured on the same
timeline as the total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from exporter.config import RecordingRulesConfig
from exporter.model import UsageStep
from exporter.promql import exact_regex, selector, with_label

PROJECT = "cloud_project_name"  # as in exporter.sources.prometheus, which imports this module
MACHINE = "machine_name"
_Key = tuple[str, str, str]  # (instance, project, machine)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def total_query(
    rules: RecordingRulesConfig,
    matchers: Mapping[str, str],
    host_label: str,
    window_seconds: float,
) -> str:
    """CPU-seconds per host, group and class over the window, from the recorded rates.

    The tiles and edges of each class are labelled apart before ``or`` joins them
    (the functions drop the metric name), then added up by ``sum``.
    """
    interval, window_ms = rules.interval_seconds, _ms(window_seconds) - 1
    busy = selector(rules.busy_metric, matchers, {})
    # g, a one-element vector without labels (empty, so no edges, if the rules stopped).
    lag = f"({(rules.range_seconds - interval) / 2:g} + time() - max(timestamp({busy})))"
    # delta() scales r_last - r_first by (W - 1ms) / (W - I): undone here.
    unscale = (window_seconds - interval) / (window_seconds - 0.001)
    parts = []
    for cls, metric in (("busy", rules.busy_metric), ("idle", rules.idle_metric)):
        rate = selector(metric, matchers, {})
        tiles = f"{interval:g} * sum_over_time({rate}[{window_ms}ms])"
        parts.append(with_label(with_label(tiles, "class", cls), "part", "tiles"))
        if window_seconds > interval:
            edges = f"{unscale!r} * delta({rate}[{window_ms}ms]) * on() group_left() {lag}"
            parts.append(with_label(with_label(edges, "class", cls), "part", "edges"))
    by = f"{host_label}, {PROJECT}, {MACHINE}, class"
    # A host whose load fell to nothing right after the window started could come
    # out a little below zero; it used nothing, not less than nothing.
    return f"clamp_min(sum by ({by}) ({' or '.join(parts)}), 0)"


def steps_query(
    rules: RecordingRulesConfig,
    matchers: Mapping[str, str],
    host_label: str,
    instances: Sequence[str],
    window_seconds: float,
) -> str:
    """The rule samples of just these instances over the window (a range vector)."""
    regex = {
        "__name__": exact_regex([rules.busy_metric, rules.idle_metric]),
        host_label: exact_regex(instances),
    }
    return f"{selector('', matchers, regex)}[{_ms(window_seconds) - 1}ms]"


def parse_steps(
    data: Any, rules: RecordingRulesConfig, end: float, host_label: str = "instance"
) -> dict[_Key, list[UsageStep]]:
    """Turn the rule samples of some hosts (a matrix) into usage steps, per host and group.

    A sample at t becomes its tile, the step [t - (R + I)/2, t - (R - I)/2] at
    its rate; a last sample within I of ``end`` stretches to ``end``. Series of
    one host and group that differ in other labels (e.g. ``job``) add up; NaN,
    infinite and negative samples are ignored.
    """
    column = {rules.busy_metric: 0, rules.idle_metric: 1}
    acc: dict[_Key, dict[float, list[float]]] = {}
    for item in (data or {}).get("result") or ():
        metric = item.get("metric")
        if not isinstance(metric, dict):
            continue
        k = column.get(str(metric.get("__name__")))
        instance = metric.get(host_label)
        if k is None or not isinstance(instance, str):
            continue
        key = (instance, str(metric.get(PROJECT, "")), str(metric.get(MACHINE, "")))
        by_time = acc.setdefault(key, {})
        for t, raw in item.get("values") or ():
            rate = _rate(raw)
            at = float(t)
            if rate is None or at > end:  # none later, but an upstream may err
                continue
            row = by_time.get(at)
            if row is None:
                row = by_time[at] = [0.0, 0.0]
            row[k] += rate
    interval, back = rules.interval_seconds, (rules.range_seconds + rules.interval_seconds) / 2
    steps: dict[_Key, list[UsageStep]] = {}
    for key, by_time in acc.items():
        times = sorted(by_time)
        out = steps[key] = []
        for n, t in enumerate(times):
            start = t - back
            stop = end if n == len(times) - 1 and t > end - interval else start + interval
            busy, idle = by_time[t]
            out.append(UsageStep(start, stop, busy * (stop - start), idle * (stop - start)))
    return steps


def _rate(raw: Any) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if 0 <= value < float("inf") else None
