"""The benchmark's S tier as a CI smoke test, and the synthetic fleet it is built on.

The smoke test asserts what must hold on any machine: a constant number of
upstream requests per scrape, and the same per-user energy from the raw path,
the recording-rules path and the old one-query-per-workspace way. Never timings.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest

from benchmarks import scrape
from benchmarks.fleet import CPUS, MODES, TIERS, Tier, make_fleet, write_openmetrics
from exporter.attribution.hosts import host_key
from tests.harness.fixtures import require_binaries

# Prometheus: the two class totals and the steps of the hosts that changed hands, and on
# the raw counters the look at their handovers.
CONSTANT = {
    "raw": {"prometheus": 4, "mongodb": 1, "carbon_intensity": 0},
    "recording_rules": {"prometheus": 3, "mongodb": 1, "carbon_intensity": 0},
}


@pytest.mark.prometheus
@pytest.mark.mongowire
def test_s_tier_makes_constant_requests_and_all_three_paths_agree(tmp_path: Path) -> None:
    require_binaries("prometheus")
    require_binaries("mongowire")
    result = scrape.run("S", runs=2, warmup=1, old_runs=1, workdir=tmp_path, settle=False)
    print(scrape.table(result))  # shown with -s, and in the log of a failure
    fleet = result["fleet"]
    for path in ("raw", "recording_rules"):
        measured = result["paths"][path]
        assert measured["all_up"], path
        assert measured["requests"] == [CONSTANT[path], CONSTANT[path]], path
        assert measured["split_hosts"] == fleet["handovers"], path
        assert measured["median"]["series"] > fleet["users"], path
    old = result["paths"]["old"]["requests"][0]
    assert old["prometheus"] >= fleet["hosts"]  # one query per workspace: grows with the fleet
    # The servers' CPU is read (220 queries cost Prometheus more than a clock tick).
    assert result["paths"]["old"]["median"]["prometheus_cpu_s"] > 0
    agreement = result["agreement"]
    assert agreement["users"] == fleet["users"]
    assert agreement["recording_rules_vs_raw"] < 0.01
    assert agreement["old_vs_raw"] < 0.01
    # And the exporter is right, not only consistent: the generator knows the truth.
    assert agreement["raw_vs_truth"] < 0.01


def test_the_l_fleet_has_the_documented_shape() -> None:
    fleet = make_fleet(TIERS["L"])
    assert len(fleet.hosts) == 10_000
    assert len({(h.project, h.machine) for h in fleet.hosts}) == 780
    assert len(fleet.users) == 5_000
    assert fleet.handovers == 1_000
    assert sum(1 for h in fleet.hosts if len(h.levels) == 2) == 1_000
    states = [w["state"] for w in fleet.workspaces]
    assert states.count("READY") == 500
    assert states.count("DELETED") == 1_000 + 2_000  # handed over, and long gone
    owners = {w["owner"] for w in fleet.workspaces if w["owner"]}
    assert owners == {u["platform_name"] for u in fleet.users}
    hosts = {host_key(w["hostname"]) for w in fleet.workspaces}
    assert hosts == {h.address for h in fleet.hosts}  # every spelling matches a host
    assert fleet.samples == 10_000 * 4 * 8 * 121  # 2 h at 60 s, and one


def test_openmetrics_has_every_cpu_and_mode_with_rising_counters() -> None:
    fleet = make_fleet(Tier("T", 3, 60.0, 2))
    out = io.StringIO()
    write_openmetrics(fleet, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "# TYPE node_cpu_seconds counter"
    assert lines[-1] == "# EOF"
    samples = lines[1:-1]
    assert len(samples) == fleet.samples == 3 * CPUS * len(MODES) * 121
    series: dict[str, list[tuple[float, float]]] = {}
    for line in samples:
        name, value, t = line.rsplit(" ", 2)
        series.setdefault(name, []).append((float(t), float(value)))
    assert len(series) == 3 * CPUS * len(MODES)
    for points in series.values():
        assert points == sorted(points)
        assert all(b[1] > a[1] for a, b in itertools.pairwise(points))
