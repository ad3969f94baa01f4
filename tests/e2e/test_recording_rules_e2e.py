"""``prometheus.source: recording_rules`` against a real Prometheus: the same CPU-seconds as raw.

The shipped rules are evaluated over backfilled counters by promtool, which (like
Prometheus) places a group's evaluations on a lattice whose phase comes from a hash
of the group and file names, so in production it differs from one deployment to
another. The exporter must not depend on it, nor on whether the newest evaluation
is written yet: these tests run at two phases (picked by the rule file's name, so
they are the same on every checkout) and scrape at several delays after the newest
evaluation, up to the point where an evaluation is overdue (rule samples stop at
the backfill's end, the raw counters go on).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from exporter.collectors import AdaCarbonCollector
from exporter.config import Config, ModesConfig, PrometheusConfig, RecordingRulesConfig
from exporter.model import SourceError
from exporter.refresh import Refresh
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.prometheus.usage import PrometheusUsage
from tests.harness.fixtures import require_binaries
from tests.harness.prometheus import (
    PrometheusServer,
    backfill_rules,
    openmetrics_counter,
    write_blocks,
)
from tests.stubs import StubOwnership

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "prometheus" / "ada-carbon-rules.yml"
# 2026-01-31 11:30 UTC; counters from T0 - 2 h to T0 + 5 min. Not on a 2-hour block
# boundary, where promtool would skip an evaluation less than a second before T0.
T0 = 1_769_859_000.0
SCRAPE = 15.0
WINDOW = 3600.0
CHANGE = T0 - 1808.0  # a scrape time: the "changing" host goes from light to heavy load
# Per host and mode: CPU-seconds per second (4 CPUs' worth, summed).
RATES = {
    "steady": {"user": 1.5, "system": 0.5, "idle": 1.8, "iowait": 0.1, "steal": 0.1},
    "changing": {"user": 0.3, "system": 0.1, "idle": 3.5, "iowait": 0.05, "steal": 0.05},
}
HEAVY = {"user": 2.8, "system": 0.7, "idle": 0.4, "iowait": 0.05, "steal": 0.05}
HOSTS = {"steady": "172.16.0.1:9100", "changing": "172.16.0.2:9100"}
GONE, GONE_INSTANCE = T0 - 4000.0, "172.16.0.3:9100"


def rates_at(host: str, t: float) -> dict[str, float]:
    return HEAVY if host == "changing" and t >= CHANGE else RATES[host]


def counters() -> str:
    samples = []
    for host, instance in HOSTS.items():
        totals = dict.fromkeys(RATES[host], 1000.0)
        t = T0 - 7200.0 + 7.0  # scrapes off the minute, as a real target's would be
        while t <= T0 + 300.0:
            for mode, rate in rates_at(host, t - SCRAPE).items():  # over (t - 15, t]
                totals[mode] += rate * SCRAPE
                labels = {
                    "instance": instance,
                    "cloud_project_name": "IDAaaS",
                    "machine_name": "Muon",
                    "cpu": "0",
                    "mode": mode,
                }
                samples.append((labels, totals[mode], t))
            t += SCRAPE
    # A host that went away long before the windows above: its counters stop at GONE.
    totals = dict.fromkeys(RATES["steady"], 1000.0)
    t = T0 - 7200.0 + 7.0
    while t <= GONE:
        for mode, rate in RATES["steady"].items():
            totals[mode] += rate * SCRAPE
            labels = {**dict(samples[0][0]), "instance": GONE_INSTANCE, "mode": mode}
            samples.append((labels, totals[mode], t))
        t += SCRAPE
    return openmetrics_counter("node_cpu_seconds", samples)


def expected(host: str, end: float) -> tuple[float, float]:
    """Busy and idle CPU-seconds in (end - 1 h, end] from the rates (steal is neither)."""
    start = end - WINDOW
    parts = [(start, min(end, CHANGE)), (max(start, CHANGE), end)]
    busy = idle = 0.0
    for lo, hi in parts:
        if hi > lo:
            rates = rates_at(host, lo)
            busy += (rates["user"] + rates["system"]) * (hi - lo)
            idle += (rates["idle"] + rates["iowait"]) * (hi - lo)
    return busy, idle


# Rule file names and the phase (s past the minute) promtool 2.42 gives them: one
# mid-interval, one just before the minute, where the newest evaluation lies a moment
# before T0 and the raw scrapes (at :07, :22, :37, :52) fall differently in the tiles.
PHASES = {"ada-carbon-rules.yml": 19.108, "ada-carbon-rules-260.yml": 59.474}


@pytest.fixture(scope="module", params=sorted(PHASES))
def prometheus(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    require_binaries("prometheus")
    workdir = tmp_path_factory.mktemp("rules-e2e")
    write_blocks(counters(), workdir / "data")
    server = PrometheusServer(workdir / "data", workdir=workdir)
    server.start()
    try:
        # The rules stop at T0.
        backfill_rules(server, RULES, T0 - 7200.0 + 180.0, T0, file_name=request.param)
        yield server
    finally:
        server.stop()


def usage_source(server: PrometheusServer, source: str) -> PrometheusUsage:
    config = PrometheusConfig(url=server.url, timeout_seconds=30.0, source=source)
    modes = ModesConfig()
    return PrometheusUsage(httpx.Client(), config, modes.busy, modes.idle)


def newest_evaluation(server: PrometheusServer) -> float:
    query = "max(timestamp(instance:node_cpu_busy_seconds:rate2m))"
    body = httpx.post(server.url + "/api/v1/query", data={"query": query, "time": T0}).json()
    (item,) = body["data"]["result"]
    return float(item["value"][1])


# Seconds after the newest evaluation: just after it, mid-interval, just before the next
# one is due, and with that one overdue (not written yet, or a slow evaluation).
DELAYS = (0.5, 30.0, 59.5, 61.0, 100.0)


@pytest.mark.prometheus
def test_the_rule_files_give_the_phases_named(prometheus, request):
    """If a promtool release hashes differently, pick new names: the phases are the point."""
    phase = newest_evaluation(prometheus) % 60.0
    assert phase == pytest.approx(PHASES[request.node.callspec.params["prometheus"]], abs=0.01)


@pytest.mark.prometheus
@pytest.mark.parametrize("delay", DELAYS)
def test_recorded_window_totals_match_raw_whatever_the_phase(prometheus, delay):
    newest = newest_evaluation(prometheus)
    assert T0 - 60.0 < newest <= T0
    end = datetime.fromtimestamp(newest + delay, timezone.utc)
    raw = {u.instance: u for u in usage_source(prometheus, "raw").window_usage(end, WINDOW)}
    rules = usage_source(prometheus, "recording_rules").window_usage(end, WINDOW)
    recorded = {u.instance: u for u in rules}
    assert set(recorded) == set(raw) == set(HOSTS.values())
    for host, instance in HOSTS.items():
        busy, idle = expected(host, newest + delay)
        r, w = recorded[instance], raw[instance]
        # For a steady host both paths are exact; for a step change, increase()
        # extrapolates the window's mean rate over its edges, and the rules smear the
        # step over a 2-minute rate.
        tolerance = 0.001 if host == "steady" else 0.005
        for path, got in (("raw", w), ("recording_rules", r)):
            assert got.busy_seconds == pytest.approx(busy, rel=tolerance), (host, path, delay)
            assert got.idle_seconds == pytest.approx(idle, rel=tolerance), (host, path, delay)


@pytest.mark.prometheus
@pytest.mark.parametrize("delay", DELAYS)
def test_recorded_steps_cover_the_window_like_the_total(prometheus, delay):
    """The steps of a host split between owners end at the window's end and add up to its total."""
    newest = newest_evaluation(prometheus)
    t_end = newest + delay
    end = datetime.fromtimestamp(t_end, timezone.utc)
    source = usage_source(prometheus, "recording_rules")
    (total,) = [u for u in source.window_usage(end, WINDOW) if u.instance == HOSTS["changing"]]
    steps = source.usage_steps([HOSTS["changing"]], end, WINDOW, 60.0)
    ((_, host_steps),) = steps.items()
    assert host_steps[-1].end == pytest.approx(t_end)
    inside = 0.0
    for s in host_steps:
        overlap = min(s.end, t_end) - max(s.start, t_end - WINDOW)
        if overlap > 0:
            inside += s.busy_seconds * overlap / (s.end - s.start)
    assert inside == pytest.approx(total.busy_seconds, rel=1e-6)
    # Before and after the change, the steps see the two loads.
    first, last = host_steps[1], host_steps[-1]
    light, heavy = RATES["changing"], HEAVY
    assert first.busy_seconds / (first.end - first.start) == pytest.approx(
        light["user"] + light["system"]
    )
    assert last.busy_seconds / (last.end - last.start) == pytest.approx(
        heavy["user"] + heavy["system"]
    )


@pytest.mark.prometheus
def test_a_rules_file_without_the_heartbeat_still_serves_close_totals_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An older ada-carbon-rules.yml (no heartbeat): edges left out, a warning, no failure."""
    require_binaries("prometheus")
    group = yaml.safe_load(RULES.read_text())
    rules = group["groups"][0]["rules"]
    group["groups"][0]["rules"] = [r for r in rules if r["record"] != "ada_carbon:rules:heartbeat"]
    old_rules = tmp_path / "ada-carbon-rules.yml"
    old_rules.write_text(yaml.safe_dump(group))
    write_blocks(counters(), tmp_path / "data")
    server = PrometheusServer(tmp_path / "data", workdir=tmp_path)
    server.start()
    try:
        backfill_rules(server, old_rules, T0 - 7200.0 + 180.0, T0)
        end = newest_evaluation(server) + 30.0
        with caplog.at_level("WARNING", logger="exporter.sources.prometheus"):
            source = usage_source(server, "recording_rules")
            usage = source.window_usage(datetime.fromtimestamp(end, timezone.utc), WINDOW)
            source.window_usage(datetime.fromtimestamp(end, timezone.utc), WINDOW)
    finally:
        server.stop()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "no sample of ada_carbon:rules:heartbeat" in warnings[0]
    (steady,) = [u for u in usage if u.instance == HOSTS["steady"]]
    busy, idle = expected("steady", end)
    # Without edges the tiles cover the window shifted by 30-90 s: for a steady host
    # as much as the window, give or take the one tile a missing evaluation costs.
    rates = RATES["steady"]
    assert abs(steady.busy_seconds - busy) <= 60.0 * (rates["user"] + rates["system"]) + 1e-6
    assert abs(steady.idle_seconds - idle) <= 60.0 * (rates["idle"] + rates["iowait"]) + 1e-6


@pytest.mark.prometheus
def test_a_host_gone_just_after_the_window_started_is_kept_with_nothing_used(prometheus):
    """Its one rule sample in the window stands for a minute almost all before the window,
    so the start edge takes off more than the sample adds (-29 s of its rate). It used
    nothing in the window, not less than nothing, and it is still a host Prometheus
    measured: dropped, its workspace would count as one Prometheus does not know."""
    # Its newest rule sample's own time (an instant selector keeps it; GONE + 200 s is
    # after the last one, which is due within 2 minutes of the last scrape).
    rule = f'instance:node_cpu_busy_seconds:rate2m{{instance="{GONE_INSTANCE}"}}'
    body = httpx.post(
        prometheus.url + "/api/v1/query", data={"query": f"timestamp({rule})", "time": GONE + 200}
    ).json()
    (item,) = body["data"]["result"]
    last = float(item["value"][1])
    end = datetime.fromtimestamp(last - 1.0 + WINDOW, timezone.utc)
    usage = usage_source(prometheus, "recording_rules").window_usage(end, WINDOW)
    gone = [(u.busy_seconds, u.idle_seconds) for u in usage if u.instance == GONE_INSTANCE]
    assert gone == [(0.0, 0.0)]


@pytest.mark.prometheus
def test_rules_evaluated_every_5_minutes_are_refused_not_read_80_percent_low(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """vmalert's replay evaluates every 5 minutes by default (-datasource.queryStep=5m):
    each sample would be read as standing for the configured minute, and the window's
    usage come out a fifth of itself with source_up 1. The heartbeat shows 12 evaluations
    where one a minute makes 60: the window is refused, logged and counted."""
    require_binaries("prometheus")
    group = yaml.safe_load(RULES.read_text())
    group["groups"][0]["interval"] = "5m"
    slow_rules = tmp_path / "ada-carbon-rules.yml"
    slow_rules.write_text(yaml.safe_dump(group))
    write_blocks(counters(), tmp_path / "data")
    server = PrometheusServer(tmp_path / "data", workdir=tmp_path)
    server.start()
    try:
        backfill_rules(server, slow_rules, T0 - 7200.0 + 180.0, T0)
        end = datetime.fromtimestamp(newest_evaluation(server) + 30.0, timezone.utc)
        source = usage_source(server, "recording_rules")
        with pytest.raises(SourceError, match="evaluated 12 times in the window where one every"):
            source.window_usage(end, WINDOW)
        config = Config(prometheus=PrometheusConfig(url=server.url, source="recording_rules"))
        engine = Refresh(config, source, StubOwnership(), FixedIntensity(200))
        registry = CollectorRegistry()
        registry.register(AdaCarbonCollector(lambda: engine.snapshot(end)))
        with caplog.at_level("WARNING", logger="exporter.health"):
            exported = {
                (s.name, tuple(s.labels.values())): s.value
                for m in registry.collect()
                for s in m.samples
            }
        engine.close()
        # The same rules read at their own interval: the window is whole again.
        at_5m = PrometheusConfig(
            url=server.url,
            source="recording_rules",
            recording_rules=RecordingRulesConfig(interval_seconds=300.0),
        )
        modes = ModesConfig()
        usage = PrometheusUsage(httpx.Client(), at_5m, modes.busy, modes.idle)
        rows = usage.window_usage(end, WINDOW)
    finally:
        server.stop()
    assert exported[("ada_carbon_source_up", ("prometheus",))] == 0
    assert exported[("ada_carbon_recording_rules_evaluations", ("seen",))] == 12
    assert exported[("ada_carbon_recording_rules_evaluations", ("expected",))] == 60
    assert not any(name == "ada_carbon_cpu_seconds" for name, _ in exported)
    assert "evaluated 12 times" in caplog.text
    # Read as 5-minute samples, each 2-minute rate stands for 5 minutes: a steady host's
    # window comes out whole (it is steady), not a fifth of it.
    (steady,) = [u for u in rows if u.instance == HOSTS["steady"]]
    busy, _ = expected("steady", end.timestamp())
    assert steady.busy_seconds == pytest.approx(busy, rel=0.01)
