"""The Grafana dashboards and the README's PromQL, run against a real Prometheus.

The Prometheus holds the exporter's own output for a known scenario: the demo
fleet over the day D1-D2 (D2 a Thursday, 00:00 UTC), one window every 30
minutes, so consecutive 1 h windows overlap and a total that took every sample
would be twice too high; one window every 3 hours over the six days before
completes the calendar's week; four single windows before that lie just outside
the README examples' ranges (the last year, 30 days and week, and January). Up to
two hours before D2 the samples come from ``exporter.commands.backfill`` (the ``backfill``
command's code path); the last two hours are stored as a scrape stores them:
every family, with ``job`` and ``instance`` labels, plus ``up`` and
``scrape_duration_seconds``.

Every panel query runs twice, with every variable on All and with one facility,
project, machine type (one with parentheses, to check regex escaping) and user
chosen; each must parse and return finite data. The key panels, and every
README example, must equal sums of ``Snapshot.usage`` over the same whole hours.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from exporter import equivalencies
from exporter.collectors import families
from exporter.collectors.budgets import BudgetCollector
from exporter.commands.backfill import backfill
from exporter.config import Config, parse_duration, with_demo
from exporter.model import GroupKey, Snapshot, Usage
from exporter.sources.build import build_refresh
from tests import grafana
from tests.grafana import Target
from tests.harness.budget_rules import backfill_budget_rules
from tests.harness.fixtures import require_binaries
from tests.harness.prometheus import PrometheusServer

ROOT = Path(__file__).resolve().parents[2]


def window_ends(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """start, start + step, ... up to and including end."""
    return [start + k * step for k in range(int((end - start) / step) + 1)]


DASHBOARD_FILES = sorted((ROOT / "grafana-dashboards").glob("*.json"))
DASHBOARDS = {p.stem: json.loads(p.read_text()) for p in DASHBOARD_FILES}
TARGETS = [t for d in DASHBOARDS.values() for t in grafana.targets(d)]
# The PromQL examples of the README and docs/, run below.
README = "\n".join(
    p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
)

D2 = datetime(2026, 1, 29, tzinfo=timezone.utc)  # a Thursday: a 7-day step starts here
D1 = D2 - timedelta(days=1)
LIVE = D2 - timedelta(hours=2)  # scraped from here on; backfilled before
STEP = timedelta(minutes=30)  # from D1: two overlapping windows per hour
WEEK = D2 - timedelta(days=7)  # from here to D1, a window every 3 hours
SPARSE = timedelta(hours=3)
# Single earlier windows, each just outside a README example's range at NOW: a year
# before D2 (outside "this year"), 30 days before (outside "the last 30 days"), the hour
# that ends at 1 January 00:00 (December's: in the last 30 days, not in January) and
# WEEK (in January, not "this week").
EDGES = (
    D2 - timedelta(days=365),
    D2 - timedelta(days=30),
    datetime(2026, 1, 1, tzinfo=timezone.utc),
    WEEK,
)
NOW = D2.timestamp() + 90  # the dashboards' "now": 90 s after the last scrape
RANGE = 86400.0  # the dashboards' time range: the last day
DAY = 86400.0
SCRAPE_INTERVAL = 15.0  # the data source's default, Grafana's smallest step
SCRAPE_LABELS = {"job": "ada-carbon", "instance": "ada-carbon-exporter:9877"}
SELECTIONS = ("all", "one")
# The instants around an hour's end the idiom is checked at (docs/reports.md), from D2.
BOUNDARY_INSTANTS = {
    "23:59:58.999": -1.001,
    "23:59:59.000": -1.0,
    "23:59:59.999": -0.001,
    "00:00:00.000": 0.0,
    "00:00:00.001": 0.001,
}
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
HELD_NOW = (
    'ada_carbon_workspace_info{cloud_project_name=~"$cloud_project_name", '
    'machine_name=~"$machine_name"}'
)


# ---------------------------------------------------------------- the JSON itself


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a JSON document, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_imports_with_nothing_but_a_prometheus_datasource(name):
    d = DASHBOARDS[name]
    assert d["uid"] == name and re.fullmatch(r"ada-carbon-[a-z-]+", d["uid"])
    assert d["title"].startswith("Ada carbon: ")
    assert d["id"] is None and d["schemaVersion"] == 39
    assert d["__inputs"] == [
        {
            "name": "DS_PROMETHEUS",
            "label": "Prometheus",
            "description": "The Prometheus that scrapes ada-carbon-exporter",
            "type": "datasource",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
        }
    ]
    refs = [v for k, v in walk(d) if k == "datasource"]
    assert refs and all(r == DS for r in refs), "a datasource other than ${DS_PROMETHEUS}"
    uids = {v for k, v in walk(d) if k == "uid"} - {name, "${DS_PROMETHEUS}"}
    assert not uids, f"hard-coded uids: {uids}"
    panel_types = {p["type"] for p in grafana.panels(d)} - {"row"}
    required = {r["id"] for r in d["__requires"] if r["type"] == "panel"}
    assert panel_types == required


def test_titles_and_uids_are_unique():
    assert len({d["title"] for d in DASHBOARDS.values()}) == len(DASHBOARDS) == 4


@pytest.mark.parametrize("name", DASHBOARDS)
def test_template_variables_are_chained_label_values(name):
    variables = grafana.variables(DASHBOARDS[name])
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    chain = ["facility", "cloud_project_name", "machine_name", "user"]
    for i, label in enumerate(chain):
        v = variables[label]
        m = grafana.LABEL_VALUES.match(v["definition"])
        assert m and m.group(2) == label and v["query"]["query"] == v["definition"]
        assert v["type"] == "query" and v["datasource"] == DS
        assert v["multi"] and v["includeAll"] and v["allValue"] == ".*"
        # Each variable's options are narrowed by the ones before it.
        for before in chain[:i]:
            assert f'{before}=~"${before}"' in v["definition"]
    used = {n for t in grafana.targets(DASHBOARDS[name]) for n in re.findall(r"\$(\w+)", t.expr)}
    assert used - {"__interval", "__range", "__range_s", "__range_ms", "__from"} <= set(variables)


# A rate's total over the range: the sum of the series first (so that series that come
# and go count as 0 while absent), averaged over the range, times its length.
POWER_FAMILIES = re.compile(r"ada_carbon_(power_watts|emission_rate_grams_per_second)\b")
POWER_OVER_THE_RANGE = re.compile(
    r"avg_over_time\(sum(?: by \([\w, ]+\) )?\("
    + POWER_FAMILIES.pattern
    + r"\{[^}]*\}\)\[\$__range:\]\) \* \$__range_s( / [\d.e]+)?"
)


# The idiom over the dashboard's time range [from, to] (docs/operations.md): $__range
# cannot be made 1 ms short, so the hours after $__from + 1 s are kept by a filter, which
# leaves the start out on every engine.
RANGE_TOTAL = re.compile(
    r"sum_over_time\(\(ada_carbon_\w+\{[^{}]*\} and on \(\) vector\(time\(\)\) > "
    r"\$__from / 1000 \+ 1\)\[\$\{__range_ms\}ms:1h\] offset -1s\)"
)
DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")


def milliseconds(duration: str) -> int:
    """A PromQL duration such as ``23h59m59s999ms`` in milliseconds."""
    m = DURATION.fullmatch(duration)
    assert m and duration, duration
    d, h, mi, s, ms = (int(g or 0) for g in m.groups())
    return (((d * 24 + h) * 60 + mi) * 60 + s) * 1000 + ms


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_totals_take_one_window_per_hour(target):
    """Usage is only ever summed over time as 1 h windows, one per hour, ranges (a, b]
    at every instant; or, from the power, as the mean of a sum over the range times its
    length."""
    expr = target.expr
    ranges = re.findall(r"\[([^\]]*)\]", expr)
    if POWER_FAMILIES.search(expr) and ranges:
        assert POWER_OVER_THE_RANGE.fullmatch(expr), expr
        assert 'user=~"$user"' not in expr, "a user's series comes and goes: never averaged"
        return
    assert all(re.fullmatch(r"[^:]+:1h", r) for r in ranges), "a range that is not [RANGE:1h]"
    # -1s: a range ending in the last second of an hour (hh:59:59, hh:59:59.999) has it.
    assert len(re.findall(r":1h\] offset -1s\)", expr)) == len(ranges)
    assert expr.count("sum_over_time(") == len(ranges)
    if "__range" in expr:
        # Instant, at the end of the dashboard's range: $__from is the dashboard's start.
        assert target.instant and not target.time_from
        assert len(RANGE_TOTAL.findall(expr)) == len(ranges), expr
    literal = [r[:-3] for r in ranges if "$" not in r]
    # Prometheus 2.x ranges include both ends: 1 ms short, [t - RANGE + 1ms, t] is (t - RANGE, t].
    assert all(milliseconds(r) % 3_600_000 == 3_599_999 for r in literal), expr
    if "$__interval" in expr:
        # Evaluated at multiples of its whole-hour step, where [t+1s-RANGE, t+1s] holds
        # no whole hour at either end: the same hours as the half-open range.
        # A bar shows the period starting at its timestamp: windows read one period ahead.
        assert expr.count("[$__interval:1h]") == expr.count(" offset -$__interval)[")
        custom = target.panel["fieldConfig"]["defaults"].get("custom", {})
        if target.panel["type"] == "timeseries":
            assert custom.get("barAlignment") == 1 or custom.get("lineInterpolation") == "stepAfter"
        interval = parse_duration(target.min_interval)
        assert interval >= 3600 and interval % 3600 == 0, "periods must be whole hours"


def test_grafana_escapes_multi_value_variables_for_regex_matchers():
    multi = {"name": "machine_name", "multi": True, "includeAll": True, "allValue": ".*"}
    assert grafana.format_value(multi, ["Artemis (Matlab)"]) == r"Artemis \\(Matlab\\)"
    assert grafana.format_value(multi, ["Muon", "SANS"]) == "(Muon|SANS)"
    assert grafana.format_value(multi, None) == ".*"
    assert grafana.format_value({"name": "job"}, ["ada-carbon"]) == "ada-carbon"


def test_grafana_intervals_are_whole_steps_of_at_least_the_min_interval():
    day = 86400
    assert grafana.interval(day, 3600, 48) == 3600  # 30 min, below the min interval
    assert grafana.interval(30 * day, 3600, 200) == 3 * 3600  # 3.6 h rounds to 3 h
    assert grafana.interval(365 * day, 7 * day, 60) == 7 * day
    assert grafana.interval(365 * day, 15, 24) == 7 * day  # 15 days round to a week
    assert grafana.interval(365 * day, 15, 12) == 30 * day
    assert [grafana.format_interval(s) for s in (3600, 5400, 30 * day, 365 * day)] == [
        "1h",
        "1h",
        "30d",
        "1y",
    ]


# ---------------------------------------------------------------- the scenario


@dataclass(frozen=True)
class Scenario:
    url: str
    snapshots: dict[float, Snapshot]  # by window end

    def total(
        self,
        after: float,
        until: float,
        value: Callable[[Usage], float],
        where: Callable[[GroupKey], bool] = lambda key: True,
    ) -> float:
        """The sum of ``value`` over the whole-hour windows ending in (after, until]."""
        return sum(self.totals(after, until, value, lambda key: (), where).values())

    def totals(
        self,
        after: float,
        until: float,
        value: Callable[[Usage], float],
        by: Callable[[GroupKey], tuple[str, ...]],
        where: Callable[[GroupKey], bool] = lambda key: True,
    ) -> dict[tuple[str, ...], float]:
        """:meth:`total` for each value of ``by`` (a ``sum by``) among the keys seen there."""
        out: dict[tuple[str, ...], float] = {}
        for end, snap in self.snapshots.items():
            if end % 3600 == 0 and after < end <= until:
                for key, u in (snap.usage or {}).items():
                    if where(key):
                        out[by(key)] = out.get(by(key), 0.0) + value(u)
        return out


def grams(u: Usage) -> float:
    return u.busy_grams + u.idle_grams


# The equivalencies table, which ada_carbon_equivalency_grams serves: gCO2eq per unit.
EQUIVALENCY_GRAMS = {e.key: e.grams for e in equivalencies.TABLE}


class _Scraped(Collector):
    """Every family of each snapshot as Prometheus stores a scrape: stamped, job-labelled."""

    def __init__(self, snapshots: list[Snapshot]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}

        def add(name: str, doc: str, labels: dict[str, str], value: float, at: float) -> None:
            metric = merged.setdefault(name, Metric(name, doc, "gauge"))
            metric.samples.append(Sample(name, {**labels, **SCRAPE_LABELS}, value, at))

        budgets = list(BudgetCollector(with_demo(Config()).budgets).collect())
        for snap in self._snapshots:
            for family in families(snap) + budgets:
                for s in family.samples:
                    add(family.name, family.documentation, s.labels, s.value, snap.end)
            add("up", "Scrape succeeded.", {}, 1.0, snap.end)
            add("scrape_duration_seconds", "Scrape time.", {}, 0.05, snap.end)
        yield from merged.values()


def write_week_blocks(openmetrics: Path, data_dir: Path) -> None:
    """promtool's backfill, in blocks of up to a week: 2 h blocks would take 20 s here."""
    result = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=168h",
         str(openmetrics), str(data_dir)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    require_binaries("prometheus")
    engine = build_refresh(with_demo(Config()))
    snapshots: dict[float, Snapshot] = {}

    def snapshot(end: datetime) -> Snapshot:
        snap = engine.snapshot(end)
        assert snap.usage is not None
        snapshots[snap.end] = snap
        return snap

    # Their own file: promtool reads a file once per week of its span.
    edges = backfill(snapshot(end) for end in EDGES).decode()
    sparse = window_ends(WEEK + SPARSE, D1 - SPARSE, SPARSE)
    ends = sparse + window_ends(D1, LIVE - STEP, STEP)
    history = backfill(snapshot(end) for end in ends).decode()
    live = [snapshot(end) for end in window_ends(LIVE, D2, STEP)]
    engine.close()
    # prometheus_client's OpenMetrics encoder is untyped; it returns bytes.
    scraped = generate_latest(_Scraped(live)).decode()  # type: ignore[no-untyped-call]
    workdir = tmp_path_factory.mktemp("dashboards")
    for name, text in (("edges", edges), ("history", history), ("scraped", scraped)):
        (workdir / f"{name}.om").write_text(text)
        write_week_blocks(workdir / f"{name}.om", workdir / "data")
    server = PrometheusServer(workdir / "data", workdir=workdir)
    try:
        server.start()
        # The overview's budget panel reads the month-to-date the budget rules record.
        backfill_budget_rules(server, LIVE.timestamp(), NOW + 300)
        yield Scenario(server.url, snapshots)
    finally:
        server.stop()


# ---------------------------------------------------------------- Grafana's side


def _get(url: str, path: str, params: dict[str, Any]) -> Any:
    response = httpx.get(f"{url}{path}", params=params, timeout=30)
    body = response.json()
    assert body["status"] == "success", f"{body.get('error')}\nquery: {params.get('query')}"
    return body["data"]


def label_values(url: str, definition: str, values: dict[str, str], start: float) -> list[str]:
    m = grafana.LABEL_VALUES.match(definition)
    assert m, definition
    selector, label = m.groups()
    params: dict[str, Any] = {"start": start, "end": NOW}
    if selector:
        params["match[]"] = grafana.interpolate(selector, values)
    return sorted(_get(url, f"/api/v1/label/{label}/values", params))


@dataclass(frozen=True)
class Selection:
    """Variable values as Grafana puts them in queries, and the options picked (none: All)."""

    values: dict[str, str]
    picked: dict[str, str]

    def matches(self, key: GroupKey) -> bool:
        project, machine, facility, user = key
        wanted = {
            "cloud_project_name": project,
            "machine_name": machine,
            "facility": facility,
            "user": user,
        }
        return all(wanted[name] == value for name, value in self.picked.items())


def choose(url: str, dashboard: dict[str, Any], selection: str) -> Selection:
    """Values for every variable: All, or one option each, chained as Grafana chains them.

    "one" prefers CLF and a machine type with parentheses, and a user who used it in
    the last hour and holds one of its workspaces now, so every panel has data.
    """
    variables = grafana.variables(dashboard)
    out: dict[str, str] = {}
    picked: dict[str, str] = {}
    if "job" in variables:
        out["job"] = label_values(url, variables["job"]["definition"], out, NOW - RANGE)[0]
    if selection == "all":
        for name in ("facility", "cloud_project_name", "machine_name", "user"):
            out[name] = grafana.format_value(variables[name], None)
        return Selection(out, picked)

    def pick(name: str, value: str) -> None:
        picked[name] = value
        out[name] = grafana.format_value(variables[name], [value])

    def options(name: str) -> list[str]:
        return label_values(url, variables[name]["definition"], out, NOW - 3600)

    assert "CLF" in options("facility")
    pick("facility", "CLF")
    pick("cloud_project_name", options("cloud_project_name")[0])
    for machine in sorted(options("machine_name"), key=lambda m: "(" not in m):
        pick("machine_name", machine)
        query = {"query": grafana.interpolate(HELD_NOW, out), "time": NOW}
        holders = {r["metric"]["user"] for r in _get(url, "/api/v1/query", query)["result"]}
        users = [u for u in options("user") if u != "unattributed" and u in holders]
        if users:
            pick("user", users[0])
            return Selection(out, picked)
    raise AssertionError("no user of a CLF machine type holds a workspace now")


@dataclass(frozen=True)
class Result:
    """A query's answer: series of (labels, [(t, value)]); one point each for an instant query."""

    expr: str
    series: list[tuple[dict[str, str], list[tuple[float, float]]]]


def run(
    url: str, target: Target, values: dict[str, str], at: float = NOW, since: float | None = None
) -> Result:
    """The query as Grafana sends it; an instant query at ``at``, the end of the time range
    [since, at] (by default the panel's span: the last day)."""
    span = target.time_from or RANGE
    start = NOW - span
    min_interval = parse_duration(target.min_interval) if target.min_interval else SCRAPE_INTERVAL
    step = grafana.interval(span, min_interval, target.max_data_points)
    time_range = (
        grafana.time_range(at - span if since is None else since, at)
        if target.instant
        else grafana.time_range(start, NOW)
    )
    builtins = {"__interval": grafana.format_interval(step), **time_range}
    expr = grafana.interpolate(target.expr, {**values, **builtins})
    if target.instant:
        data = _get(url, "/api/v1/query", {"query": expr, "time": at})
        assert data["resultType"] == "vector", expr
        series = [(r["metric"], [(r["value"][0], float(r["value"][1]))]) for r in data["result"]]
    else:
        params = {
            "query": expr,
            "start": grafana.align_down(start, step),
            "end": grafana.align_down(NOW, step),
            "step": step,
        }
        data = _get(url, "/api/v1/query_range", params)
        series = [(r["metric"], [(t, float(v)) for t, v in r["values"]]) for r in data["result"]]
    return Result(expr, series)


@pytest.fixture(scope="module")
def selections(scenario: Scenario) -> dict[tuple[str, str], Selection]:
    return {
        (uid, s): choose(scenario.url, d, s) for uid, d in DASHBOARDS.items() for s in SELECTIONS
    }


def panel_target(uid: str, title: str, ref_id: str = "A") -> Target:
    (target,) = [
        t for t in TARGETS if (t.dashboard, t.panel["title"], t.ref_id) == (uid, title, ref_id)
    ]
    return target


# ---------------------------------------------------------------- every query


@pytest.mark.prometheus
@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_every_panel_query_returns_data(scenario, selections, target, selection):
    result = run(scenario.url, target, selections[target.dashboard, selection].values)
    points = [v for _, values in result.series for _, v in values]
    assert points, f"no data: {result.expr}"
    assert all(math.isfinite(v) for v in points), f"NaN or Inf: {result.expr}"


# ---------------------------------------------------------------- the key panels


def by_label(result: Result, label: str) -> dict[str, float]:
    (only_point,) = {len(values) for _, values in result.series}
    assert only_point == 1
    return {labels[label]: values[0][1] for labels, values in result.series}


@pytest.mark.prometheus
def test_carbon_by_facility_is_the_sum_of_the_hours_in_the_range(scenario, selections):
    target = panel_target("ada-carbon-overview", "Carbon by facility")
    values = selections[target.dashboard, "all"].values
    facilities = {k[2] for s in scenario.snapshots.values() for k in s.usage or {}}
    expected = {
        f: scenario.total(NOW - RANGE, NOW, grams, lambda k, f=f: k[2] == f) for f in facilities
    }
    assert len(expected) == 4
    assert by_label(run(scenario.url, target, values), "facility") == pytest.approx(
        expected, rel=1e-9
    )
    # 24 whole hours, not the 48 overlapping windows Prometheus holds.
    assert len([e for e in scenario.snapshots if NOW - RANGE < e <= NOW and e % 3600 == 0]) == 24


# Grafana time ranges [from, to] around D1's last second: "Last 24 hours" with "now" at
# each instant around midnight, "Yesterday" (to 23:59:59.999, $__range rounded to 86400s)
# and D1 picked on the calendar (to 23:59:59, $__range 86399s).
D2_S = D2.timestamp()
GRAFANA_RANGES = {
    **{
        f"last 24 h at {label}": (D2_S + dt - DAY, D2_S + dt)
        for label, dt in BOUNDARY_INSTANTS.items()
    },
    "yesterday": (D1.timestamp(), D2_S - 0.001),
    "a calendar day": (D1.timestamp(), D2_S - 1),
}


@pytest.mark.prometheus
@pytest.mark.parametrize("name", GRAFANA_RANGES)
def test_a_panel_over_any_time_range_sums_the_hours_ending_in_it(scenario, selections, name):
    """The windows ending in (from + 1 s, to + 1 s]: 24 of them for a day, at every instant."""
    target = panel_target("ada-carbon-overview", "Carbon by facility")
    since, at = GRAFANA_RANGES[name]
    got = by_label(
        run(scenario.url, target, selections[target.dashboard, "all"].values, at, since), "facility"
    )
    ends = [e for e in scenario.snapshots if since + 1 < e <= at + 1 and e % 3600 == 0]
    assert len(ends) == 24
    expected = {
        f: scenario.total(since + 1, at + 1, grams, lambda k, f=f: k[2] == f)
        for f in {k[2] for e in ends for k in scenario.snapshots[e].usage or {}}
    }
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.prometheus
def test_a_users_carbon_is_the_sum_of_their_hours(scenario, selections):
    target = panel_target("ada-carbon-user", "Carbon over the range")
    one = selections[target.dashboard, "one"]
    ((_, [(_, got)]),) = run(scenario.url, target, one.values).series
    expected = scenario.total(NOW - RANGE, NOW, grams, one.matches)
    assert expected > 0 and "(" in one.picked["machine_name"]
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.prometheus
@pytest.mark.parametrize("selection", SELECTIONS)
def test_energy_from_power_is_the_ranges_energy_within_1_percent(scenario, selections, selection):
    """avg_over_time of the summed power times the range: the windows' sum, within 1 %."""
    target = panel_target("ada-carbon-overview", "Energy over the range, from power")
    chosen = selections[target.dashboard, selection]
    groups = {k: v for k, v in chosen.picked.items() if k != "user"}  # the panel's selection
    ((_, [(_, got)]),) = run(scenario.url, target, chosen.values).series
    joules = scenario.total(
        NOW - RANGE, NOW, lambda u: u.busy_joules + u.idle_joules, Selection({}, groups).matches
    )
    assert joules > 0
    assert got == pytest.approx(joules / 3.6e6, rel=0.01)


# The User dashboard's "The same carbon as": each count's legend and the equivalent it
# must divide by, read from the exported constant.
EQUIVALENT_OF_LEGEND = {
    "smartphone charges": "smartphone_charge",
    "hours of HD streaming": "streaming_hour",
    "miles driven": "miles_driven_car",
    "tree-days of absorption": "tree_day",
}
DIVIDED_BY_THE_GAUGE = re.compile(
    r'/ scalar\(max\(ada_carbon_equivalency_grams\{equivalent="(\w+)"\}\)\)$'
)


@pytest.mark.prometheus
@pytest.mark.parametrize("selection", SELECTIONS)
def test_equivalents_are_the_carbon_over_the_exported_grams(scenario, selections, selection):
    """Each equivalent is the range's carbon over its unit's grams in the equivalencies table."""
    chosen = selections["ada-carbon-user", selection]
    carbon = scenario.total(NOW - RANGE, NOW, grams, chosen.matches)
    shown: dict[str, float] = {}
    for target in TARGETS:
        if (target.dashboard, target.panel["title"]) != ("ada-carbon-user", "The same carbon as"):
            continue
        (legend,) = [
            q["legendFormat"] for q in target.panel["targets"] if q["refId"] == target.ref_id
        ]
        m = DIVIDED_BY_THE_GAUGE.search(target.expr)
        assert m, f"not divided by ada_carbon_equivalency_grams: {target.expr}"
        assert m.group(1) == EQUIVALENT_OF_LEGEND[legend], target.expr
        ((_, [(_, value)]),) = run(scenario.url, target, chosen.values).series
        shown[legend] = value
    assert carbon > 0
    expected = {
        legend: carbon / EQUIVALENCY_GRAMS[key] for legend, key in EQUIVALENT_OF_LEGEND.items()
    }
    assert shown == pytest.approx(expected, rel=1e-9)


@pytest.mark.prometheus
def test_carbon_per_day_is_the_sum_of_each_days_hours(scenario, selections):
    target = panel_target("ada-carbon-heatmap", "Carbon per day")
    result = run(scenario.url, target, selections[target.dashboard, "all"].values)
    ((_, points),) = result.series
    # Each bar is the day starting at it; the day starting at D2 has no data yet.
    assert [t for t, _ in points] == [D1.timestamp()]
    for t, got in points:
        assert got == pytest.approx(scenario.total(t, t + 86400, grams), rel=1e-9)


@pytest.mark.prometheus
def test_hourly_bars_hold_one_window_each(scenario, selections):
    """The group's day view, busy and idle: each bar is exactly the hour starting at it."""
    target = panel_target("ada-carbon-group", "Day: carbon per hour, busy and idle")
    one = selections[target.dashboard, "one"]
    result = run(scenario.url, target, one.values)
    field = {"busy": lambda u: u.busy_grams, "idle": lambda u: u.idle_grams}
    bars = {(labels["mode"], t): v for labels, points in result.series for t, v in points}
    hours = range(int(D1.timestamp()), int(D2.timestamp()), 3600)
    for mode, value in field.items():
        expected = {t: scenario.total(t, t + 3600, value, one.matches) for t in hours}
        got = {t: bars.get((mode, t), 0.0) for t in hours}
        assert got == pytest.approx(expected, rel=1e-9), mode
        assert sum(e > 0 for e in expected.values()) >= 3


@pytest.mark.prometheus
def test_calendar_rows_are_the_days_of_the_week(scenario, selections):
    """Column t is the week starting at t, a Thursday; its row j holds day j of that week."""
    values = selections["ada-carbon-heatmap", "all"].values
    calendar = [t for t in TARGETS if t.panel["title"] == "Calendar: carbon per day"]
    rows = [q["legendFormat"] for q in calendar[0].panel["targets"]]
    assert rows == ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    checked = 0
    for j, target in enumerate(calendar):
        for _, points in run(scenario.url, target, values).series:
            for t, got in points:
                day = t + j * 86400
                assert datetime.fromtimestamp(day, timezone.utc).strftime("%a") == rows[j]
                assert got == pytest.approx(scenario.total(day, day + 86400, grams), rel=1e-9)
                checked += 1
    assert checked == 7


# ---------------------------------------------------------------- the README's PromQL

JANUARY_END = datetime(2026, 2, 1, tzinfo=timezone.utc).timestamp()  # the README's @ 1769904000
# An example's answer at an evaluation time: result labels (their values in label-name
# order) to value.
Expected = Callable[[Scenario, float], dict[tuple[str, ...], float]]
# Where the README examples are evaluated: as the dashboards' "now", and at each instant
# around the hour: [RANGE:1h] offset -1s takes one window too many at 23:59:59.000 on
# Prometheus 2.x, [RANGE - 1ms:1h] offset -1s one too few at 23:59:58.999 on 3.x.
README_AT = {"now": NOW, **{f"at {k}": D2.timestamp() + dt for k, dt in BOUNDARY_INSTANTS.items()}}


def readme_queries() -> list[tuple[str, str]]:
    """(comment, query) for each query of each ```promql block; blank lines separate queries."""
    queries = []
    for block in re.findall(r"```promql\n(.*?)```", README, re.S):
        for chunk in re.split(r"\n\s*\n", block):
            lines = [line for line in chunk.splitlines() if line.strip()]
            comment = [
                line.lstrip().removeprefix("#").strip() for line in lines if _is_comment(line)
            ]
            query = "\n".join(line for line in lines if not _is_comment(line)).strip()
            if query:
                queries.append((" ".join(comment), query))
    return queries


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


README_QUERIES = readme_queries()


def _a_user(scenario: Scenario) -> str:
    return sorted(
        {k[3] for s in scenario.snapshots.values() for k in s.usage or {}} - {"unattributed"}
    )[0]


def _facility(key: GroupKey) -> tuple[str, ...]:
    return (key[2],)


def _group(key: GroupKey) -> tuple[str, ...]:
    return key[:2]  # (cloud_project_name, machine_name), the labels' sorted order


def _top(n: int, totals: dict[tuple[str, ...], float]) -> dict[tuple[str, ...], float]:
    return dict(sorted(totals.items(), key=lambda item: item[1], reverse=True)[:n])


def _idle_share_per_group(scenario: Scenario, at: float) -> dict[tuple[str, ...], float]:
    idle = scenario.totals(at - DAY, at, lambda u: u.idle_joules, _group)
    energy = scenario.totals(at - DAY, at, lambda u: u.busy_joules + u.idle_joules, _group)
    return {group: idle[group] / energy[group] for group in energy}


def _my_carbon_this_year(scenario: Scenario, at: float) -> dict[tuple[str, ...], float]:
    user = _a_user(scenario)  # the README's aa123456
    return {(): scenario.total(at - 365 * DAY, at, grams, lambda k: k[3] == user)}


def _smartphone_charges_per_facility_this_week(
    scenario: Scenario, at: float
) -> dict[tuple[str, ...], float]:
    charge = EQUIVALENCY_GRAMS["smartphone_charge"]
    week = scenario.totals(at - 7 * DAY, at, grams, _facility)
    return {facility: total / charge for facility, total in week.items()}


# What each README example must answer, by its comment, from the scenario alone.
README_EXPECTED: dict[str, Expected] = {
    "carbon per facility, last 30 days (grams)": (
        lambda s, at: s.totals(at - 30 * DAY, at, grams, _facility)
    ),
    "top 5 groups (project, machine type) this week": (
        lambda s, at: _top(5, s.totals(at - 7 * DAY, at, grams, _group))
    ),
    "my carbon this year": _my_carbon_this_year,
    "idle share of energy per group, last 24 h": _idle_share_per_group,
    "ISIS Muon, January 2026: the 31 days ending 2026-02-01T00:00:00Z (unix 1769904000)": (
        lambda s, _: {
            (): s.total(
                JANUARY_END - 31 * DAY, JANUARY_END, grams, lambda k: k[1:3] == ("Muon", "ISIS")
            )
        }
    ),
    "carbon per facility, January 2026": (
        lambda s, _: s.totals(JANUARY_END - 31 * DAY, JANUARY_END, grams, _facility)
    ),
    "smartphone charges per facility this week": _smartphone_charges_per_facility_this_week,
}


def test_every_readme_promql_example_has_an_expected_answer():
    comments = [comment for comment, _ in README_QUERIES]
    assert len(comments) >= 4
    assert sorted(comments) == sorted(README_EXPECTED), "a README query without its check"


def _readme_query(scenario: Scenario, query: str, at: float = NOW) -> Result:
    expr = query.replace('user="aa123456"', f'user="{_a_user(scenario)}"')
    data = _get(scenario.url, "/api/v1/query", {"query": expr, "time": at})
    assert data["resultType"] == "vector", expr
    return Result(
        expr, [(r["metric"], [(r["value"][0], float(r["value"][1]))]) for r in data["result"]]
    )


@pytest.mark.prometheus
@pytest.mark.parametrize(("comment", "query"), README_QUERIES, ids=[c for c, _ in README_QUERIES])
def test_readme_promql_returns_data(scenario, comment, query):
    result = _readme_query(scenario, query)
    values = [v for _, points in result.series for _, v in points]
    assert values and all(math.isfinite(v) for v in values), result.expr


# Each example at each instant; but a constant (the equivalency grams) is read at t itself,
# within the 5-minute lookback, and the scenario is scraped every 30 minutes, up to D2.
README_CASES = [
    pytest.param(comment, query, at, id=f"{comment}-{at}")
    for comment, query in README_QUERIES
    for at in README_AT
    if "ada_carbon_equivalency_grams" not in query or README_AT[at] >= D2.timestamp()
]


@pytest.mark.prometheus
@pytest.mark.parametrize(("comment", "query", "at"), README_CASES)
def test_readme_promql_equals_the_scenarios_answer(scenario, comment, query, at):
    """Each README example at t sums the windows ending in (t + 1 s - RANGE, t + 1 s]."""
    result = _readme_query(scenario, query, README_AT[at])
    got = {
        tuple(v for _, v in sorted(labels.items())): points[0][1]
        for labels, points in result.series
    }
    expected = README_EXPECTED[comment](scenario, README_AT[at] + 1)
    assert expected and all(v > 0 for v in expected.values()), comment
    assert got == pytest.approx(expected, rel=1e-9), result.expr
