"""Five weeks of history end to end, as a user makes them: backfill, promtool, Prometheus, report.

A source Prometheus holds :mod:`tests.month_scenario`'s node_cpu_seconds_total and a
MongoDB wire server its workspaces. The ``backfill`` command writes the 840 windows of
(FIRST, LAST] to a file, promtool turns it into blocks, a second Prometheus serves them
and the sources are stopped. Then ``report`` for January (744 windows, one query), for the
whole period (longer than 31 days, so two queries) and for each day must equal the
scenario's truth, worked out hour by hour without the exporter's code, within 1 %.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pymongo import MongoClient

from exporter.cli import main
from exporter.commands.report import gather
from tests import month_scenario
from tests.harness.command import exporter
from tests.harness.fixtures import require_binaries
from tests.harness.mongowire import MongoWireServer
from tests.harness.prometheus import PrometheusServer, write_blocks, write_blocks_from_file
from tests.harness.victoria import VictoriaMetricsServer
from tests.month_scenario import CUT, FIELDS, FIRST, HOUR, JANUARY, LAST

DAY = timedelta(days=1)
BLOCKS = "168h"  # promtool's 2 h default makes 420 blocks of five weeks, one pass each


@dataclass(frozen=True)
class History:
    url: str  # the Prometheus holding only what backfill wrote
    config: Path
    backfill: subprocess.CompletedProcess[str]
    output: Path  # the file backfill wrote


def serve(data_dir: Path, stack: contextlib.ExitStack) -> PrometheusServer:
    server = PrometheusServer(data_dir)
    stack.callback(server.stop)
    server.start()
    return server


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    require_binaries("prometheus")
    require_binaries("mongowire")
    work = tmp_path_factory.mktemp("month")
    with contextlib.ExitStack() as stack:
        write_blocks(month_scenario.openmetrics(), work / "source" / "data", BLOCKS)
        source = serve(work / "source" / "data", stack)
        mongo = MongoWireServer(work / "nx-27017")
        stack.callback(mongo.stop)
        mongo.start()
        client: MongoClient[dict[str, object]] = MongoClient(mongo.uri)
        client["ada"]["workspaces"].insert_many(month_scenario.workspaces())
        client.close()
        config = work / "exporter.yaml"
        config.write_text(month_scenario.CONFIG.format(prometheus=source.url, mongodb=mongo.uri))
        output = work / "history.om"
        result = exporter(  # the windows ending in (FIRST, LAST]
            "backfill", f"--config.file={config}", f"--from={FIRST.isoformat()}",
            f"--to={LAST.isoformat()}", "--step=1h", f"--output={output}",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        # The reports must read what backfill wrote, and nothing else.
        source.stop()
        mongo.stop()
        write_blocks_from_file(output, work / "history" / "data", BLOCKS)
        yield History(serve(work / "history" / "data", stack).url, config, result, output)


def report(history: History, start: datetime, end: datetime, by: str) -> dict:
    result = exporter(
        "report", f"--config.file={history.config}", f"--prometheus-url={history.url}",
        f"--from={start.isoformat()}", f"--to={end.isoformat()}", f"--by={by}",
        "--source=exporter", "--format=json", "--top=0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_equals_the_truth(doc: dict, start: datetime, end: datetime, by: str) -> None:
    windows = round((end - start).total_seconds() / HOUR)
    assert doc["windows"] == {"expected": windows, "present": windows}
    expected = month_scenario.truth(start, end, by)
    got = {tuple(row["key"].values()): row for row in doc["rows"]}
    assert set(got) == set(expected)
    for key, row in expected.items():
        for name in FIELDS:
            assert got[key][name] == pytest.approx(row[name], rel=0.01), (key, name)
    for name in FIELDS:
        total = sum(row[name] for row in expected.values())
        assert doc["total"][name] == pytest.approx(total, rel=0.01), ("total", name)


@pytest.mark.prometheus
def test_backfill_writes_every_window_without_a_warning(history):
    assert history.backfill.stderr == ""
    assert history.backfill.stdout == ""  # the windows went to --output


@pytest.mark.prometheus
@pytest.mark.parametrize("by", ["facility", "user", "group"])
def test_a_monthly_report_equals_the_truth(history, by):
    assert_equals_the_truth(report(history, *JANUARY, by), *JANUARY, by)


@pytest.mark.prometheus
@pytest.mark.parametrize("by", ["facility", "user"])
def test_a_report_over_five_weeks_is_two_queries_and_equals_the_truth(history, by):
    assert (LAST - FIRST).total_seconds() > gather.LONGEST_QUERY == (CUT - FIRST).total_seconds()
    assert_equals_the_truth(report(history, FIRST, LAST, by), FIRST, LAST, by)


@pytest.mark.prometheus
def test_each_days_report_equals_that_days_truth(history, capsys):
    day = FIRST
    while day < LAST:
        args = [
            f"--config.file={history.config}", "--log.level=warn", "report",
            f"--prometheus-url={history.url}", f"--from={day.date()}", f"--to={(day + DAY).date()}",
            "--by=facility", "--source=exporter", "--format=json",
        ]  # fmt: skip
        assert main(args) == 0
        assert_equals_the_truth(json.loads(capsys.readouterr().out), day, day + DAY, "facility")
        day += DAY


def own_sum(output: Path, start: datetime, end: datetime) -> float:
    """The emissions the backfill file itself holds for the windows ending in (start, end]."""
    lo, hi, total = start.timestamp(), end.timestamp(), 0.0
    with output.open() as lines:
        for line in lines:
            if line.startswith("ada_carbon_emissions_grams{"):
                _, value, stamp = line.rsplit(" ", 2)
                total += float(value) if lo < float(stamp) <= hi else 0.0
    return total


@pytest.mark.prometheus
@pytest.mark.victoriametrics
def test_the_backfilled_month_reports_the_files_own_sum_on_both_engines(history, tmp_path):
    """Issue 20: the same backfill file in Prometheus and in a VictoriaMetrics run with the
    flags docs/operations.md gives it: January's report equals the file's own sum on both."""
    from tests.e2e.test_victoriametrics_e2e import documented_flags

    require_binaries("victoriametrics")
    want = own_sum(history.output, *JANUARY)
    with VictoriaMetricsServer(tmp_path / "vm", flags=documented_flags()) as vm:
        with history.output.open() as lines:
            vm.load(lines)
        for url in (history.url, vm.url):
            doc = report(History(url, history.config, history.backfill, history.output),
                         *JANUARY, "facility")  # fmt: skip
            assert doc["windows"] == {"expected": 744, "present": 744}, url
            assert doc["total"]["emissions_grams"] == pytest.approx(want, rel=1e-9), url
