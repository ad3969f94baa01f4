"""Carbon budgets end to end: a month of the exporter's output, the budget rules, the alerts.

:mod:`tests.month_scenario`'s five weeks go through ``backfill`` and promtool into a
real Prometheus, with the budgets the exporter exports (``ada_carbon_budget_grams``
every 5 minutes, as scraped); the budget rules are backfilled over them with
``promtool tsdb create-blocks-from rules``. Then each alert's expression, as shipped,
runs over January, and the alert fires (its condition held for its ``for``) first on
the day worked out by hand from the scenario's hourly truth, not before.

The budgets, per calendar month:

- ISIS, 1000 g: the last 6 hours' rate would spend it in under a week from 2 January
  (its busiest day, 171 g), not on 1 January (87 g): the fast burn fires on the 2nd.
  Its month of about 3,100 g exceeds it from the start: the slow burn fires on the 1st.
- CLF, 3720 g: the month so far plus the rest at the last 3 days' rate first passes it
  on 7 January, about 20:00 (it was at most 3,664 g before, on the 2nd, and climbs 20 g
  an hour on the 7th): the slow burn fires on the 7th. Never the fast burn.
- CDAaaS (the same hosts as CLF, by project), 4000 g: never above, neither fires.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import yaml
from pymongo import MongoClient

from exporter.collectors.budgets import BudgetCollector
from exporter.config import load
from tests import month_scenario
from tests.harness.budget_rules import BUDGET_RULES, backfill_budget_rules
from tests.harness.command import exporter
from tests.harness.fixtures import require_binaries
from tests.harness.mongowire import MongoWireServer
from tests.harness.prometheus import PrometheusServer, write_blocks, write_blocks_from_file
from tests.month_scenario import FIRST, HOUR, JANUARY, LAST

BLOCKS = "168h"
STEP = 300  # the budget rules' interval, and the step the alerts are evaluated at
BUDGETS = """\
budgets:
  facility:
    ISIS: {grams: 1000}
    CLF: {grams: 3720}
  cloud_project_name:
    CDAaaS: {grams: 4000}
"""
FIRES = {  # (alert, scope, name) -> the day it first fires in January; absent: never
    ("AdaCarbonBudgetFastBurn", "facility", "ISIS"): date(2026, 1, 2),
    ("AdaCarbonBudgetSlowBurn", "facility", "ISIS"): date(2026, 1, 1),
    ("AdaCarbonBudgetSlowBurn", "facility", "CLF"): date(2026, 1, 7),
}
DAY = 86400


@dataclass(frozen=True)
class Budgeted:
    url: str


def budget_openmetrics(config: Path) -> str:
    """The exporter's budget families as a scrape every 5 minutes over the period stores them."""
    families = list(BudgetCollector(load(config, env={}).budgets).collect())
    lines = []
    for family in families:
        lines.append(f"# TYPE {family.name} gauge")
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            start, end = int(FIRST.timestamp()) - HOUR, int(LAST.timestamp())
            lines += [f"{s.name}{{{labels}}} {s.value} {t}" for t in range(start, end + 1, STEP)]
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Budgeted]:
    require_binaries("prometheus")
    require_binaries("mongowire")
    work = tmp_path_factory.mktemp("budgets")
    with contextlib.ExitStack() as stack:
        write_blocks(month_scenario.openmetrics(), work / "source" / "data", BLOCKS)
        source = PrometheusServer(work / "source" / "data")
        stack.callback(source.stop)
        source.start()
        mongo = MongoWireServer(work / "nx-27017")
        stack.callback(mongo.stop)
        mongo.start()
        client: MongoClient[dict[str, object]] = MongoClient(mongo.uri)
        client["ada"]["workspaces"].insert_many(month_scenario.workspaces())
        client.close()
        config = work / "exporter.yaml"
        text = month_scenario.CONFIG.format(prometheus=source.url, mongodb=mongo.uri)
        config.write_text(text + BUDGETS)
        output = work / "history.om"
        result = exporter(  # the windows ending in (FIRST, LAST]
            "backfill", f"--config.file={config}", f"--from={FIRST.isoformat()}",
            f"--to={LAST.isoformat()}", "--step=1h", f"--output={output}",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        source.stop()
        mongo.stop()
        data = work / "history" / "data"
        write_blocks_from_file(output, data, BLOCKS)
        write_blocks(budget_openmetrics(config), data, BLOCKS)
        server = PrometheusServer(data)
        stack.callback(server.stop)
        server.start()
        # From 3 days before January, for the slow burn's 3-day rate on the 1st.
        backfill_budget_rules(server, JANUARY[0].timestamp() - 3 * DAY, JANUARY[1].timestamp())
        yield Budgeted(server.url)


def query_range(
    url: str, expr: str, start: float, end: float
) -> dict[tuple[str, str], list[float]]:
    """(scope, name) -> the times in [start, end] at which ``expr`` has a value, every STEP."""
    params = {"query": expr, "start": start, "end": end, "step": STEP}
    body = httpx.get(f"{url}/api/v1/query_range", params=params, timeout=60).json()
    assert body["status"] == "success", body
    return {
        (r["metric"]["scope"], r["metric"]["name"]): [float(t) for t, _ in r["values"]]
        for r in body["data"]["result"]
    }


def first_firing(times: list[float], hold: float) -> float | None:
    """The first time the condition has held for ``hold`` seconds (every step present)."""
    since = None
    for before, t in zip([None, *times], times, strict=False):
        if before is None or t - before > STEP:
            since = t
        if since is not None and t - since >= hold:
            return t
    return None


def alerts() -> list[dict[str, str]]:
    (group,) = yaml.safe_load(BUDGET_RULES.read_text())["groups"]
    return [r for r in group["rules"] if "alert" in r]


def month_to_date(url: str, at: datetime) -> dict[str, float]:
    params = {
        "query": "scope_name:ada_carbon_emissions_grams:month_to_date",
        "time": at.timestamp(),
    }
    body = httpx.get(f"{url}/api/v1/query", params=params, timeout=60).json()
    return {r["metric"]["name"]: float(r["value"][1]) for r in body["data"]["result"]}


@pytest.mark.prometheus
@pytest.mark.parametrize(
    "at", [datetime(2026, 1, 15, tzinfo=timezone.utc), JANUARY[1] - timedelta(minutes=5)]
)
def test_the_month_to_date_is_januarys_emissions_so_far(budgeted, at):
    truth = month_scenario.truth(JANUARY[0], at.replace(minute=0), "facility")
    got = month_to_date(budgeted.url, at)
    for facility in ("ISIS", "CLF"):
        assert got[facility] == pytest.approx(truth[(facility,)]["emissions_grams"], rel=0.01)
    assert got["CDAaaS"] == pytest.approx(truth[("CLF",)]["emissions_grams"], rel=0.01)


@pytest.mark.prometheus
@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_each_alert_fires_on_the_expected_day_and_not_before(budgeted, rule):
    start, end = JANUARY[0].timestamp(), JANUARY[1].timestamp() - STEP
    hold = {"30m": 1800, "1h": 3600}[rule["for"]]
    fired = {}
    for key, times in query_range(budgeted.url, rule["expr"], start, end).items():
        t = first_firing(times, hold)
        if t is not None:
            fired[key] = datetime.fromtimestamp(t, timezone.utc).date()
    expected = {key[1:]: day for key, day in FIRES.items() if key[0] == rule["alert"]}
    assert fired == expected


def hourly_rates() -> dict[str, dict[float, float]]:
    """Budget name -> window end -> grams per second, from the scenario's hour-by-hour truth."""
    rates: dict[str, dict[float, float]] = {}
    end = FIRST + timedelta(hours=1)
    while end <= LAST:
        facilities = month_scenario.truth(end - timedelta(hours=1), end, "facility")
        groups = month_scenario.truth(end - timedelta(hours=1), end, "group")
        cdaaas = sum(row["emissions_grams"] for key, row in groups.items() if key[0] == "CDAaaS")
        for name, grams in [
            *((k[0], r["emissions_grams"]) for k, r in facilities.items()),
            ("CDAaaS", cdaaas),
        ]:
            rates.setdefault(name, {})[end.timestamp()] = grams / HOUR
        end += timedelta(hours=1)
    return rates


def test_the_expected_days_follow_from_the_scenarios_hours():
    """FIRES worked out from the truth by the alerts' definitions, hour by hour."""
    budgets = {"ISIS": 1000.0, "CLF": 3720.0, "CDAaaS": 4000.0}
    scopes = {"ISIS": "facility", "CLF": "facility", "CDAaaS": "cloud_project_name"}
    january, february = JANUARY[0].timestamp(), JANUARY[1].timestamp()
    rates = hourly_rates()

    def mean(name: str, after: float, until: float) -> float:
        values = [r for end, r in rates[name].items() if after < end <= until]
        return sum(values) / len(values)

    def fast(name: str, t: float) -> bool:
        return mean(name, t - 6 * HOUR, t) * 7 * DAY > budgets[name]

    def slow(name: str, t: float) -> bool:
        so_far = sum(r * HOUR for end, r in rates[name].items() if january < end <= t)
        return so_far + mean(name, t - 3 * DAY, t) * (february - t) > budgets[name]

    found = {}
    for alert, condition in (("AdaCarbonBudgetFastBurn", fast), ("AdaCarbonBudgetSlowBurn", slow)):
        for name in budgets:
            hours = range(int(january) + HOUR, int(february) - HOUR, HOUR)
            held = [t for t in hours if condition(name, t) and condition(name, t + HOUR)]
            if held:
                found[alert, scopes[name], name] = datetime.fromtimestamp(
                    held[0] + HOUR, timezone.utc
                ).date()
    assert found == FIRES
