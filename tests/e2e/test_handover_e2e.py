"""Handovers at odd moments, read from a real Prometheus (raw path, 15 s scrapes).

The issue's targets, against the generator's own truth (tests/handover_scenario.py):
each user's energy within 0.5 %; each (project, machine, user) value within 2 % or
one minute of its host's usage, whichever is larger; under 0.1 % of all energy
given to the wrong (project, machine, user).
"""

from __future__ import annotations

from collections import defaultdict

import httpx
import pytest

from exporter.config import Config, IntensityConfig, PrometheusConfig
from exporter.refresh import Refresh
from exporter.sources.prometheus.usage import PrometheusUsage
from tests import handover_scenario as hs
from tests.stubs import StubIntensity, StubOwnership

Key = tuple[str, str, str]


def exported(url: str, hosts: list[hs.Host]) -> tuple[dict[Key, float], int]:
    """Energy per (project, machine, user) from one scrape, and Prometheus requests made."""
    prometheus = PrometheusConfig(url=url, timeout_seconds=30.0)
    config = Config(prometheus=prometheus, carbon_intensity=IntensityConfig(source="fixed"))
    usage = PrometheusUsage(httpx.Client(), prometheus, config.modes.busy, config.modes.idle)
    engine = Refresh(config, usage, StubOwnership(hs.workspaces(hosts)), StubIntensity())
    try:
        snapshot = engine.snapshot(hs.END)
    finally:
        engine.close()
    assert snapshot.usage is not None
    out: dict[Key, float] = defaultdict(float)
    for (project, machine, _, user), u in snapshot.usage.items():
        out[project, machine, user] += u.busy_joules + u.idle_joules
    return out, snapshot.sources["prometheus"].requests


def figures(got: dict[Key, float], hosts: list[hs.Host]) -> tuple[float, float, float]:
    """(worst user's error, worst value's error in units of its tolerance, share misattributed).

    ``unattributed`` is no user (its share is the gaps between owners): it is held to
    the per-value target, as each (project, machine) of it is a value."""
    truth, tolerance = hs.truth(hosts)
    assert set(got) == set(truth)
    by_user: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for key, joules in truth.items():
        by_user[key[2]][0] += joules
        by_user[key[2]][1] += got[key]
    worst_user = max(abs(g - t) / t for u, (t, g) in by_user.items() if u != hs.UNATTRIBUTED)
    worst_value = max(abs(got[k] - t) / tolerance[k] for k, t in truth.items())
    misattributed = sum(abs(got[k] - t) for k, t in truth.items()) / 2 / sum(truth.values())
    return worst_user, worst_value, misattributed


@pytest.mark.prometheus
def test_handovers_at_odd_moments_meet_the_targets(prometheus_factory):
    hosts = hs.fleet()
    assert sum(len(h.pieces) > 1 for h in hosts) >= 0.15 * len(hosts)
    url = prometheus_factory(hs.openmetrics(hosts)).url
    got, requests = exported(url, hosts)
    worst_user, worst_value, misattributed = figures(got, hosts)
    print(
        f"worst user {worst_user:.4%}, worst value {worst_value:.3f} x tolerance, "
        f"misattributed {misattributed:.4%}, {requests} requests"
    )
    assert worst_user < 0.005
    assert worst_value < 1.0
    assert misattributed < 0.001
    assert requests <= 4  # the totals (2), the steps, the look at the handovers
