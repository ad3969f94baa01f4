"""The PromQL idiom on a real Prometheus, at the instants around an hour's end.

``sum_over_time(x[RANGE - 1ms:1h] offset -1s)`` at t must sum the windows that the
backfill file holds with timestamps in (t + 1 s - RANGE, t + 1 s], and RANGE / 1 h of
them where every hour is present: checked for 1 h, 1 d and 30 d at 23:59:58.999,
23:59:59.000, 23:59:59.999, 00:00:00.000 and 00:00:00.001 before and after the end of
January 2026, against the file's own sum and the demo generator's snapshots.

The history is the ``backfill`` command's output for the demo fleet (its emissions and
window families): every hour of the day before END and two after, every hour of the
two on either side of END - 30 d, and a window every 6 hours between.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from exporter.commands import window_ends
from exporter.commands.backfill import backfill
from exporter.config import Config, with_demo
from exporter.sources.build import build_refresh
from tests.harness.fixtures import require_binaries
from tests.harness.prometheus import PrometheusServer, write_blocks

ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 2, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
# RANGE in seconds, and the range the idiom writes for it: 1 ms short.
RANGES = {3600: "59m59s999ms", 86400: "23h59m59s999ms", 30 * 86400: "29d23h59m59s999ms"}
INSTANTS = {  # around END, as in docs/reports.md
    "23:59:58.999": -1.001,
    "23:59:59.000": -1.0,
    "23:59:59.999": -0.001,
    "00:00:00.000": 0.0,
    "00:00:00.001": 0.001,
}
KEPT = ("ada_carbon_emissions_grams", "ada_carbon_window_seconds")
SAMPLE = re.compile(r"^(\w+)\{[^}]*\} (\S+) (\S+)$|^(\w+) (\S+) (\S+)$")


@dataclass(frozen=True)
class History:
    url: str
    grams: dict[float, float]  # the file's own sum per window end
    truth: dict[float, float]  # the generator's: the snapshots' busy + idle grams


def own_sums(openmetrics: str) -> dict[float, float]:
    """The emissions samples of a backfill file, summed per timestamp."""
    sums: dict[float, float] = {}
    for line in openmetrics.splitlines():
        m = SAMPLE.match(line)
        if m:
            name, value, stamp = (g for g in m.groups() if g is not None)
            if name == "ada_carbon_emissions_grams":
                sums[float(stamp)] = sums.get(float(stamp), 0.0) + float(value)
    return sums


def kept_families(openmetrics: str) -> str:
    """Only the families in KEPT: promtool then reads a tenth of the file."""
    blocks = re.split(r"(?m)^(?=# HELP )", openmetrics.replace("# EOF\n", ""))
    return "".join(b for b in blocks if b.startswith(tuple(f"# HELP {n} " for n in KEPT)))


def ends_from_to(first: datetime, last: datetime, step: timedelta) -> list[datetime]:
    """The window ends first, first + step, ... last (the period (first - step, last])."""
    seconds = window_ends((first - step).timestamp(), last.timestamp(), step.total_seconds())
    return [datetime.fromtimestamp(t, timezone.utc) for t in seconds]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    require_binaries("prometheus")
    month_ago = END - timedelta(days=30)
    ends = sorted(
        {
            *ends_from_to(END - 26 * HOUR, END + 2 * HOUR, HOUR),
            *ends_from_to(month_ago - 2 * HOUR, month_ago + 2 * HOUR, HOUR),
            *ends_from_to(month_ago + 6 * HOUR, END - 26 * HOUR, 6 * HOUR),
        }
    )
    engine = build_refresh(with_demo(Config()))
    try:
        snapshots = [engine.snapshot(end, with_forecast=False) for end in ends]
    finally:
        engine.close()
    truth = {
        s.end: sum(u.busy_grams + u.idle_grams for u in (s.usage or {}).values()) for s in snapshots
    }
    text = kept_families(backfill(snapshots).decode())
    workdir = tmp_path_factory.mktemp("idiom")
    write_blocks(text, workdir / "data", "744h")
    with PrometheusServer(workdir / "data", workdir=workdir) as server:
        yield History(server.url, own_sums(text), truth)


def query(url: str, expr: str, at: float) -> float:
    params = {"query": expr, "time": f"{at:.3f}"}
    body = httpx.get(f"{url}/api/v1/query", params=params, timeout=30).json()
    assert body["status"] == "success", body
    ((_, value),) = [r["value"] for r in body["data"]["result"]]
    return float(value)


@pytest.mark.prometheus
@pytest.mark.parametrize("instant", INSTANTS)
@pytest.mark.parametrize("seconds", RANGES)
def test_the_idiom_sums_the_windows_ending_in_the_half_open_range(history, seconds, instant):
    at = END.timestamp() + INSTANTS[instant]
    short = RANGES[seconds]
    inside = [t for t in history.grams if at + 1 - seconds < t <= at + 1]
    if seconds <= 86400:  # every hour is present there
        assert len(inside) == seconds // 3600
    windows = query(
        history.url, f"count_over_time(ada_carbon_window_seconds[{short}:1h] offset -1s)", at
    )
    grams = query(
        history.url, f"sum(sum_over_time(ada_carbon_emissions_grams[{short}:1h] offset -1s))", at
    )
    assert windows == len(inside)
    assert grams == pytest.approx(sum(history.grams[t] for t in inside), rel=1e-9)
    assert grams == pytest.approx(sum(history.truth[t] for t in inside), rel=1e-9)


@pytest.mark.prometheus
def test_the_whole_range_counts_a_window_twice_on_prometheus_2(history):
    """Why the range is 1 ms short: ``[1d:1h] offset -1s`` at 23:59:59.000 takes 25 windows."""
    at = END.timestamp() - 1
    assert (
        query(history.url, "count_over_time(ada_carbon_window_seconds[1d:1h] offset -1s)", at) == 25
    )
    short = query(
        history.url, "count_over_time(ada_carbon_window_seconds[23h59m59s999ms:1h] offset -1s)", at
    )
    assert short == 24


def test_docs_state_the_idiom_and_the_instants_it_was_checked_at():
    reports = (ROOT / "docs" / "reports.md").read_text()
    section = reports[reports.index("## The PromQL idiom") :]
    assert "[RANGE - 1ms:1h] offset -1s" in section
    assert "(t + 1 s \u2212 RANGE, t + 1 s]" in section
    for short in RANGES.values():
        assert f"[{short}:1h]" in section
    for instant in INSTANTS:
        assert instant in section
