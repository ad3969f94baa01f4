"""Values that would lie: non-finite totals, and answers without one usable value (issue 17)."""

import logging
import math
from datetime import datetime, timezone

import httpx
import pytest
from prometheus_client.registry import CollectorRegistry

from exporter.collectors import AdaCarbonCollector
from exporter.config import Config, IntensityConfig, PrometheusConfig
from exporter.exposition import encode
from exporter.refresh import Refresh
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.prometheus.usage import PrometheusUsage
from tests.stubs import StubIntensity, StubOwnership, StubUsage, steady_steps, usage, ws

END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
T = END.timestamp()
A, B = "172.16.100.50", "172.16.100.51"
URL = "http://prom.test:9090"
USAGE_FAMILIES = (
    "ada_carbon_cpu_seconds",
    "ada_carbon_energy_joules",
    "ada_carbon_emissions_grams",
)


def refresh(u, o=None):
    cfg = Config(carbon_intensity=IntensityConfig(default_gco2_per_kwh=150.0))
    return Refresh(cfg, u, o or StubOwnership(), StubIntensity())


def served(e):
    """The /metrics body of one refresh, and its snapshot."""
    snaps = []

    def one():
        snaps.append(e.snapshot(END))
        return snaps[-1]

    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(one))
    return encode(registry, None)[0].decode(), snaps[0]


def usage_values(body):
    return [
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith(USAGE_FAMILIES)
    ]


@pytest.mark.parametrize(
    "case",
    [
        "one host priced past the largest float",
        "two finite hosts of one group summing past it",
        "a split host whose steps overflow",
    ],
)
def test_finite_input_never_serves_a_non_finite_usage_value(case):
    if case.startswith("one host"):
        u = StubUsage([usage(A, busy=1e308, idle=1e308)])
        o = StubOwnership([ws("a", "alice", T - 86400, host=A)])
    elif case.startswith("two"):
        u = StubUsage([usage(A, busy=1e308, idle=1.0), usage(B, busy=1e308, idle=1.0)])
        o = StubOwnership()
    else:
        steps = steady_steps(T, busy=1e308 * 60, idle=1.0)  # each step near the largest float
        u = StubUsage([usage(A, busy=1e308)], {(f"{A}:9100", "IDAaaS", "Muon"): steps})
        o = StubOwnership(
            [
                ws("a1", "alice", T - 86400, deleted=T - 1200, host=A),
                ws("a2", "bob", T - 1200, host=A),
            ]
        )
    e = refresh(u, o)
    try:
        body, snap = served(e)
    finally:
        e.close()
    values = usage_values(body)
    assert all(math.isfinite(v) for v in values)
    assert not snap.sources["prometheus"].up and snap.usage is None
    assert "not finite" in snap.sources["prometheus"].error
    assert 'ada_carbon_source_up{source="prometheus"} 0.0' in body
    assert snap.sources["mongodb"].up


def test_large_but_summable_values_are_still_served():
    e = refresh(StubUsage([usage(A, busy=1e300, idle=1e300)]))
    try:
        _, snap = served(e)
    finally:
        e.close()
    assert snap.sources["prometheus"].up
    assert all(math.isfinite(x) for u in snap.usage.values() for x in u)


def vector(*values):
    result = [
        {
            "metric": {"instance": f"h{k}:9100", "class": cls},
            "value": [T, value],
        }
        for k, value in enumerate(values)
        for cls in ("busy", "idle")
    ]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def prometheus(httpx_mock, answer):
    httpx_mock.add_response(url=URL + "/api/v1/query", json=answer, is_reusable=True)
    cfg = PrometheusConfig(url=URL)
    return PrometheusUsage(httpx.Client(), cfg, ("user",), ("idle",))


@pytest.mark.parametrize(
    "values", [("NaN", "NaN"), ("+Inf", "-Inf"), ("-1", "-0.5"), ("x", ""), ("NaN", "-3")]
)
def test_an_answer_with_series_but_no_usable_value_is_a_failed_source_logged_once(
    httpx_mock, caplog, values
):
    e = Refresh(
        Config(carbon_intensity=IntensityConfig(source="fixed")),
        prometheus(httpx_mock, vector(*values)),
        StubOwnership(),
        FixedIntensity(100.0),
    )
    caplog.set_level(logging.WARNING, logger="exporter.health")
    try:
        snaps = [e.snapshot(END) for _ in range(3)]
    finally:
        e.close()
    assert all(not s.sources["prometheus"].up and s.usage is None for s in snaps)
    assert "none with a value that is a finite number" in snaps[0].sources["prometheus"].error
    lines = [r.getMessage() for r in caplog.records if "prometheus" in r.getMessage()]
    assert len(lines) == 1 and "unusable answer" in lines[0]


def test_an_answer_with_some_usable_values_keeps_those_and_passes_over_the_rest(httpx_mock):
    some = prometheus(httpx_mock, vector("NaN", "5"))
    assert [u.instance for u in some.window_usage(END, 3600)] == ["h1:9100"]


def test_an_empty_answer_is_an_empty_fleet(httpx_mock):
    assert prometheus(httpx_mock, vector()).window_usage(END, 3600) == []


def test_steps_with_series_but_no_usable_sample_fail_the_source(httpx_mock):
    matrix = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": {"instance": "h:9100", "class": "busy"}, "values": [[T, "NaN"]]},
                {"metric": {"instance": "h:9100", "class": "idle"}, "values": [[T, "-1"]]},
            ],
        },
    }
    httpx_mock.add_response(url=URL + "/api/v1/query_range", json=matrix)
    source = PrometheusUsage(httpx.Client(), PrometheusConfig(url=URL), ("user",), ("idle",))
    with pytest.raises(Exception, match="unusable answer"):
        source.usage_steps(["h:9100"], END, 3600, 60)
