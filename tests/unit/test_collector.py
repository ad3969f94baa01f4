"""The collector and engine: families from a fresh registry, health per source, shared refreshes."""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from prometheus_client import CollectorRegistry

from exporter.collectors import SPECS, AdaCarbonCollector
from exporter.config import Config, IntensityConfig
from exporter.exposition import make_metrics_app
from exporter.refresh import Refresh
from tests.stubs import StubIntensity, StubOwnership, StubUsage, steady_steps, usage, ws

END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
T = END.timestamp()


def make(usage_src=None, owner_src=None, intensity_src=None, **config):
    cfg = Config(carbon_intensity=IntensityConfig(default_gco2_per_kwh=150.0), **config)
    engine = Refresh(
        cfg,
        usage_src or StubUsage(),
        owner_src or StubOwnership(),
        intensity_src or StubIntensity(),
    )
    registry = CollectorRegistry()
    collector = AdaCarbonCollector(lambda: engine.snapshot(END))
    registry.register(collector)
    return registry, collector


def samples(registry, name):
    return {
        tuple(sorted(s.labels.items())): s.value
        for m in registry.collect()
        for s in m.samples
        if s.name == name
    }


def value(registry, name, **labels):
    return samples(registry, name)[tuple(sorted(labels.items()))]


def handover_sources():
    u = StubUsage([usage()], {("172.16.100.50:9100", "IDAaaS", "Muon"): steady_steps(T)})
    o = StubOwnership([ws("w1", "alice", T - 86400, deleted=T - 1200), ws("w2", "bob", T - 1200)])
    return u, o


def test_handover_is_split_and_priced_per_user():
    u, o = handover_sources()
    registry, _ = make(u, o, StubIntensity(100.0))
    labels = {"cloud_project_name": "IDAaaS", "machine_name": "Muon", "facility": "ISIS"}
    assert value(
        registry, "ada_carbon_cpu_seconds", **labels, user="alice", mode="busy"
    ) == pytest.approx(2400)
    assert value(
        registry, "ada_carbon_cpu_seconds", **labels, user="bob", mode="idle"
    ) == pytest.approx(2400)
    # 2400 busy s x 12 W = 28800 J = 0.008 kWh; at 100 g/kWh = 0.8 g
    assert value(
        registry, "ada_carbon_energy_joules", **labels, user="alice", mode="busy"
    ) == pytest.approx(28800)
    assert value(
        registry, "ada_carbon_emissions_grams", **labels, user="alice", mode="busy"
    ) == pytest.approx(0.8)
    assert value(registry, "ada_carbon_split_hosts") == 1
    assert value(registry, "ada_carbon_window_seconds") == 3600


def test_requests_per_scrape_are_constant():
    u, o = handover_sources()
    registry, _ = make(u, o)
    assert value(registry, "ada_carbon_source_requests", source="prometheus") == 2
    assert value(registry, "ada_carbon_source_requests", source="mongodb") == 1
    assert value(registry, "ada_carbon_source_requests", source="carbon_intensity") == 1


def test_every_family_is_described_without_querying():
    u = StubUsage()
    registry, _ = make(u, workspace_usage=True)  # its families are not written when off
    assert u.calls == 0  # registering called describe(), not collect()
    names = {m.name for m in registry.collect()}
    assert {s.name for s in SPECS.values()} == names


def test_families_come_in_their_documented_order():
    registry, _ = make(*handover_sources())
    assert [m.name for m in registry.collect()] == [
        f"ada_carbon_{name}"
        for name in (
            *("cpu_seconds", "energy_joules", "emissions_grams", "window_seconds"),
            *("window_end_timestamp_seconds", "grid_intensity_gco2_per_kwh"),
            *("grid_intensity_window_mean_gco2_per_kwh", "grid_intensity_source"),
            *("grid_intensity_index", "grid_intensity_age_seconds"),
            *("grid_intensity_actual_ratio", "grid_intensity_forecast_gco2_per_kwh"),
            *("greenest_window_start_timestamp_seconds", "greenest_window_mean_gco2_per_kwh"),
            *("workspaces", "workspace_info", "refresh_success", "source_up"),
            *("source_duration_seconds", "source_requests", "skipped_documents"),
            *("unmatched_hosts", "ownership_conflicts", "split_hosts", "split_hosts_without_steps"),
            *("recording_rules_evaluations", "equivalency_grams"),
            "build_info",
            *("embodied_grams", "embodied_unconfigured_hosts"),
            *("power_watts", "emission_rate_grams_per_second", "power_model_info"),
        )
    ]


def test_prometheus_down_hides_usage_but_keeps_serving_the_rest():
    u, o = handover_sources()
    u.fail = True
    registry, _ = make(u, o)
    assert value(registry, "ada_carbon_source_up", source="prometheus") == 0
    assert value(registry, "ada_carbon_source_up", source="mongodb") == 1
    assert samples(registry, "ada_carbon_energy_joules") == {}
    assert value(registry, "ada_carbon_grid_intensity_gco2_per_kwh", region="GB") == 100
    assert value(registry, "ada_carbon_workspaces", tag="ISIS", state="CLAIMED") == 1


def test_mongodb_down_hides_usage_rather_than_calling_it_unattributed():
    u, o = handover_sources()
    o.fail = True
    registry, _ = make(u, o)
    assert value(registry, "ada_carbon_source_up", source="mongodb") == 0
    assert samples(registry, "ada_carbon_cpu_seconds") == {}
    assert samples(registry, "ada_carbon_workspaces") == {}


def test_intensity_down_uses_the_default_and_says_so():
    u, o = handover_sources()
    registry, _ = make(u, o, StubIntensity(fail=True))
    assert value(registry, "ada_carbon_source_up", source="carbon_intensity") == 0
    assert value(registry, "ada_carbon_grid_intensity_source", region="GB", source="default") == 1
    assert value(registry, "ada_carbon_grid_intensity_source", region="GB", source="api") == 0
    labels = {
        "cloud_project_name": "IDAaaS",
        "machine_name": "Muon",
        "facility": "ISIS",
        "user": "alice",
        "mode": "busy",
    }
    assert value(registry, "ada_carbon_emissions_grams", **labels) == pytest.approx(0.008 * 150)


def test_intensity_outage_after_success_falls_back_to_the_cache():
    u, o = handover_sources()
    intensity = StubIntensity(120.0)
    registry, _ = make(u, o, intensity)
    assert value(registry, "ada_carbon_grid_intensity_source", region="GB", source="api") == 1
    intensity.fail = True
    assert value(registry, "ada_carbon_grid_intensity_source", region="GB", source="cache") == 1
    assert value(registry, "ada_carbon_grid_intensity_gco2_per_kwh", region="GB") == 120


def test_source_failure_is_logged_once_per_episode(caplog):
    caplog.set_level(logging.INFO)
    u, o = handover_sources()
    u.fail = True
    registry, _ = make(u, o)
    for _ in range(5):
        list(registry.collect())
    u.fail = False
    list(registry.collect())
    messages = [r.getMessage() for r in caplog.records if r.name == "exporter.health"]
    assert messages == [
        "source prometheus is down: prometheus is down",
        "source prometheus recovered",
    ]


def test_slow_source_is_cut_off_by_the_scrape_budget():
    u, o = handover_sources()
    u.delay = 1.5
    registry, _ = make(u, o, scrape_budget_seconds=0.3)
    assert value(registry, "ada_carbon_source_up", source="prometheus") == 0
    assert value(registry, "ada_carbon_source_up", source="mongodb") == 1


def test_concurrent_scrapes_share_one_refresh():
    u, o = handover_sources()
    u.delay = 0.3
    registry, collector = make(u, o)
    start = threading.Barrier(20)

    def scrape(_):
        start.wait()
        return samples(registry, "ada_carbon_cpu_seconds")

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(scrape, range(20)))
    assert u.calls == 1
    assert collector.shared.refreshes == 1
    assert all(r == results[0] and r for r in results)


def scrape(app):
    seen = {}
    body = b"".join(app({"REQUEST_METHOD": "GET"}, lambda status, _: seen.update(status=status)))
    return seen["status"], body.decode()


def test_a_refresh_that_raises_is_a_failed_refresh_served_with_200_until_one_succeeds(caplog):
    """Not a 500 while /-/ready says 200: the health families say so, the log says it once."""
    caplog.set_level(logging.INFO)
    u, o = handover_sources()
    engine = Refresh(Config(), u, o, StubIntensity())
    broken = True

    def refresh():
        if broken:
            raise OverflowError("date value out of range")
        return engine.snapshot(END)

    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(refresh))
    app = make_metrics_app(registry)
    for _ in range(3):
        status, body = scrape(app)
        assert status == "200 OK"
        assert "\nada_carbon_refresh_success 0.0\n" in body
        assert 'ada_carbon_build_info{version="' in body
        assert 'ada_carbon_equivalency_grams{equivalent="' in body
        # Nothing derived from the sources: absent rather than wrong.
        for family in ("cpu_seconds", "source_up", "grid_intensity_gco2_per_kwh", "workspaces"):
            assert f"ada_carbon_{family}{{" not in body
    broken = False
    status, body = scrape(app)
    assert status == "200 OK"
    assert "\nada_carbon_refresh_success 1.0\n" in body
    assert 'ada_carbon_source_up{source="prometheus"} 1.0' in body
    assert 'ada_carbon_cpu_seconds{cloud_project_name="IDAaaS"' in body
    messages = [r.getMessage() for r in caplog.records if r.name == "exporter.refresh"]
    assert messages == [
        "refresh failed: OverflowError: date value out of range",
        "refresh recovered",
    ]


def test_concurrent_scrapes_share_a_failed_refresh_and_its_one_log_line(caplog):
    calls, start = [], threading.Barrier(10)

    def refresh():
        calls.append(1)
        threading.Event().wait(0.5)  # the other scrapes arrive meanwhile
        raise RuntimeError("bug")

    registry = CollectorRegistry()
    collector = AdaCarbonCollector(refresh)
    registry.register(collector)

    def one(_):
        start.wait()
        return value(registry, "ada_carbon_refresh_success")

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(one, range(10))) == [0.0] * 10
    assert len(calls) == collector.shared.refreshes == 1
    assert [r.getMessage() for r in caplog.records if r.name == "exporter.refresh"] == [
        "refresh failed: RuntimeError: bug"
    ]


def test_conservation_per_group_includes_unattributed():
    u = StubUsage(
        [
            usage("172.16.100.50"),
            usage("172.16.100.51", busy=10, idle=20),
            usage("172.16.100.52", busy=5, idle=5, machine="SANS"),
        ],
        {("172.16.100.50:9100", "IDAaaS", "Muon"): steady_steps(T)},
    )
    o = StubOwnership([ws("w1", "alice", T - 1800), ws("w2", "carol", 0, host="172.16.100.52")])
    registry, _ = make(u, o)
    cpu = samples(registry, "ada_carbon_cpu_seconds")
    muon_busy = sum(
        v for k, v in cpu.items() if ("machine_name", "Muon") in k and ("mode", "busy") in k
    )
    assert muon_busy == pytest.approx(3610)
    assert value(registry, "ada_carbon_unmatched_hosts", side="prometheus") == 1


def test_a_project_missing_from_the_facility_map_is_exported_as_facility_unknown():
    u = StubUsage([usage(), usage(host="172.16.100.51", project="NewAaaS", machine="Muon")])
    o = StubOwnership(
        [ws("w1", "alice", T - 86400), ws("w2", "bob", T - 86400, host="172.16.100.51")]
    )
    registry, _ = make(u, o)
    cpu = samples(registry, "ada_carbon_cpu_seconds")
    facility = {dict(k)["cloud_project_name"]: dict(k)["facility"] for k in cpu}
    assert facility == {"IDAaaS": "ISIS", "NewAaaS": "unknown"}
    labels = {"cloud_project_name": "NewAaaS", "machine_name": "Muon", "facility": "unknown"}
    assert value(registry, "ada_carbon_cpu_seconds", **labels, user="bob", mode="busy") == 3600


class _Answer(list):
    """An answer with the weight of a 10,000-host one (about 40 MB of parsed JSON there)."""


class _HeavyUsage(StubUsage):
    def window_usage(self, end, window_seconds):
        answer = _Answer(super().window_usage(end, window_seconds))
        answer.ballast = bytearray(20_000_000)
        return answer


def test_a_refresh_keeps_nothing_of_its_answers_once_its_snapshot_is_built():
    """Between scrapes the exporter holds its last snapshot, not the answers it came from:
    at 10,000 hosts they are the largest thing it ever holds, and kept, the next refresh's
    answers would come on top of them."""
    import gc
    import tracemalloc

    u, o = handover_sources()
    heavy = _HeavyUsage(usage=u.usage, steps=u.steps)
    engine = Refresh(Config(), heavy, o, StubIntensity())
    engine.snapshot(END)  # warm: caches and pools as a long-running exporter has them
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        snapshot = engine.snapshot(END)
        assert snapshot.usage  # the answer was used
        del snapshot
        # A call is let go by its worker just after it hands its answer over: wait for
        # that (a few microseconds; up to 5 s on a loaded machine), not for the next refresh.
        deadline = time.monotonic() + 5.0
        while True:
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
            if kept < 5_000_000 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
    finally:
        tracemalloc.stop()
        engine.close()
    assert heavy.calls == 2  # the window totals, one per refresh
    assert kept < 5_000_000, f"{kept / 1e6:.1f} MB kept after the refresh"
