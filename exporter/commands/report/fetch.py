"""Read the exporter's own series back from Prometheus for a period.

A total over a period is a sum of non-overlapping windows: one sample per
window, at the multiples of ``ada_carbon_window_seconds`` in (start, end].
The usage query, for a 4 h period of 1 h windows evaluated at its end::

    sum by (family, cloud_project_name, machine_name, facility, user, mode) (
      sum_over_time((max without (instance, job) (
        label_replace({__name__=~"ada_carbon_(cpu_seconds|energy_joules|emissions_grams|embodied_grams)"},
                      "family", "$1", "__name__", "ada_carbon_(.+)")
      ))[14399999ms:3600s]))

* The range is 1 ms short of the period: Prometheus 2.x includes both ends of a
  subquery's range, so ``[4h:1h]`` would also count the window ending at the
  period's start (3.x ranges are left-open; the short range is right for both).
* ``max without (instance, job)`` counts once what several exporter replicas
  served, and backfilled history where it overlaps live scrapes.
* ``label_replace`` keeps the families apart through the aggregation, so one
  request reads them all (``ada_carbon_embodied_grams`` has no ``mode``).

:func:`usage_query` and :func:`parse_usage` are pure and tested with literals.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import httpx

from exporter.methodology import Method, intensity_text, method_of
from exporter.model import GroupKey, Usage
from exporter.pricing import PowerModel
from exporter.sources.prometheus.client import PrometheusClient

FAMILIES = "ada_carbon_(cpu_seconds|energy_joules|emissions_grams|embodied_grams)"
_FIELD = {  # (family, mode) -> position in Usage
    (family, mode): k
    for k, (family, mode) in enumerate(
        itertools.product(("cpu_seconds", "energy_joules", "emissions_grams"), ("busy", "idle"))
    )
}
_FIELD["embodied_grams", ""] = Usage._fields.index("embodied_grams")
GROUP_LABELS = ("cloud_project_name", "machine_name", "facility", "user")
MODEL_LABELS = ("machine_name", "busy_watts_per_core", "idle_watts_per_core", "pue")


def _range(seconds: float) -> str:
    """A subquery range 1 ms short of ``seconds``, so only one end of the period counts."""
    return f"{round(seconds * 1000) - 1}ms"


def usage_query(period_seconds: float, window_seconds: float) -> str:
    """PromQL: the usage families summed over the windows of a period ending at its time."""
    series = (
        f'label_replace({{__name__=~"{FAMILIES}"}}, "family", "$1", "__name__", "ada_carbon_(.+)")'
    )
    deduplicated = f"max without (instance, job) ({series})"
    step = f"{round(window_seconds)}s"
    inner = f"sum_over_time(({deduplicated})[{_range(period_seconds)}:{step}])"
    return f"sum by (family, {', '.join(GROUP_LABELS)}, mode) ({inner})"


def windows_query(period_seconds: float, window_seconds: float) -> str:
    """PromQL: how many windows of the period have usage series."""
    step = f"{round(window_seconds)}s"
    return f"count_over_time((max(ada_carbon_cpu_seconds))[{_range(period_seconds)}:{step}])"


def window_query(period_seconds: float, fn: str) -> str:
    """PromQL: the largest (``fn="max"``) or smallest window length served in the period."""
    return f"{fn}({fn}_over_time(ada_carbon_window_seconds[{round(period_seconds)}s]))"


def models_query(period_seconds: float, window_seconds: float) -> str:
    """PromQL: the power models that priced the period's windows, one series each."""
    step = f"{round(window_seconds)}s"
    series = f"ada_carbon_power_model_info[{_range(period_seconds)}:{step}]"
    return f"count by ({', '.join(MODEL_LABELS)}) (max_over_time({series}))"


def sources_query(period_seconds: float, window_seconds: float) -> str:
    """PromQL: how many of the period's windows took their intensity from each source."""
    step = f"{round(window_seconds)}s"
    series = "max without (instance, job) (ada_carbon_grid_intensity_source)"
    return f"sum by (region, source) (sum_over_time(({series})[{_range(period_seconds)}:{step}]))"


def _number(value: Any) -> float | None:
    try:
        number = float(value[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return number if math.isfinite(number) else None


def parse_usage(result: Any) -> dict[GroupKey, Usage]:
    """Turn the usage query's result vector into Usage per group; unknown series are ignored."""
    acc: dict[GroupKey, list[float]] = {}
    for item in result or ():
        if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
            continue
        labels = item["metric"]
        position = _FIELD.get((labels.get("family", ""), labels.get("mode", "")))
        number = _number(item.get("value"))
        if position is None or number is None:
            continue
        key = (
            labels.get("cloud_project_name", ""),
            labels.get("machine_name", ""),
            labels.get("facility", ""),
            labels.get("user", ""),
        )
        acc.setdefault(key, [0.0] * len(Usage._fields))[position] += number
    return {k: Usage(*v) for k, v in acc.items()}


def parse_scalar(result: Any) -> float | None:
    """The value of a one-series result vector; None when it is empty."""
    values = [
        v
        for item in result or ()
        if isinstance(item, dict) and (v := _number(item.get("value"))) is not None
    ]
    return values[0] if values else None


def parse_models(result: Any) -> list[tuple[str, PowerModel]]:
    """(machine_name, model) of each series of the models query; malformed ones are ignored."""
    out = []
    for item in result or ():
        labels = item.get("metric") if isinstance(item, dict) else None
        if not isinstance(labels, dict):
            continue
        try:
            numbers = [float(labels[k]) for k in MODEL_LABELS[1:]]
        except (KeyError, TypeError, ValueError):
            continue
        if all(math.isfinite(x) for x in numbers):
            out.append((str(labels.get("machine_name", "")), PowerModel(*numbers)))
    return out


def parse_sources(result: Any) -> dict[str, dict[str, int]]:
    """Windows per intensity source, by region, from the sources query; zeros left out."""
    out: dict[str, dict[str, int]] = {}
    for item in result or ():
        labels = item.get("metric") if isinstance(item, dict) else None
        number = _number(item.get("value")) if isinstance(item, dict) else None
        if isinstance(labels, dict) and number:
            region = out.setdefault(str(labels.get("region", "")), {})
            region[str(labels.get("source", ""))] = round(number)
    return out


class PrometheusQueries:
    """The report's instant queries over the one Prometheus client; failures are SourceErrors."""

    def __init__(self, http: httpx.Client, url: str, timeout_seconds: float) -> None:
        self.client = PrometheusClient(http, url, timeout_seconds)
        self.url = self.client.url  # masked, for messages

    @property
    def requests(self) -> int:
        return self.client.requests

    def window_seconds(self, start: float, end: float) -> tuple[float, float] | None:
        """The (smallest, largest) window length served in (start, end]; None: no series."""
        low = parse_scalar(self.client.query(window_query(end - start, "min"), end))
        high = parse_scalar(self.client.query(window_query(end - start, "max"), end))
        return None if low is None or high is None else (low, high)

    def windows_present(self, start: float, end: float, window: float) -> int:
        return int(parse_scalar(self.client.query(windows_query(end - start, window), end)) or 0)

    def usage(self, start: float, end: float, window: float) -> dict[GroupKey, Usage]:
        """The exporter's usage summed over the windows ending in (start, end]."""
        return parse_usage(self.client.query(usage_query(end - start, window), end))

    def method(self, start: float, end: float, window: float) -> Method:
        """The power models and intensity sources of the windows ending in (start, end]."""
        models = parse_models(self.client.query(models_query(end - start, window), end))
        sources = parse_sources(self.client.query(sources_query(end - start, window), end))
        intensity = "; ".join(intensity_text(r, n) for r, n in sorted(sources.items()))
        return method_of(models, intensity)
