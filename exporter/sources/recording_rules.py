"""The PromQL and parsing behind ``prometheus.source: recording_rules``.

``prometheus/ada-carbon-rules.yml`` records, every ``interval`` I (1m), each
host's busy and idle CPU rate: ``rate()`` over ``range`` R (2m), summed over
cpu and mode, and of the sums that differ only in ``job`` the largest (a node
scraped by several jobs counts once at every evaluation). A rule sample r at
time e is the mean rate over [e - R, e]. The rule series keep every other
label, so they are read with ``matchers`` and ``host_label`` as the raw counters
are (but for a ``job`` matcher, which the configuration refuses), and series of
one host and group that differ in another label add up, here and in
:func:`exporter.sources.tiles.parse`. So do the series per job that a rules file
from before ``max without (job)`` records: with it, a node scraped by two jobs
still counts twice.

**Window total.** Each rule evaluation in (end - W, end] stands for I seconds
at its rate: ``I * sum_over_time(r[W - 1ms])``. This reads every sample once
(unlike a ``[W:1m]`` subquery, which resamples and may read one twice or miss
one when evaluations jitter), so consecutive windows tile the timeline with no
overlap or gap. Prometheus 2 ranges are closed at both ends and timestamps are
whole milliseconds, hence ``W - 1ms``.

A tile stands for the middle of its rate's range, [e - R/2 - I/2, e - R/2 + I/2],
so the tiles cover [first - (R + I)/2, last - (R - I)/2], where first and last
are the evaluations at either end of the window, not the window itself: they
lag the raw counters by 30 to 90 s with the defaults, and the newest evaluation
may not be written yet (it is due every I seconds, and takes a while), so the
window can hold one tile fewer than W / I. The query therefore adds two
*edges*, as ``increase()`` extrapolates to the edges of its range:

- the end: the last rate extended over g = (R - I)/2 + (end - last), from the
  end of the last tile to the end of the window (hosts without a sample in the
  last 2 I are gone and are not extended);
- the start: the first rate times h = first - (R + I)/2 - start, negative: the
  part of the first tile before the window (hosts that appeared later have no
  sample at the first evaluation and their tiles start inside the window).

Rule samples carry their scheduled evaluation times, I apart, so the last
evaluation (read from the heartbeat rule, ``vector(1)`` in the same group, so
evaluated with the rates) also places the first: the earliest of that lattice
after start. For a steady rate the edges cancel exactly when the window holds
W / I tiles, and add the missing tile when it holds one fewer. Each edge reads a
short range (2 I at the end, I at the start), so Prometheus reads each host's
window of samples once, for ``sum_over_time``. Busy and idle are two queries,
which Prometheus evaluates side by side.

**Steps.** The samples of the hosts that changed hands are read as they are (a
range selector in an instant query) and become those same tiles, each host's
last one extended by the same g (so the newest reaches the window's end), so
each owner's share is measured on the same timeline as the total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from exporter.config import RecordingRulesConfig
from exporter.model import UsageStep
from exporter.promql import exact_regex, selector, with_label
from exporter.sources import tiles

PROJECT = "cloud_project_name"  # as in exporter.sources.prometheus, which imports this module
MACHINE = "machine_name"
_Key = tuple[str, str, str]  # (instance, project, machine)
HEARTBEAT_LABEL = "ada_carbon_rules_heartbeat"  # marks the newest evaluation's time


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def total_queries(
    rules: RecordingRulesConfig,
    matchers: Mapping[str, str],
    host_label: str,
    window_seconds: float,
) -> list[str]:
    """CPU-seconds per host and group over the window, one query per class (busy, idle).

    Prometheus evaluates each query on one core, so the exporter sends the two
    together. Each sums its tiles and edges per host; the edges are labelled with
    their part, so that ``or`` keeps them for ``sum`` to add. The newest
    evaluation's time comes from the one-series heartbeat rule: read from a per-host
    series, it would cost Prometheus as much as reading every host's window, twice
    per query. The busy query also answers that time itself, as a series labelled
    ``{HEARTBEAT_LABEL}`` (see :func:`newest_evaluation`), so that a missing
    heartbeat (an older rules file) shows.
    """
    interval, rate_range = rules.interval_seconds, rules.range_seconds
    window_ms, interval_ms = _ms(window_seconds) - 1, _ms(interval)
    # A one-element vector without labels (empty, so no edges, if the rules stopped).
    last = f"max(timestamp({rules.heartbeat_metric}))"  # a checked metric name
    by = f"{host_label}, {PROJECT}, {MACHINE}"
    queries = []
    for cls, metric in (("busy", rules.busy_metric), ("idle", rules.idle_metric)):
        rate = selector(metric, matchers, {})
        parts = [f"sum_over_time({rate}[{window_ms}ms])"]
        if window_seconds > interval:
            # g: from the end of the last tile to the end of the window.
            g = f"({(rate_range - interval) / 2:g} + time() - {last})"
            # h = first - (R + I)/2 - start, the first evaluation being the earliest of
            # the lattice last - k I in [start + 1ms, start + I]; Go's fmod, dividend > 0.
            h = (
                f"(({last} - time() + {window_ms / 1000:.3f}) % {interval:g}"
                f" + 0.001 - {(rate_range + interval) / 2:g})"
            )
            r_last = f"last_over_time({rate}[{2 * interval_ms - 1}ms])"
            r_first = (
                f"last_over_time({rate}[{interval_ms - 1}ms] "
                f"offset {_ms(window_seconds) - interval_ms}ms)"
            )
            for part, sample, factor in (("end", r_last, g), ("start", r_first, h)):
                # In I-second units, as the tiles are summed; the one-element factor
                # brings the label ``part`` that keeps the edge apart for ``or``.
                weight = with_label(f"{factor} / {interval:g}", "part", part)
                parts.append(f"{sample} * on() group_left(part) {weight}")
        # A host gone early in the window (or whose load fell to nothing then) can come
        # out a little below zero: the start edge takes off up to 1.5 I of its first
        # rate. It used nothing, not less than nothing, and is still a measured host.
        total = f"clamp_min(sum by ({by}) ({' or '.join(parts)}), 0)"
        # Times I, and labelled with the class, in one operation.
        per_class = with_label(f"vector({interval:g})", "class", cls)
        query = f"{total} * on() group_left(class) {per_class}"
        if cls == "busy":
            query += f" or {with_label(last, HEARTBEAT_LABEL, 'newest')}"
        queries.append(query)
    return queries


def newest_evaluation(data: Any) -> float | None:
    """The heartbeat's newest evaluation time in a busy query's answer, if there is one."""
    for item in reversed((data or {}).get("result") or ()):
        metric, value = item.get("metric"), item.get("value")
        if isinstance(metric, dict) and HEARTBEAT_LABEL in metric and isinstance(value, list):
            try:
                return float(value[1])
            except (IndexError, TypeError, ValueError):
                return None
    return None


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
    """Turn the rule samples of some hosts (a matrix) into usage steps: see :mod:`.tiles`."""
    column = {rules.busy_metric: 0, rules.idle_metric: 1}
    return tiles.parse(
        data,
        lambda metric: column.get(str(metric.get("__name__"))),
        rules.interval_seconds,
        rules.range_seconds,
        end,
        host_label,
    )
