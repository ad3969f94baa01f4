"""Read CPU-seconds from Prometheus in a constant number of requests, whatever the fleet size.

PromQL queries, all POSTed so long selectors never hit URL limits:

1. two instant queries at the window's end, sent together (Prometheus evaluates
   a query on one core): ``increase()`` of every host's ``node_cpu_seconds_total``
   over the window, summed by host, group and ``job``, one over the busy modes and
   one over the idle ones, each sum then labelled with its ``class`` (labelling
   after summing keeps Prometheus' work per host, not per series). The idle query
   also gives the jobs that scraped a host at only one end of the window, so that
   a host scraped by two jobs counts once and a renamed job's two series add up
   (:mod:`exporter.sources.duplicates`);
2. only when some hosts changed hands: a range query, for just those hosts
   (matched by an exactly escaped regex of their ``instance`` values), of their
   busy and idle CPU rates over two steps, every step (1 minute), summed by host,
   group and ``job``, and of a host's jobs the largest (a host scraped twice counts
   once); each becomes a *tile* of usage (:mod:`exporter.sources.tiles`).
   ``rate()`` takes each series on its own, so a reset (a reboot) or a series
   that ends or changes its labels (a CPU taken offline, a renamed ``job``) stays
   in its own minute or two. The tiles only share out the window total.

With ``prometheus.source: recording_rules`` the same requests read the
per-host rates recorded by ``prometheus/ada-carbon-rules.yml`` instead, which is
far cheaper on a large fleet: see :mod:`exporter.sources.recording_rules`.

Reading and parsing are separate: :func:`parse_vector` and
:func:`exporter.sources.tiles.parse` take decoded JSON and are tested with literals.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import logging
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx

from exporter.attribution.hosts import host_key, host_keys
from exporter.config import PrometheusConfig
from exporter.model import HostUsage, SourceError, UsageStep
from exporter.promql import exact_regex, selector, with_label
from exporter.sources import recording_rules, tiles
from exporter.sources.duplicates import FLAGS, JOB, SCRAPED, counted_once, scrape_flags

log = logging.getLogger(__name__)
PROJECT = "cloud_project_name"
MACHINE = "machine_name"
_Key = tuple[str, str, str]  # (instance, project, machine)
_JobKey = tuple[str, str, str, str]  # (instance, project, machine, job)
# Flat: most hosts have one job, and a dict of jobs per host cost more to build and
# fold than the rest of the parse; the rare hosts with several are gathered at the end.
_Totals = dict[_JobKey, list[float]]  # -> [busy, idle]
_Flags = dict[_Key, dict[str, int]]  # host and group -> job -> where scraped (duplicates.py)


class PrometheusUsage:
    """A UsageSource over the Prometheus HTTP API (also Thanos, Mimir, VictoriaMetrics)."""

    def __init__(
        self,
        client: httpx.Client,
        config: PrometheusConfig,
        busy_modes: Sequence[str],
        idle_modes: Sequence[str],
    ) -> None:
        self._client = client
        self._config = config
        self._busy = tuple(busy_modes)
        self._idle = tuple(idle_modes)
        self._base = config.url.rstrip("/")
        self._rules = config.recording_rules if config.source == "recording_rules" else None
        self.requests = 0
        self._count_lock = threading.Lock()  # the steps may be asked for beside the totals
        # The idle total is asked for beside the busy one (threads start when first used).
        self._beside = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="prometheus")
        self._heartbeat_seen: bool | None = None

    def close(self) -> None:
        """Stop the thread that asks for the idle total (a call in flight runs out its timeout)."""
        self._beside.shutdown(wait=False, cancel_futures=True)

    def window_queries(self, window_seconds: float) -> list[str]:
        """The PromQL of the window totals: the busy query, then the idle one."""
        c = self._config
        if self._rules is not None:
            return recording_rules.total_queries(
                self._rules, c.matchers, c.host_label, window_seconds
            )
        span = f"{round(window_seconds)}s"
        by = _label_list(c.host_label, PROJECT, MACHINE, JOB)
        busy_series, idle_series = self._series(self._busy), self._series(self._idle)
        busy = with_label(f"sum by ({by}) (increase({busy_series}[{span}]))", "class", "busy")
        idle = with_label(f"sum by ({by}) (increase({idle_series}[{span}]))", "class", "idle")
        # Where each job scraped each host, from one idle mode's series (every CPU has
        # them all): at 2,000 hosts the lookups cost Prometheus 0.10 s so, 0.18 s over
        # both idle modes, and the idle query then ends before the busy one beside it.
        flag_mode = "idle" if "idle" in self._idle else self._idle[0]
        return [busy, f"{idle} or {scrape_flags(self._series((flag_mode,)), by, span)}"]

    def _series(self, modes: Sequence[str], hosts_regex: str = "") -> str:
        """The selector of the counters of these modes; of just these hosts if a regex is given."""
        regex = {"mode": exact_regex(modes)}
        if hosts_regex:
            regex[self._config.host_label] = hosts_regex
        return selector(self._config.metric, self._config.matchers, regex)

    def window_usage(self, end: datetime, window_seconds: float) -> list[HostUsage]:
        """CPU-seconds per host and group over (end - window, end]: two requests, side by side.

        Each answer is parsed in the thread that received it, while the other may still
        be in flight.
        """
        at = f"{end.timestamp():.3f}"
        busy_query, idle_query = self.window_queries(window_seconds)
        idle = self._beside.submit(self._vector_totals, idle_query, at)
        try:
            busy = self._post("/api/v1/query", {"query": busy_query, "time": at}, "vector")
            totals: _Totals = {}
            flags: _Flags = {}
            with _shape_errors("/api/v1/query"):
                _add_vector(totals, busy, self._config.host_label, flags)
                if self._rules is not None:
                    self._check_heartbeat(recording_rules.newest_evaluation(busy))
            idle_totals, idle_flags = idle.result()  # its SourceError, if any, is raised here
        finally:
            idle.cancel()
        for key, (b, i) in idle_totals.items():
            row = totals.get(key)
            if row is None:
                totals[key] = [b, i]
            else:
                row[0] += b
                row[1] += i
        for host, by_job in idle_flags.items():
            flags.setdefault(host, {}).update(by_job)
        return _usage_rows(totals, flags)[0]

    def _vector_totals(self, query: str, at: str) -> tuple[_Totals, _Flags]:
        """One window query's answer, parsed where it arrived (beside the other's request)."""
        data = self._post("/api/v1/query", {"query": query, "time": at}, "vector")
        totals: _Totals = {}
        flags: _Flags = {}
        with _shape_errors("/api/v1/query"):
            _add_vector(totals, data, self._config.host_label, flags)
        return totals, flags

    def _check_heartbeat(self, newest: float | None) -> None:
        """Log when the rules' heartbeat goes missing or comes back (not at every scrape)."""
        seen = newest is not None
        if seen == self._heartbeat_seen:
            return
        if not seen:
            assert self._rules is not None
            log.warning(
                "Prometheus has no sample of %s in the last 5 minutes: the recording rules "
                "have stopped, or were loaded from a prometheus/ada-carbon-rules.yml older "
                "than this exporter. Until it is back, the window totals leave out their "
                "edges: each host's may be off by up to %g s of its usage.",
                self._rules.heartbeat_metric,
                2 * self._rules.interval_seconds,
            )
        elif self._heartbeat_seen is not None:
            log.info("The recording rules' heartbeat is back: the window totals are whole again")
        self._heartbeat_seen = seen

    def usage_steps(
        self, instances: Sequence[str], end: datetime, window_seconds: float, step_seconds: float
    ) -> dict[_Key, list[UsageStep]]:
        """Per-step usage of just these instances over the window: one request for all of them."""
        if not instances:
            return {}
        if self._rules is not None:
            c = self._config
            query = recording_rules.steps_query(
                self._rules, c.matchers, c.host_label, instances, window_seconds
            )
            at = round(end.timestamp(), 3)  # as sent: rule samples may be stamped at it
            data = self._post("/api/v1/query", {"query": query, "time": f"{at:.3f}"}, "matrix")
            with _shape_errors("/api/v1/query"):
                return recording_rules.parse_steps(data, self._rules, at, c.host_label)
        hosts = exact_regex(instances)
        # Over two steps, so that each range holds two scrapes at intervals up to a step.
        span = f"{round(2 * step_seconds * 1000)}ms"
        by = _label_list(self._config.host_label, PROJECT, MACHINE)
        by_job = _label_list(self._config.host_label, PROJECT, MACHINE, JOB)
        parts = []
        for cls, modes in (("busy", self._busy), ("idle", self._idle)):
            # rate() takes each series on its own. The largest of a host's jobs at every
            # step counts a host scraped by several jobs once, and a job that starts,
            # stops or is renamed needs no flags. Taken after the sum, it costs Prometheus
            # next to nothing; per series, it doubled the query's time.
            rates = f"sum by ({by_job}) (rate({self._series(modes, hosts)}[{span}]))"
            parts.append(with_label(f"max by ({by}) ({rates})", "class", cls))
        query = " or ".join(parts)
        # Rates every step, ending at the window's end, back to the first whose tile
        # reaches the window's start (tiles lag their rates by half a range).
        # Prometheus evaluates at whole milliseconds: parse against the end it was sent.
        t_end, rate_range = round(end.timestamp(), 3), 2 * step_seconds
        back = (rate_range + step_seconds) / 2
        count = max(0, math.ceil((window_seconds - back) / step_seconds - 1e-9))
        form = {
            "query": query,
            "start": f"{t_end - count * step_seconds:.3f}",
            "end": f"{t_end:.3f}",
            "step": f"{step_seconds:g}",
        }
        data = self._post("/api/v1/query_range", form, "matrix")
        with _shape_errors("/api/v1/query_range"):
            return tiles.parse(
                data, _class_column, step_seconds, rate_range, t_end, self._config.host_label
            )

    def _post(self, path: str, form: dict[str, str], result_type: str) -> Any:
        with self._count_lock:
            self.requests += 1
        try:
            response = self._client.post(
                self._base + path, data=form, timeout=self._config.timeout_seconds
            )
        except httpx.HTTPError as exc:
            raise SourceError(f"{type(exc).__name__} from {path}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SourceError(f"HTTP {response.status_code} from {path} without a JSON body")
        if body.get("status") != "success":
            raise SourceError(
                f"HTTP {response.status_code} from {path}: "
                f"{body.get('errorType', 'error')}: {str(body.get('error', ''))[:200]}"
            )
        if body.get("warnings"):
            # Thanos and friends answer 200 with warnings when some stores failed:
            # the data may be partial, and a partial total must not pass as complete.
            raise SourceError(f"partial answer from {path}: {str(body['warnings'])[:200]}")
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("result"), list):
            # An answer without a result list is no answer, not an empty fleet.
            raise SourceError(f"malformed answer from {path}: no data.result list")
        got = data.get("resultType", result_type)
        if got != result_type:
            # Its series would all be skipped: an empty fleet that looks like an answer.
            raise SourceError(
                f"malformed answer from {path}: a {got} where a {result_type} was due"
            )
        return data


@contextmanager
def _shape_errors(path: str) -> Iterator[None]:
    """Turn an answer of the wrong shape (``data`` a list, a series a string...) into a
    SourceError: the whole answer is refused, as a part of it may be missing."""
    try:
        yield
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {exc}"[:200]
        raise SourceError(f"malformed answer from {path}: {detail}") from exc


def _label_list(*names: str) -> str:
    """``a, b, c`` for a ``by`` clause, each name once (host_label may be one of the others)."""
    return ", ".join(dict.fromkeys(names))


_COLUMN: dict[object, int] = {"busy": 0, "idle": 1}  # a class -> its place in [busy, idle]
_INF = math.inf


def parse_vector(data: Any, host_label: str = "instance") -> tuple[list[HostUsage], int]:
    """Turn an instant-query answer into HostUsage rows; also count unmatchable instances.

    Series with NaN, Inf or negative values, or without the host label, are ignored.
    A host's rows from several jobs count once (:mod:`exporter.sources.duplicates`).
    """
    totals: _Totals = {}
    flags: _Flags = {}
    _add_vector(totals, data, host_label, flags)
    return _usage_rows(totals, flags)


def _add_vector(totals: _Totals, data: Any, host_label: str, flags: _Flags) -> None:
    """Add an instant-query answer's busy and idle values to ``totals``, per host, group
    and job, and its scrape flags to ``flags``.

    Series without a string class and host label, or whose value is not a finite
    number of at least 0, are passed over. One loop without calls per series: at
    10,000 hosts an answer has 10,000 of them, and the last answer's parse is part of
    the scrape.
    """
    column, get_row = _COLUMN.get, totals.get
    for item in (data or {}).get("result") or ():
        metric, value = item.get("metric"), item.get("value")
        if not isinstance(metric, dict) or not isinstance(value, list) or len(value) != 2:
            continue
        cls, instance = metric.get("class"), metric.get(host_label)
        if not isinstance(instance, str) or not isinstance(cls, str):
            continue
        try:
            number = float(value[1])
        except (TypeError, ValueError):
            continue
        if not 0.0 <= number < _INF:  # nor NaN
            continue
        project, machine, job = (
            metric.get(PROJECT, ""),
            metric.get(MACHINE, ""),
            metric.get(JOB, ""),
        )
        key = (
            instance,
            project if isinstance(project, str) else str(project),
            machine if isinstance(machine, str) else str(machine),
            job if isinstance(job, str) else str(job),
        )
        k = column(cls)
        if k is None:
            if cls == SCRAPED and number in FLAGS:
                flags.setdefault(key[:3], {})[key[3]] = FLAGS[number]
            continue
        row = get_row(key)
        if row is None:
            row = totals[key] = [0.0, 0.0]
        row[k] += number


def _usage_rows(totals: _Totals, flags: _Flags) -> tuple[list[HostUsage], int]:
    """A row per host and group, and how many instances are not host names.

    With one job (or none) in the answer, each host and group has one total, and the
    rows are made in C, in the answer's order; with several, :func:`_folded_rows`.
    """
    if not totals:
        return [], 0
    instances, projects, machines, jobs = zip(*totals, strict=True)
    if len(set(jobs)) > 1:
        return _folded_rows(totals, flags)
    busy, idle = zip(*totals.values(), strict=True)
    hosts = host_keys(instances)  # strings: _add_vector keeps no other instance
    unparsed = hosts.count(None)
    if unparsed:  # still measured, as their own host: they land in "unattributed"
        hosts = [h if h is not None else i for h, i in zip(hosts, instances, strict=True)]
    rows = zip(instances, hosts, projects, machines, busy, idle, strict=True)
    return list(map(tuple.__new__, itertools.repeat(HostUsage), rows)), unparsed


def _folded_rows(totals: _Totals, flags: _Flags) -> tuple[list[HostUsage], int]:
    """The rows of an answer with several jobs: a host's rows per job count once."""
    usage: list[HostUsage] = []
    unparsed = 0
    several: dict[int, dict[str, list[float]]] = {}  # usage row -> its host's rows per job
    last: _JobKey | None = None
    for key, row in sorted(totals.items()):  # a host's rows per job side by side
        instance, project, machine, job = key
        if last and instance == last[0] and project == last[1] and machine == last[2]:
            several.setdefault(len(usage) - 1, {last[3]: totals[last]})[job] = row
            continue
        last = key
        host = host_key(instance)
        if host is None:
            unparsed += 1
            host = instance  # still measured: it lands in "unattributed", never dropped
        usage.append(HostUsage(instance, host, project, machine, row[0], row[1]))
    for n, jobs in several.items():
        u = usage[n]
        busy, idle = counted_once(
            jobs, flags.get((u.instance, u.cloud_project_name, u.machine_name), {})
        )
        usage[n] = u._replace(busy_seconds=busy, idle_seconds=idle)
    return usage, unparsed


def _class_column(metric: dict[str, Any]) -> int | None:
    """A raw steps series' class, from the ``class`` label: 0 busy, 1 idle."""
    return {"busy": 0, "idle": 1}.get(str(metric.get("class")))
