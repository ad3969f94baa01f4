"""Prometheus' answers read into window totals per host and usage steps: pure functions.

A value that is not a finite number of at least 0 is passed over; an answer that
had series but not one usable value is refused (a :class:`SourceError`), not taken
for an empty fleet.

**A host scraped by several jobs counts once** (:func:`counted_once`).
When two scrape jobs scrape one node_exporter, each of its series exists twice,
differing in ``job`` (and perhaps other target labels), and summing them counts
the host twice. Taking the largest per job is no answer either: a renamed job
also leaves two series, one up to the rename and one after it, which add up.
An instant query cannot see when each series had samples, so the raw window
query sums ``increase()`` per host, group *and job*, and the idle query adds the
jobs that scraped a host at only one end of the window: 1 at its start (the job
stopped inside it), 2 at its end (it started) (:func:`.queries.scrape_flags`). Every
other job is taken as scraped at both ends, which is almost all of them, so the
answer grows only by the hosts whose jobs changed. From these,
:func:`counted_once` takes

- the largest of the jobs scraped at both ends, if any: each of them saw the
  whole window (the others were duplicates that started or stopped inside it);
- otherwise, the largest of the jobs that stopped plus the largest of those that
  started: the parts of the window before and after a rename, each counted once.

The flags come from the series of one idle mode (one per CPU: a node_exporter
exports every mode for every CPU), by two instant lookups that cost Prometheus
less than the busy query it runs beside. A job whose last
scrape at either end failed (marked stale) is only taken as stopped there, which
is harmless while another job saw the whole window. Rarer cases still come out
short, as a job scraped at neither end is taken as scraped at both: a job renamed
twice in one window, or renamed and failing its scrape at the window's end (then
only the part after the rename counts). A host with one job (the usual case) is
its one row, unchanged: ``increase()`` still handles each series on its own,
counter resets included.

**Usage steps** (:func:`tiles`) come from per-host CPU rates sampled every I
seconds, each over a range R. Both the recording rules (I = 1m, R = 2m) and,
for the raw counters, the split steps (I = ``split_step``, R = 2 I, so that each
range holds two scrapes at scrape intervals up to I) give such rates. ``rate()``
takes each series on its own, so a counter reset, a series that ends (a CPU taken
offline) or a relabelled target (``job`` renamed) moves at most a range's worth of
that series.

A rate r sampled at t is the mean over [t - R, t]; it becomes its *tile*, the
step [t - (R + I)/2, t - (R - I)/2] at rate r, centred on its range, so that
consecutive samples' tiles meet. A host's last sample within 2 I of ``end`` is
extended by g = (R - I)/2 + (end - newest sample), so the newest samples' tiles
reach ``end`` (the same edge as the recording rules' window total).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from exporter.attribution.hosts import host_key
from exporter.config import RecordingRulesConfig
from exporter.model import HostUsage, SourceError, UsageStep
from exporter.sources.prometheus.queries import HEARTBEAT_LABEL, JOB, MACHINE, PROJECT, SCRAPED

Key = tuple[str, str, str]  # (instance, project, machine)
Totals = dict[tuple[str, str, str, str], list[float]]  # (*Key, job) -> [busy, idle]
Flags = dict[Key, dict[str, int]]  # host and group -> job -> where scraped
STOPPED, STARTED, WHOLE = 1, 2, 3
FLAGS = {1.0: STOPPED, 2.0: STARTED}  # a flag row's value; any other is no flag
CLASSES = {"busy": 0, "idle": 1}


def number(raw: Any) -> float | None:
    """A sample's value if it is a finite number of at least 0, else None."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if 0.0 <= value < math.inf else None


def unusable(series: int, where: str) -> SourceError:
    """The error of an answer with ``series`` series of usage and not one usable value."""
    return SourceError(
        f"unusable answer from Prometheus ({where}): {series} series, "
        "none with a value that is a finite number of at least 0"
    )


def add_vector(result: Any, host_label: str, totals: Totals, flags: Flags) -> None:
    """Add an instant-query answer's busy and idle values to ``totals``, per host, group
    and job, and its scrape flags to ``flags``. Series without a string class and host
    label are passed over."""
    usable = bad = 0
    for item in result or ():
        row = _row(item, host_label)
        if row is None:
            continue
        cls, key, got = row
        if cls == SCRAPED and got in FLAGS:
            flags.setdefault(key[:3], {})[key[3]] = FLAGS[got]
        elif cls in CLASSES:
            if got is None:
                bad += 1
                continue
            usable += 1
            totals.setdefault(key, [0.0, 0.0])[CLASSES[cls]] += got
    if bad and not usable:
        raise unusable(bad, "window totals")


def _row(item: Any, host_label: str) -> tuple[str, tuple[str, str, str, str], float | None] | None:
    """A series' class, (instance, project, machine, job) and value, if it has a class."""
    metric, value = item.get("metric"), item.get("value")
    if not isinstance(metric, dict):
        return None
    cls, instance = metric.get("class"), metric.get(host_label)
    if not isinstance(instance, str) or not isinstance(cls, str):
        return None
    project, machine, job = (
        _text(metric.get(PROJECT, "")),
        _text(metric.get(MACHINE, "")),
        _text(metric.get(JOB, "")),
    )
    got = number(value[1]) if isinstance(value, list) and len(value) == 2 else None
    return cls, (instance, project, machine, job), got


def _text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def usage_rows(totals: Totals, flags: Flags) -> tuple[list[HostUsage], int]:
    """A row per host and group, in order, and how many instances are not host names
    (still measured, as their own host: they land in "unattributed", never dropped)."""
    jobs: dict[Key, dict[str, list[float]]] = {}
    for (instance, project, machine, job), row in sorted(totals.items()):
        jobs.setdefault((instance, project, machine), {})[job] = row
    usage: list[HostUsage] = []
    unparsed = 0
    for key, by_job in jobs.items():
        host = host_key(key[0])
        if host is None:
            unparsed += 1
        busy, idle = counted_once(by_job, flags.get(key, {}))
        usage.append(HostUsage(key[0], host or key[0], key[1], key[2], busy, idle))
    return usage, unparsed


def parse_vector(data: Any, host_label: str = "instance") -> tuple[list[HostUsage], int]:
    """Turn an instant-query answer (``data``) into HostUsage rows; also count the
    instances that are not host names."""
    totals: Totals = {}
    flags: Flags = {}
    add_vector((data or {}).get("result"), host_label, totals, flags)
    return usage_rows(totals, flags)


def counted_once(jobs: Mapping[str, list[float]], flags: Mapping[str, int]) -> tuple[float, float]:
    """A host's busy and idle CPU-seconds from its rows per job, each part of the
    window counted once (see the module's docstring)."""
    largest: dict[int, list[float]] = {}
    for job, (busy, idle) in jobs.items():
        part = largest.setdefault(flags.get(job, WHOLE), [0.0, 0.0])
        part[0] = max(part[0], busy)
        part[1] = max(part[1], idle)
    whole = largest.get(WHOLE)
    if whole is not None:
        return whole[0], whole[1]
    stopped, started = (largest.get(flag, [0.0, 0.0]) for flag in (STOPPED, STARTED))
    return stopped[0] + started[0], stopped[1] + started[1]


def newest_evaluation(result: Any) -> float | None:
    """The heartbeat's newest evaluation time in a busy rules query's answer, if any."""
    return _heartbeat(result, "newest")


def rule_evaluations(result: Any, interval_seconds: float) -> tuple[int, int] | None:
    """The rules' evaluations in the window, as the heartbeat saw them and as many as
    one every ``interval_seconds`` back from the newest makes; None without a heartbeat.

    ``span`` (the time from the window's start, excluded, to the newest evaluation) is
    rounded to whole milliseconds, as Prometheus keeps time, so the count is exact."""
    seen, span = _heartbeat(result, "evaluations"), _heartbeat(result, "span")
    if seen is None or span is None:
        return None
    span_ms, interval_ms = round(span * 1000), round(interval_seconds * 1000)
    expected = (span_ms - 1) // interval_ms + 1 if span_ms > 0 else 0
    return round(seen), expected


def _heartbeat(result: Any, part: str) -> float | None:
    for item in result or ():
        metric, value = item.get("metric"), item.get("value")
        ours = isinstance(metric, dict) and metric.get(HEARTBEAT_LABEL) == part
        if ours and isinstance(value, list) and len(value) == 2:
            return number(value[1])
    return None


_Series = dict[float, float]  # sample time -> rate


def tiles(
    result: Any,
    label: str,
    columns: Mapping[str, int],
    interval: float,
    rate_range: float,
    end: float,
    host_label: str = "instance",
) -> dict[Key, list[UsageStep]]:
    """Turn a matrix of per-host rates, sampled every ``interval``, into usage steps.

    A series' class is in its ``label``: ``columns`` maps its values to 0 busy, 1 idle
    (a series of another value is passed over). Series of one host, group and class
    that differ in other labels add up, as they do in the window total (a host seen
    by several scrape jobs already counts once in the rates given: the raw steps
    query and the recording rules take the largest job).
    """
    acc = _rates(result, label, columns, end, host_label)
    newest = max((t for pair in acc.values() for c in pair for t in c), default=end)
    return {key: _tiled(b, i, interval, rate_range, end, newest) for key, (b, i) in acc.items()}


def _rates(
    result: Any, label: str, columns: Mapping[str, int], end: float, host_label: str
) -> dict[Key, tuple[_Series, _Series]]:
    """Each host and group's busy and idle rates by time, series of a class added up."""
    acc: dict[Key, tuple[_Series, _Series]] = {}
    samples = usable = 0
    for item in result or ():
        metric = item.get("metric")
        k = columns.get(str(metric.get(label))) if isinstance(metric, dict) else None
        if k is None or not isinstance(metric.get(host_label), str):
            continue
        key = (metric[host_label], str(metric.get(PROJECT, "")), str(metric.get(MACHINE, "")))
        values = item.get("values") or ()
        samples += len(values)
        usable += _add_samples(acc.setdefault(key, ({}, {}))[k], values, end)
    if samples and not usable:
        raise unusable(samples, "usage steps")
    return acc


def _add_samples(rates: _Series, values: Any, end: float) -> int:
    """Add a series' usable samples up to ``end`` to ``rates``; how many there were."""
    usable = 0
    for t, raw in values:
        when, rate = float(t), number(raw)  # no time: a malformed answer
        if rate is not None and when <= end:
            usable += 1
            rates[when] = rates.get(when, 0.0) + rate
    return usable


def _tiled(
    busy: _Series, idle: _Series, interval: float, rate_range: float, end: float, newest: float
) -> list[UsageStep]:
    """A host's tiles: each sample's rate over its step, the last one reaching ``end``."""
    at_times = sorted(busy.keys() | idle.keys())
    back = (rate_range + interval) / 2
    steps = []
    for t in at_times:
        start, stop = t - back, t - back + interval
        if t == at_times[-1] and t > end - 2 * interval:  # the last tile, extended by g
            stop = t + (end - newest)
        width = stop - start
        steps.append(UsageStep(start, stop, busy.get(t, 0.0) * width, idle.get(t, 0.0) * width))
    return steps


def rule_steps(
    result: Any, rules: RecordingRulesConfig, end: float, host_label: str = "instance"
) -> dict[Key, list[UsageStep]]:
    """Turn the rule samples of some hosts (a matrix) into usage steps: see :func:`tiles`."""
    columns = {rules.busy_metric: 0, rules.idle_metric: 1}
    interval, rate_range = rules.interval_seconds, rules.range_seconds
    return tiles(result, "__name__", columns, interval, rate_range, end, host_label)
