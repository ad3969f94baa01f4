"""The PromQL the exporter sends, in a bounded number of requests whatever the fleet size.

**Raw counters** (``prometheus.source: raw``):

1. two instant queries at the window's end, sent together (Prometheus evaluates
   a query on one core): ``increase()`` of every host's ``node_cpu_seconds_total``
   over the window, summed by host, group and ``job``, one over the busy modes and
   one over the idle ones, each sum then labelled with its ``class`` (labelling
   after summing keeps Prometheus' work per host, not per series). The idle query
   also gives the jobs that scraped a host at only one end of the window
   (:func:`scrape_flags`), so that a host scraped by two jobs counts once and a
   renamed job's two series add up (:func:`.parse.counted_once`);
2. only when some hosts changed hands: a range query, for just those hosts
   (matched by an exactly escaped regex of their ``instance`` values; a few
   queries when they are too many for one, :mod:`.batches`), of their
   busy and idle CPU rates over two steps, every step (1 minute), summed by host,
   group and ``job``, and of a host's jobs the largest (a host scraped twice counts
   once); each becomes a *tile* of usage (:func:`.parse.tiles`). ``rate()`` takes
   each series on its own, so a reset (a reboot) or a series that ends or changes
   its labels (a CPU taken offline, a renamed ``job``) stays in its own minute or
   two. The tiles only share out the window total;
3. with those, a look at each handover at the scrape interval, one range query for
   them all (:mod:`.handovers`).

**Recording rules** (``prometheus.source: recording_rules``), far cheaper on a
large fleet: ``prometheus/ada-carbon-rules.yml`` records, every ``interval`` I (1m), each
host's busy and idle CPU rate: ``rate()`` over ``range`` R (2m), summed over
cpu and mode, and of the sums that differ only in ``job`` the largest (a node
scraped by several jobs counts once at every evaluation). A rule sample r at
time e is the mean rate over [e - R, e]. The rule series keep every other
label, so they are read with ``matchers`` and ``host_label`` as the raw counters
are (but for a ``job`` matcher, which the configuration refuses), and series of
one host and group that differ in another label add up, here and in
:func:`.parse.tiles`. So do the series per job that a rules file
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

import math
from collections.abc import Sequence

from exporter.config import PrometheusConfig
from exporter.sources.prometheus.promql import exact_regex, selector, with_label

PROJECT = "cloud_project_name"
MACHINE = "machine_name"
JOB = "job"
SCRAPED = "scraped"  # the class of the flag rows in the idle answer
HEARTBEAT_LABEL = "ada_carbon_rules_heartbeat"  # marks the newest evaluation's time


# Range queries' form: VictoriaMetrics rounds a range of 50 points or more to multiples
# of its step (and each offset's range too) to cache it, unless told not to; the points
# would then fall at other times than those asked (the steps' lattice ending at the
# window's end, the look's centre + j * scrape). Prometheus ignores the parameter.
EXACT_TIMES = {"nocache": "1"}


def ms(seconds: float) -> int:
    """Whole milliseconds, as Prometheus keeps time."""
    return round(seconds * 1000)


def label_list(*names: str) -> str:
    """``a, b, c`` for a ``by`` clause, each name once (host_label may be one of the others)."""
    return ", ".join(dict.fromkeys(names))


def series(c: PrometheusConfig, modes: Sequence[str], hosts: Sequence[str] = ()) -> str:
    """The selector of the counters of these modes; of just these hosts if any are given."""
    regex = {"mode": exact_regex(modes)}
    if hosts:
        regex[c.host_label] = exact_regex(hosts)
    return selector(c.metric, c.matchers, regex)


def window_queries(
    c: PrometheusConfig, busy: Sequence[str], idle: Sequence[str], window_seconds: float
) -> list[str]:
    """The PromQL of the window totals: the busy query, then the idle one."""
    if c.source == "recording_rules":
        return rule_totals(c, window_seconds)
    span = f"{round(window_seconds)}s"
    by = label_list(c.host_label, PROJECT, MACHINE, JOB)
    busy_q = with_label(f"sum by ({by}) (increase({series(c, busy)}[{span}]))", "class", "busy")
    idle_q = with_label(f"sum by ({by}) (increase({series(c, idle)}[{span}]))", "class", "idle")
    # Where each job scraped each host, from one idle mode's series (every CPU has
    # them all): at 2,000 hosts the lookups cost Prometheus 0.10 s so, 0.18 s over
    # both idle modes, and the idle query then ends before the busy one beside it.
    flag_mode = "idle" if "idle" in idle else idle[0]
    return [busy_q, f"{idle_q} or {scrape_flags(series(c, (flag_mode,)), by, span)}"]


def scrape_flags(selected: str, by: str, span: str) -> str:
    """Per ``by`` (host, group and job) whose ``selected`` series were scraped at one end of
    the window only: 1 at its start (``span`` before the query's time), 2 at its end;
    labelled ``class="scraped"``. Scraped at both ends (3) gives no row."""
    at_start = with_label(f"group by ({by}) ({selected} offset {span})", "at", "start")
    flags = f"sum by ({by}) (2 * group by ({by}) ({selected}) or {at_start}) != 3"
    return with_label(flags, "class", SCRAPED)


def raw_steps(
    c: PrometheusConfig,
    busy: Sequence[str],
    idle: Sequence[str],
    instances: Sequence[str],
    end: float,
    window_seconds: float,
    step: float,
) -> dict[str, str]:
    """The range query's form: rates of just these instances, every ``step`` seconds."""
    # Over two steps, so that each range holds two scrapes at intervals up to a step.
    rates = class_rates(c, busy, idle, instances, f"{round(2 * step * 1000)}ms")
    # Rates every step, ending at the window's end, back to the first whose tile
    # reaches the window's start (tiles lag their rates by half a range).
    back = (2 * step + step) / 2
    count = max(0, math.ceil((window_seconds - back) / step - 1e-9))
    return {
        "query": rates,
        "start": f"{end - count * step:.3f}",
        "end": f"{end:.3f}",
        "step": f"{step:g}",
        **EXACT_TIMES,
    }


def class_rates(
    c: PrometheusConfig,
    busy: Sequence[str],
    idle: Sequence[str],
    instances: Sequence[str],
    span: str,
    offset: str = "",
) -> str:
    """Each host's busy and idle rates over ``span`` (``offset`` back, if given), labelled
    with their class, for the steps and the look at the handovers."""
    by = label_list(c.host_label, PROJECT, MACHINE)
    by_job = label_list(c.host_label, PROJECT, MACHINE, JOB)
    after = f" offset {offset}" if offset else ""
    parts = []
    for cls, modes in (("busy", busy), ("idle", idle)):
        # rate() takes each series on its own. The largest of a host's jobs at every
        # step counts a host scraped by several jobs once, and a job that starts,
        # stops or is renamed needs no flags. Taken after the sum, it costs Prometheus
        # next to nothing; per series, it doubled the query's time.
        rates = f"sum by ({by_job}) (rate({series(c, modes, instances)}[{span}]{after}))"
        parts.append(with_label(f"max by ({by}) ({rates})", "class", cls))
    return " or ".join(parts)


def rule_totals(c: PrometheusConfig, window_seconds: float) -> list[str]:
    """CPU-seconds per host and group over the window, one query per class (busy, idle).

    Prometheus evaluates each query on one core, so the exporter sends the two
    together. Each sums its tiles and edges per host; the edges are labelled with
    their part, so that ``or`` keeps them for ``sum`` to add. The newest
    evaluation's time comes from the one-series heartbeat rule: read from a per-host
    series, it would cost Prometheus as much as reading every host's window, twice
    per query. The busy query also answers that time itself, as a series labelled
    ``{HEARTBEAT_LABEL}`` (see :func:`newest_evaluation`), so that a missing
    heartbeat (an older rules file) shows, and the heartbeat's evaluations in the
    window, so that rules evaluated at another interval show too.
    """
    rules = c.recording_rules
    interval, rate_range = rules.interval_seconds, rules.range_seconds
    window_ms, interval_ms = ms(window_seconds) - 1, ms(interval)
    # A one-element vector without labels (empty, so no edges, if the rules stopped).
    last = f"max(timestamp({rules.heartbeat_metric}))"  # a checked metric name
    by = f"{c.host_label}, {PROJECT}, {MACHINE}"
    queries = []
    for cls, metric in (("busy", rules.busy_metric), ("idle", rules.idle_metric)):
        rate = selector(metric, c.matchers, {})
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
                f"offset {ms(window_seconds) - interval_ms}ms)"
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
            # And to check the rules' spacing: how many evaluations the window holds, and
            # the time from its start (excluded) to the newest (see parse.rule_evaluations).
            count = f"max(count_over_time({rules.heartbeat_metric}[{window_ms}ms]))"
            span = f"({last} - time() + {window_seconds:g})"
            for part, value in (("newest", last), ("evaluations", count), ("span", span)):
                query += f" or {with_label(value, HEARTBEAT_LABEL, part)}"
        queries.append(query)
    return queries


def rule_steps(c: PrometheusConfig, instances: Sequence[str], window_seconds: float) -> str:
    """The rule samples of just these instances over the window (a range vector)."""
    rules = c.recording_rules
    regex = {
        "__name__": exact_regex([rules.busy_metric, rules.idle_metric]),
        c.host_label: exact_regex(instances),
    }
    return f"{selector('', c.matchers, regex)}[{ms(window_seconds) - 1}ms]"
