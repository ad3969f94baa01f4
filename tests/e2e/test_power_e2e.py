"""The power series on a real Prometheus: avg_over_time of the power is the energy.

A day of the demo fleet, scraped every 5 minutes (each sample the trailing hour's
mean), is backfilled with ``backfill`` and promtool. Over that day,
``avg_over_time(…power…[1d]) * 86400`` is compared with the day's energy, the 24
non-overlapping windows summed (``sum_over_time(…[23h59m59s999ms:1h] offset -1s)``): within 1 %
for each facility and the fleet; for any one series, off by no more than one window's
energy at either end of the day (each sample is the hour *before* it). With 15 minutes
of scrapes missed at 11:00 the average stays within 1 %, where the stepped sum loses
the hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from exporter.commands.backfill import backfill
from exporter.config import Config, with_demo
from exporter.model import Snapshot
from exporter.sources.build import build_refresh
from tests.harness.fixtures import require_binaries
from tests.harness.prometheus import PrometheusServer, write_blocks

DAY_END = datetime(2026, 1, 29, tzinfo=timezone.utc)
DAY = 86400
SCRAPE = timedelta(minutes=5)
SAMPLES = 288  # a day of 5-minute scrapes
MISSED = (  # the scrapes ending in (10:45, 11:00]: the stepped sum's 11:00 sample too
    datetime(2026, 1, 28, 10, 45, tzinfo=timezone.utc).timestamp(),
    datetime(2026, 1, 28, 11, tzinfo=timezone.utc).timestamp(),
)
LABELS = "cloud_project_name, machine_name, facility, user, mode"
WINDOWS = "sum_over_time(ada_carbon_energy_joules[23h59m59s999ms:1h] offset -1s)"
ALL_DAY = f"count_over_time(ada_carbon_power_watts[1d]) == {SAMPLES}"
Key = tuple[tuple[str, str], ...]


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Snapshot]]:
    """Prometheus with every scrape, one without MISSED's; and the window ending at the start."""
    require_binaries("prometheus")
    engine = build_refresh(with_demo(Config()))
    ends = [DAY_END - k * SCRAPE for k in range(SAMPLES, -1, -1)]
    try:
        before, *snapshots = engine.history(ends)  # before: the hour before the day, not stored
    finally:
        engine.close()
    kept = [s for s in snapshots if not MISSED[0] < s.end <= MISSED[1]]
    servers = {}
    try:
        for name, chosen in (("every", snapshots), ("missed", kept)):
            workdir = tmp_path_factory.mktemp(f"power-{name}")
            write_blocks(backfill(chosen).decode(), workdir / "data", "168h")
            servers[name] = PrometheusServer(workdir / "data", workdir=workdir)
            servers[name].start()
        yield {name: server.url for name, server in servers.items()}, before
    finally:
        for server in servers.values():
            server.stop()


def query(url: str, expr: str) -> dict[Key, float]:
    response = httpx.get(
        f"{url}/api/v1/query", params={"query": expr, "time": DAY_END.timestamp()}, timeout=30
    )
    body: Any = response.json()
    assert body["status"] == "success", f"{body.get('error')}: {expr}"
    return {
        tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in body["data"]["result"]
    }


def averaged(by: str) -> str:
    """The day's joules from the power: summed by ``by`` first, so absent series count as 0."""
    return f"avg_over_time(sum by ({by}) (ada_carbon_power_watts)[1d:5m]) * {DAY}"


@pytest.mark.prometheus
def test_avg_over_time_of_power_is_the_days_energy_within_1_percent(day):
    url = day[0]["every"]
    for by, count in (("facility", 4), ("", 1)):
        exact = query(url, f"sum by ({by}) ({WINDOWS})")
        got = query(url, averaged(by))
        assert len(exact) == count and set(got) == set(exact)
        for key, joules in exact.items():
            assert got[key] == pytest.approx(joules, rel=0.01), (by, key)


@pytest.mark.prometheus
def test_a_series_all_day_is_off_by_at_most_one_window_at_either_end(day):
    urls, before = day
    got = query(urls["every"], f"avg_over_time(ada_carbon_power_watts[1d]) * {DAY} and {ALL_DAY}")
    exact = query(urls["every"], f"{WINDOWS} and on ({LABELS}) ({ALL_DAY})")
    last = query(urls["every"], "ada_carbon_energy_joules * 1")  # the last hour, unnamed
    assert len(got) >= 8 and set(got) == set(exact)
    first = {}
    for (project, machine, facility, user), u in (before.usage or {}).items():
        for mode, joules in (("busy", u.busy_joules), ("idle", u.idle_joules)):
            labels = (project, machine, facility, user, mode)
            first[tuple(sorted(zip(LABELS.split(", "), labels, strict=True)))] = joules
    for key, joules in exact.items():
        bound = max(first.get(key, 0.0), last[key])
        assert abs(got[key] - joules) <= bound * (1 + 1e-9), dict(key)


@pytest.mark.prometheus
def test_missed_scrapes_leave_the_average_within_1_percent(day):
    """The stepped sum loses the hour whose sample is missing; the average does not."""
    urls = day[0]
    ((_, exact),) = query(urls["every"], f"sum({WINDOWS})").items()
    ((_, got),) = query(urls["missed"], averaged("")).items()
    ((_, stepped),) = query(urls["missed"], f"sum({WINDOWS})").items()
    assert got == pytest.approx(exact, rel=0.01)
    assert stepped < exact * (1 - 1 / 48)  # more than half an hour's energy short
