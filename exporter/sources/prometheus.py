"""Read CPU-seconds from Prometheus in a constant number of requests, whatever the fleet size.

Two PromQL queries, both POSTed so long selectors never hit URL limits:

1. an instant query at the window's end: ``increase()`` of every host's
   ``node_cpu_seconds_total`` over the window, summed by host, group and a
   ``class`` label (busy or idle) derived from ``mode``;
2. only when some hosts changed hands: a range query of the same sum, without
   ``increase``, for just those hosts (matched by an exactly escaped regex of
   their ``instance`` values), at a 1 minute step; consecutive differences give
   the usage per step.

Reading and parsing are separate: :func:`parse_vector` and
:func:`parse_matrix` take decoded JSON and are tested with literals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any

import httpx

from exporter.config import PrometheusConfig
from exporter.hosts import host_key
from exporter.model import HostUsage, SourceError, UsageStep
from exporter.promql import classify_modes, exact_regex, selector

PROJECT = "cloud_project_name"
MACHINE = "machine_name"
_Key = tuple[str, str, str]  # (instance, project, machine)


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
        self.requests = 0
        self.unparsed_instances = 0  # instances whose host part is not a host name

    def window_query(self, window_seconds: float, hosts_regex: str | None = None) -> str:
        """The PromQL of the window total (or, with a regex, of the raw counters of some hosts)."""
        regex = {"mode": exact_regex(self._busy + self._idle)}
        if hosts_regex is not None:
            regex[self._config.host_label] = hosts_regex
        series = selector(self._config.metric, self._config.matchers, regex)
        if hosts_regex is None:
            series = f"increase({series}[{round(window_seconds)}s])"
        by = f"{self._config.host_label}, {PROJECT}, {MACHINE}, class"
        return f"sum by ({by}) ({classify_modes(series, self._busy, self._idle)})"

    def window_usage(self, end: datetime, window_seconds: float) -> list[HostUsage]:
        """CPU-seconds per host and group over (end - window, end]: one request."""
        query = self.window_query(window_seconds)
        data = self._post("/api/v1/query", {"query": query, "time": f"{end.timestamp():.3f}"})
        usage, unparsed = parse_vector(data, self._config.host_label)
        self.unparsed_instances = unparsed
        return usage

    def usage_steps(
        self, instances: Sequence[str], end: datetime, window_seconds: float, step_seconds: float
    ) -> dict[_Key, list[UsageStep]]:
        """Per-step usage of just these instances over the window: one request for all of them."""
        if not instances:
            return {}
        query = self.window_query(window_seconds, exact_regex(instances))
        t_end = end.timestamp()
        form = {
            "query": query,
            "start": f"{t_end - window_seconds:.3f}",
            "end": f"{t_end:.3f}",
            "step": f"{step_seconds:g}",
        }
        return parse_matrix(self._post("/api/v1/query_range", form), self._config.host_label)

    def _post(self, path: str, form: dict[str, str]) -> Any:
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
        return body.get("data")


def _labels_and_class(metric: Any, host_label: str) -> tuple[_Key, str] | None:
    if not isinstance(metric, dict):
        return None
    cls = metric.get("class")
    instance = metric.get(host_label)
    if cls not in ("busy", "idle") or not isinstance(instance, str):
        return None
    return (instance, str(metric.get(PROJECT, "")), str(metric.get(MACHINE, ""))), cls


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def parse_vector(data: Any, host_label: str = "instance") -> tuple[list[HostUsage], int]:
    """Turn an instant-query answer into HostUsage rows; also count unmatchable instances.

    Series with NaN, Inf or negative values, or without the host label, are ignored.
    """
    totals: dict[_Key, dict[str, float]] = {}
    for item in (data or {}).get("result") or ():
        parsed = _labels_and_class(item.get("metric"), host_label)
        value = item.get("value")
        number = _finite(value[1]) if isinstance(value, list) and len(value) == 2 else None
        if parsed is None or number is None:
            continue
        key, cls = parsed
        totals.setdefault(key, {"busy": 0.0, "idle": 0.0})[cls] += number
    usage: list[HostUsage] = []
    unparsed = 0
    for (instance, project, machine), t in sorted(totals.items()):
        host = host_key(instance)
        if host is None:
            unparsed += 1
            host = instance  # still measured: it lands in "unattributed", never dropped
        usage.append(HostUsage(instance, host, project, machine, t["busy"], t["idle"]))
    return usage, unparsed


def parse_matrix(data: Any, host_label: str = "instance") -> dict[_Key, list[UsageStep]]:
    """Turn a range-query answer of summed counters into per-step increments.

    A drop between two points is a counter reset (a reboot): the increment is
    then the new value, as Prometheus' own ``increase()`` would count it.
    """
    points: dict[_Key, dict[str, list[tuple[float, float]]]] = {}
    for item in (data or {}).get("result") or ():
        parsed = _labels_and_class(item.get("metric"), host_label)
        if parsed is None:
            continue
        key, cls = parsed
        values = [
            (float(t), v) for t, raw in item.get("values") or () if (v := _finite(raw)) is not None
        ]
        points.setdefault(key, {"busy": [], "idle": []})[cls] = sorted(values)
    steps: dict[_Key, list[UsageStep]] = {}
    for key, by_class in points.items():
        increments: dict[float, list[float]] = {}
        for k, cls in enumerate(("busy", "idle")):
            series = by_class[cls]
            for (t0, v0), (t1, v1) in pairwise(series):
                increments.setdefault(t1, [t0, 0.0, 0.0])[k + 1] = v1 - v0 if v1 >= v0 else v1
        steps[key] = [
            UsageStep(start, end, busy, idle)
            for end, (start, busy, idle) in sorted(increments.items())
        ]
    return steps
