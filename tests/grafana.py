"""What Grafana does to a dashboard's Prometheus queries before they reach Prometheus.

There is no Grafana in the tests, so this module does its part, as Grafana 10.4
and 11 do it for the Prometheus data source:

- template variables: a multi-value or include-All variable is regex-escaped
  (``Artemis (Matlab)`` becomes ``Artemis \\\\(Matlab\\\\)`` in the PromQL string),
  several values become ``(a|b)``, All becomes the variable's ``allValue``;
  any other variable is inserted as it is;
- ``$__interval`` is the time range over the panel's max data points, rounded to
  one of Grafana's steps, and at least the panel's min interval; ``$__range`` is
  the time range in whole seconds, rounded (``30s``), ``$__range_s`` the same number
  alone, ``$__range_ms`` the exact milliseconds, ``$__from`` and ``$__to`` its ends in
  unix milliseconds (see :func:`time_range`);
- a range query's start and end are aligned down to a multiple of its step, so the
  points fall on whole hours and days (in UTC, the time zone used here); an instant
  query is evaluated at the end of the time range.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.config import parse_duration

# Grafana's prometheusSpecialRegexEscape: these characters get a backslash, written
# as two in the PromQL string so that the regex sees one.
_REGEX_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
LABEL_VALUES = re.compile(r"^label_values\((?:(.*),\s*)?(\w+)\)$", re.S)


@dataclass(frozen=True)
class Target:
    """One query of one panel."""

    dashboard: str  # uid
    panel: Mapping[str, Any]
    expr: str
    ref_id: str
    instant: bool

    @property
    def name(self) -> str:
        return f"{self.dashboard} / {self.panel['title']} / {self.ref_id}"

    @property
    def min_interval(self) -> str | None:
        interval = self.panel.get("interval")
        return str(interval) if interval else None

    @property
    def max_data_points(self) -> int:
        """The panel's max data points; without one Grafana uses the panel's width in pixels."""
        return int(self.panel.get("maxDataPoints", 1000))

    @property
    def time_from(self) -> float | None:
        """The panel's own relative time range (``timeFrom``), in seconds."""
        value = self.panel.get("timeFrom")
        return parse_duration(str(value)) if value else None


def panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def targets(dashboard: Mapping[str, Any]) -> list[Target]:
    return [
        Target(dashboard["uid"], p, t["expr"], t["refId"], bool(t.get("instant")))
        for p in panels(dashboard)
        for t in p.get("targets", [])
    ]


def variables(dashboard: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), value.replace("\\", "\\\\\\\\"))


def format_value(variable: Mapping[str, Any], selected: list[str] | None) -> str:
    """The text Grafana puts in a query for ``selected`` values (None: All)."""
    if selected is None:
        if variable.get("allValue") is None:
            raise ValueError(f"{variable['name']}: All without an allValue is not emulated")
        return str(variable["allValue"])
    if not (variable.get("multi") or variable.get("includeAll")):
        (value,) = selected
        return value.replace("\\", "\\\\").replace("'", "\\\\'")
    escaped = [regex_escape(v) for v in selected]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def interpolate(text: str, values: Mapping[str, str]) -> str:
    """Replace $name and ${name}; an unknown variable raises KeyError."""
    return _VARIABLE.sub(lambda m: values[m.group(1) or m.group(2)], text)


def time_range(start: float, end: float) -> dict[str, str]:
    """The variables of the time range [start, end] (unix seconds, to the millisecond)."""
    from_ms, to_ms = round(start * 1000), round(end * 1000)
    seconds = (to_ms - from_ms + 500) // 1000  # Go's math.Round of the seconds
    return {
        "__from": str(from_ms),
        "__to": str(to_ms),
        "__range": f"{seconds}s",
        "__range_s": str(seconds),
        "__range_ms": str(to_ms - from_ms),
    }


def align_down(t: float, step: float) -> float:
    return (t // step) * step


# gtime.RoundInterval (grafana-plugin-sdk-go): (up to this many seconds, use this step).
_ROUNDED = (
    (0.015, 0.01), (0.035, 0.02), (0.075, 0.05), (0.15, 0.1), (0.35, 0.2), (0.75, 0.5),
    (1.5, 1), (3.5, 2), (7.5, 5), (12.5, 10), (17.5, 15), (25, 20), (45, 30), (90, 60),
    (210, 120), (450, 300), (750, 600), (1050, 900), (1500, 1200), (2700, 1800),
    (5400, 3600), (9000, 7200), (16200, 10800), (32400, 21600), (86400, 43200),
    (172800, 86400), (604800, 86400), (1814400, 604800), (3628799.999, 2592000),
)  # fmt: skip
_YEAR = 365 * 86400


def interval(range_seconds: float, min_interval: float, max_data_points: int) -> float:
    """Grafana's step and $__interval for a panel: range / max data points, rounded."""
    calculated = range_seconds / max_data_points
    if calculated < min_interval:
        return min_interval
    return next((step for bound, step in _ROUNDED if calculated <= bound), _YEAR)


def format_interval(seconds: float) -> str:
    """gtime.FormatInterval: the largest whole unit, truncated (90 min is "1h")."""
    for unit, size in (("y", _YEAR), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(1, int(seconds * 1000))}ms"
