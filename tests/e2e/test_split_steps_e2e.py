"""The owners' shares of a host that changed hands, read from a real Prometheus (raw path).

The window total comes from ``increase()``, which handles each series on its own; the
steps that share it out must too. Summing the counters first and then differencing
read a series that ended (a CPU taken offline) or a relabel (``job`` renamed, old and
new series side by side until the old go stale) as one huge step, and gave nearly
the whole window to whoever held the host then. A split step that does not divide
the window left its last part without steps.
"""

from __future__ import annotations

from collections import defaultdict

import httpx
import pytest

from exporter.config import Config, IntensityConfig, PrometheusConfig
from exporter.refresh import Refresh
from exporter.sources.prometheus.usage import PrometheusUsage
from tests import scenario
from tests.harness.prometheus import openmetrics_counter
from tests.stubs import StubIntensity, StubOwnership, ws

END = scenario.END
T = END.timestamp()
GROUP = {"cloud_project_name": "IDAaaS", "machine_name": "Muon"}
RELABELLED = "172.16.100.61"  # 2 CPUs; job "node" -> "node-exporter" at T - 45 min
OFFLINE = "172.16.100.62"  # 4 CPUs; cpu 3's series end at T - 45 min
STEADY = "172.16.100.63"  # 1 CPU


def history() -> str:
    """2 h every 15 s; user 0.4 and idle 0.6 per CPU, counters far from zero."""
    samples = []
    for t in range(round(T) - 7200 + 7, round(T) + 1, 15):
        for host, cpus in ((RELABELLED, 2), (OFFLINE, 4), (STEADY, 1)):
            for cpu in range(cpus):
                if host == OFFLINE and cpu == 3 and t >= T - 2700:
                    continue
                job = "node-exporter" if host == RELABELLED and t >= T - 2700 else "node"
                for mode, rate in (("user", 0.4), ("idle", 0.6)):
                    labels = {"instance": f"{host}:9100", **GROUP, "job": job}
                    labels |= {"cpu": str(cpu), "mode": mode}
                    samples.append((labels, 1e6 + rate * (t - T + 7200), float(t)))
    return openmetrics_counter("node_cpu_seconds", samples)


def shares(url: str, handover: dict[str, float], step: float) -> dict[str, list[float]]:
    """user -> [busy, idle] CPU-seconds, alice handing each host to bob at its time."""
    prometheus = PrometheusConfig(url=url, timeout_seconds=30.0, step_seconds=step)
    config = Config(prometheus=prometheus, carbon_intensity=IntensityConfig(source="fixed"))
    usage = PrometheusUsage(httpx.Client(), prometheus, config.modes.busy, config.modes.idle)
    owners = StubOwnership(
        [
            w
            for n, (host, at) in enumerate(handover.items())
            for w in (
                ws(f"a{n}", "alice", T - 86400, deleted=at, host=host),
                ws(f"b{n}", "bob", at, host=host),
            )
        ]
    )
    engine = Refresh(config, usage, owners, StubIntensity())
    try:
        snapshot = engine.snapshot(END)
    finally:
        engine.close()
    assert snapshot.usage is not None and snapshot.split_hosts == len(handover)
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (*_, user), u in snapshot.usage.items():
        out[user][0] += u.busy_seconds
        out[user][1] += u.idle_seconds
    return out


def test_relabels_offline_cpus_and_uneven_steps_split_as_the_load_did(prometheus_factory):
    url = prometheus_factory(history()).url

    # One host at a time, so each owner's share is that host's alone.
    relabelled = shares(url, {RELABELLED: T - 1800}, 60.0)
    # 2 CPUs x 0.4 x 1800 s each side of the handover (one step may be lost at the relabel)
    assert relabelled["alice"][0] == pytest.approx(1440.0, rel=0.05)
    assert relabelled["bob"][0] == pytest.approx(1440.0, rel=0.05)

    offline = shares(url, {OFFLINE: T - 1800}, 60.0)
    alice, bob = offline["alice"][1], offline["bob"][1]
    # idle: alice had 4 CPUs for 15 min and 3 for 15 min, bob 3 for 30 min
    assert alice / (alice + bob) == pytest.approx(105 / 195, abs=0.02)

    # 7 min steps do not divide the hour: the 4 minutes after the handover still count.
    uneven = shares(url, {STEADY: T - 240}, 420.0)
    busy = uneven["alice"][0] + uneven["bob"][0]
    assert busy == pytest.approx(0.4 * 3600, rel=0.01)
    assert uneven["bob"][0] == pytest.approx(busy * 4 / 60, rel=0.1)
