"""The fault matrix: real upstream processes on loopback failing, the exporter scraped over HTTP.

Each case checks what a Prometheus server scraping the exporter relies on: the scrape
answers within the budget; the failing source's ``ada_carbon_source_up`` is 0 and its
derived families are absent rather than wrong; the other families keep serving; the
next scrape after the upstream returns recovers, with no restart; and the log has one
line when the failure starts and one when it ends, not one per scrape.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pytest_httpx import HTTPXMock

from exporter.config import Config, IntensityConfig, MongoConfig, PrometheusConfig
from exporter.refresh import Refresh
from exporter.sources.build import build_refresh
from exporter.sources.carbon_intensity.client import CarbonIntensityAPI
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.prometheus.client import http_client
from exporter.sources.prometheus.usage import PrometheusUsage
from tests import scenario
from tests.e2e.test_e2e import load_mongo
from tests.harness.faulty_http import FAULTS, FaultyPrometheus
from tests.harness.faulty_tcp import FaultyProxy
from tests.harness.fixtures import require_binaries
from tests.harness.mongowire import MongoWireServer
from tests.harness.served import Scrape, ServedExporter
from tests.stubs import StubOwnership, StubUsage, usage, ws
from tests.unit.test_grid import Clock, FakeGrid

BUDGET = 1.5  # scrape_budget_seconds
TIMEOUT = 0.5  # every upstream timeout
BOUND = BUDGET + 1.5  # generous: a bound on the scrape's wall time, not a benchmark
END = scenario.END
T = END.timestamp()
BUSY, IDLE = scenario.BUSY_MODES, scenario.IDLE_MODES


def config(**sources: object) -> Config:
    defaults: dict[str, object] = {
        "prometheus": PrometheusConfig(url="http://127.0.0.1:9", timeout_seconds=TIMEOUT),
        "mongodb": MongoConfig(uri="mongodb://127.0.0.1:9", timeout_seconds=TIMEOUT),
        "carbon_intensity": IntensityConfig(source="fixed", timeout_seconds=TIMEOUT),
    }
    return Config(scrape_budget_seconds=BUDGET, **{**defaults, **sources})  # type: ignore[arg-type]


def prometheus_at(url: str) -> PrometheusConfig:
    return PrometheusConfig(url=url, timeout_seconds=TIMEOUT)


def mongodb_at(uri: str) -> MongoConfig:
    return MongoConfig(uri=uri, timeout_seconds=TIMEOUT)


@pytest.fixture
def health_log(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The exporter's health log lines so far (down and recovered), as messages."""
    caplog.set_level(logging.INFO, logger="exporter.health")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "exporter.health"]


@pytest.fixture
def faulty() -> Iterator[FaultyPrometheus]:
    with FaultyPrometheus() as server:
        yield server


def assert_failing(scrape: Scrape, source: str) -> None:
    """The scrape answered in time, with only ``source`` down and its families absent."""
    assert scrape.status == 200
    assert scrape.seconds < BOUND, f"scrape took {scrape.seconds:.2f}s"
    assert scrape.up() == {s: (0 if s == source else 1) for s in scrape.up()}
    assert scrape.samples("ada_carbon_grid_intensity_gco2_per_kwh")  # needs no usage source
    if source in ("prometheus", "mongodb"):
        assert scrape.lacks_usage()
        assert not scrape.samples("ada_carbon_split_hosts")
    if source == "mongodb":
        assert not scrape.samples("ada_carbon_workspaces")
        assert not scrape.samples("ada_carbon_workspace_info")
    else:
        assert scrape.samples("ada_carbon_workspaces")


def assert_healthy(scrape: Scrape) -> None:
    assert scrape.status == 200
    assert scrape.seconds < BOUND
    assert set(scrape.up().values()) == {1}
    assert scrape.has_usage()


def assert_one_episode(lines: list[str], *sources: str) -> None:
    """Exactly one 'down' line and then one 'recovered' line per source, nothing else."""
    for source in sources:
        down, back = f"source {source} is down: ", f"source {source} recovered"
        mine = [line for line in lines if line.startswith(down) or line == back]
        assert len(mine) == 2 and mine[0].startswith(down) and mine[1] == back, lines
    assert len(lines) == 2 * len(sources), lines


# --- Prometheus: the real server stopped and started again ---------------------------


@pytest.mark.prometheus
@pytest.mark.mongowire
def test_prometheus_stopped_mid_test_hides_usage_and_the_restart_brings_it_back(
    prometheus_factory, mongo_wire, health_log
):
    prom = prometheus_factory(scenario.openmetrics())
    load_mongo(mongo_wire.uri, scenario.workspaces())
    cfg = config(prometheus=prometheus_at(prom.url), mongodb=mongodb_at(mongo_wire.uri))
    with ServedExporter(build_refresh(cfg), END) as exporter:
        before = exporter.scrape()
        assert_healthy(before)
        prom.stop()
        for _ in range(3):
            assert_failing(exporter.scrape(), "prometheus")
        prom.start()
        after = exporter.scrape()
    assert_healthy(after)
    assert after.samples("ada_carbon_cpu_seconds") == before.samples("ada_carbon_cpu_seconds")
    assert_one_episode(health_log(), "prometheus")


# --- Prometheus: a loopback server that misbehaves on purpose ---------------------------

PROMETHEUS_FAULTS = [f for f in FAULTS if f != "ok"]


@pytest.mark.parametrize("fault", PROMETHEUS_FAULTS)
def test_prometheus_misbehaving_is_down_within_the_budget_and_recovers(fault, faulty, health_log):
    """hang, slow, trickle, 503, malformed JSON, status error, warnings, wrong shape, reset."""
    cfg = config(prometheus=prometheus_at(faulty.url), demo_sources=frozenset({"mongodb"}))
    with ServedExporter(build_refresh(cfg), END) as exporter:
        assert_healthy(exporter.scrape())
        faulty.fault = fault
        for _ in range(2):  # the second failing scrape must not log again
            assert_failing(exporter.scrape(), "prometheus")
        faulty.fault = "ok"
        if fault == "trickle":
            time.sleep(0.4)  # the trickling answer notices within 0.2 s, and hangs up
        assert_healthy(exporter.scrape())
    assert_one_episode(health_log(), "prometheus")


def test_a_partial_answer_to_the_steps_is_not_used_and_the_totals_still_stand(faulty, health_log):
    """The window total succeeds, but the split of a handed-over host comes back partial:
    that answer is not used, the host is split by tenure, and the scrape says so."""
    faulty.fault, faulty.fault_path = "warnings", "/api/v1/query_range"
    cfg = config(prometheus=prometheus_at(faulty.url))
    owners = StubOwnership([ws("w1", "alice", T - 86400, T - 1200), ws("w2", "bob", T - 1200)])
    source = PrometheusUsage(http_client(cfg.prometheus), cfg.prometheus, BUSY, IDLE)
    engine = Refresh(cfg, source, owners, FixedIntensity(200))
    with ServedExporter(engine, END) as exporter:
        scrape = exporter.scrape()
        # The steps and the look at the handover, side by side.
        assert faulty.requests == {"/api/v1/query": 2, "/api/v1/query_range": 2}
        faulty.fault = "ok"
        healed = exporter.scrape()
    for got, unstepped in ((scrape, 1), (healed, 0)):
        assert_healthy(got)
        assert got.value("ada_carbon_split_hosts_without_steps") == unstepped
        users = {dict(k)["user"] for k in got.samples("ada_carbon_cpu_seconds")}
        assert users == {"alice", "bob"}
    assert health_log()[0].startswith("source prometheus steps is down: partial answer")
    assert health_log()[1] == "source prometheus steps recovered"


def test_an_upstream_that_never_finishes_holds_one_worker_not_one_per_scrape(faulty):
    faulty.fault = "trickle"
    cfg = config(prometheus=prometheus_at(faulty.url), demo_sources=frozenset({"mongodb"}))
    with ServedExporter(build_refresh(cfg), END) as exporter:
        scrapes = [exporter.scrape() for _ in range(6)]
        busy = [t for t in threading.enumerate() if t.name.startswith("source")]
        faulty.fault = "ok"
    for scrape in scrapes:
        assert_failing(scrape, "prometheus")
    assert faulty.requests["/api/v1/query"] == 2  # the first scrape's busy and idle; no more
    # The pool's threads: one stuck, the others free. A refresh runs at most 5 calls at
    # once (Prometheus' totals, the workspaces and, as they end, the early steps, the grid
    # intensity, its forecast); a worker held per scrape would make it 10 or more.
    assert len(busy) <= 5


# --- MongoDB: nx-27017 stopped and started again, slow or hung; a port that never answers


@pytest.mark.mongowire
def test_mongodb_stopped_mid_test_hides_usage_and_the_restart_brings_it_back(
    tmp_path: Path, faulty, health_log
):
    require_binaries("mongowire")
    mongo = MongoWireServer(tmp_path / "nx-27017", persistent=True)
    mongo.start()
    try:
        load_mongo(mongo.uri, scenario.workspaces())
        cfg = config(prometheus=prometheus_at(faulty.url), mongodb=mongodb_at(mongo.uri))
        with ServedExporter(build_refresh(cfg), END) as exporter:
            assert_healthy(exporter.scrape())
            mongo.stop()
            for _ in range(3):
                assert_failing(exporter.scrape(), "mongodb")
            mongo.start()
            healed = exporter.scrape()
    finally:
        mongo.stop()
    assert_healthy(healed)
    users = {dict(k)["user"] for k in healed.samples("ada_carbon_cpu_seconds")}
    assert users == {"alice", "bob"}  # the handed-over host of the scenario, from MongoDB
    assert_one_episode(health_log(), "mongodb")


@pytest.mark.mongowire
def test_mongodb_that_accepts_and_never_answers_is_down_within_the_budget(
    blackhole, faulty, health_log
):
    cfg = config(prometheus=prometheus_at(faulty.url), mongodb=mongodb_at(blackhole.uri))
    with ServedExporter(build_refresh(cfg), END) as exporter:
        for _ in range(3):
            assert_failing(exporter.scrape(), "mongodb")
        readers = [t for t in threading.enumerate() if t.name.startswith("mongodb-")]
    lines = health_log()
    assert len(lines) == 1 and lines[0].startswith("source mongodb is down: ")
    # The thread reading the documents ends with its cursor, at pymongo's timeout: one
    # hung refresh holds one, not one per scrape.
    assert len(readers) <= 1


@pytest.fixture
def mongo_proxy(mongo_wire) -> Iterator[FaultyProxy]:
    """nx-27017 holding the scenario's workspaces, behind a proxy that can hold its replies."""
    load_mongo(mongo_wire.uri, scenario.workspaces())
    with FaultyProxy(mongo_wire.port, slow_seconds=BUDGET + 1.0) as proxy:
        yield proxy


@pytest.mark.mongowire
@pytest.mark.parametrize("fault", ["slow", "hang"])
def test_mongodb_answering_after_the_budget_or_never_is_down_in_time_and_recovers(
    fault, mongo_proxy, faulty, health_log
):
    """slow: every reply comes after the budget; hang: none comes until the proxy lets go."""
    cfg = config(prometheus=prometheus_at(faulty.url), mongodb=mongodb_at(mongo_proxy.uri))
    with ServedExporter(build_refresh(cfg), END) as exporter:
        before = exporter.scrape()
        assert_healthy(before)
        mongo_proxy.fault = fault
        failing = [exporter.scrape() for _ in range(3)]
        readers = [t for t in threading.enumerate() if t.name.startswith("mongodb-")]
        mongo_proxy.fault = "ok"
        healed = exporter.scrape()
    for scrape in failing:
        assert_failing(scrape, "mongodb")
        # pymongo gives up at its timeout, below the budget (its server selection may
        # overrun it by up to 0.5 s: it waits for its monitor in 0.5 s steps). A call left
        # waiting on the upstream would make each later scrape wait out the whole budget.
        assert scrape.seconds < BUDGET, f"scrape took {scrape.seconds:.2f}s"
        assert scrape.value("ada_carbon_source_duration_seconds", source="mongodb") < BUDGET
    assert len(readers) <= 1  # one hung read at most, not one per scrape
    assert_healthy(healed)
    assert healed.seconds < BUDGET
    assert healed.samples("ada_carbon_cpu_seconds") == before.samples("ada_carbon_cpu_seconds")
    assert healed.samples("ada_carbon_workspaces") == before.samples("ada_carbon_workspaces")
    assert_one_episode(health_log(), "mongodb")


# --- The Carbon Intensity API (pytest-httpx) -------------------------------------------

INTENSITY_FAULTS: dict[str, Callable[[], httpx.Response | Exception]] = {
    "connection refused": lambda: httpx.ConnectError("connection refused"),
    "read timeout": lambda: httpx.ReadTimeout("timed out"),
    "http 503": lambda: httpx.Response(503, html="<html>Service Unavailable</html>"),
    "malformed json": lambda: httpx.Response(200, text='{"data": [{"from": '),
    "error body at 200": lambda: httpx.Response(200, json={"error": {"code": "400"}}),
}


@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
@pytest.mark.parametrize("fault", [*INTENSITY_FAULTS, "slow"])
def test_intensity_api_failing_keeps_energy_priced_by_the_fallback_and_recovers(
    fault, httpx_mock: HTTPXMock, health_log
):
    clock = Clock("2026-01-31T12:00Z")
    grid = FakeGrid(clock)
    httpx_mock.add_callback(grid, is_reusable=True)
    if fault == "slow":
        grid.gate = threading.Event()  # answers only when released, long after the budget
    else:
        grid.failure = INTENSITY_FAULTS[fault]
    cfg = config(carbon_intensity=IntensityConfig(timeout_seconds=TIMEOUT))
    api = CarbonIntensityAPI(httpx.Client(), timeout_seconds=TIMEOUT, now=clock)
    engine = Refresh(cfg, StubUsage([usage()]), StubOwnership([ws("w1", "alice", 0)]), api)
    with ServedExporter(engine, END) as exporter:
        failing = [exporter.scrape() for _ in range(3)]
        grid.failure = None
        if grid.gate is not None:
            grid.gate.set()
            time.sleep(0.2)  # the held calls return
        healed = exporter.scrape()
    for scrape in failing:
        assert_failing(scrape, "carbon_intensity")
        assert scrape.has_usage()  # energy and emissions, priced by the fallback
        assert scrape.value("ada_carbon_grid_intensity_source", region="GB", source="default")
    assert_healthy(healed)
    assert healed.value("ada_carbon_grid_intensity_source", region="GB", source="api") == 1
    # The window's call and the forecast's (one request when the API answers) each log
    # their own episode.
    assert_one_episode(health_log(), "carbon_intensity", "carbon_intensity forecast")


# --- Scrape bursts ---------------------------------------------------------------------


def test_fifty_concurrent_scrapes_over_http_cause_one_upstream_computation(faulty):
    faulty.delay = 0.6  # the upstream is slow enough for every scrape to arrive meanwhile
    cfg = config(prometheus=PrometheusConfig(url=faulty.url, timeout_seconds=1.0))
    source = PrometheusUsage(http_client(cfg.prometheus), cfg.prometheus, BUSY, IDLE)
    engine = Refresh(cfg, source, StubOwnership([ws("w1", "alice", 0)]), FixedIntensity(200))
    with ServedExporter(engine, END) as exporter:
        start = threading.Barrier(50)

        def scrape(_: int) -> Scrape:
            start.wait()
            return exporter.scrape()

        with ThreadPoolExecutor(50) as pool:
            scrapes = list(pool.map(scrape, range(50)))
    assert faulty.requests == {"/api/v1/query": 2}  # busy and idle, once
    assert exporter.collector.shared.refreshes == 1
    first = scrapes[0].samples("ada_carbon_cpu_seconds")
    assert first
    assert all(s.status == 200 and s.samples("ada_carbon_cpu_seconds") == first for s in scrapes)


def test_min_refresh_interval_bounds_upstream_load_from_several_replicas(faulty):
    cfg = config(prometheus=prometheus_at(faulty.url))
    source = PrometheusUsage(http_client(cfg.prometheus), cfg.prometheus, BUSY, IDLE)
    engine = Refresh(cfg, source, StubOwnership([ws("w1", "alice", 0)]), FixedIntensity(200))
    stop = time.monotonic() + 2.2
    with ServedExporter(engine, min_refresh_interval=1.0) as exporter:

        def replica(_: int) -> list[Scrape]:
            scrapes = []
            while time.monotonic() < stop:
                scrapes.append(exporter.scrape())
                time.sleep(0.05)
            return scrapes

        with ThreadPoolExecutor(3) as pool:
            scrapes = [s for batch in pool.map(replica, range(3)) for s in batch]
    assert len(scrapes) >= 30
    refreshes, odd = divmod(faulty.requests["/api/v1/query"], 2)  # busy and idle each
    assert odd == 0 and refreshes <= 3  # one refresh per second at most
    ends = {s.value("ada_carbon_window_end_timestamp_seconds") for s in scrapes}
    assert len(ends) == refreshes  # a served-again result says when
    assert "min_refresh_interval" in scrapes[0].help("ada_carbon_window_end_timestamp_seconds")
    # The HELP says so when a result is served again, and only then.
    again = [s for s in scrapes if "served again" in s.help("ada_carbon_energy_joules")]
    fresh = [s for s in scrapes if "served again" not in s.help("ada_carbon_energy_joules")]
    assert again and fresh
    assert all("min_refresh_interval" in s.help("ada_carbon_cpu_seconds") for s in again)
    first_served = {s.value("ada_carbon_window_end_timestamp_seconds") for s in fresh}
    assert {s.value("ada_carbon_window_end_timestamp_seconds") for s in again} <= first_served
    assert len(fresh) < len(again)  # three replicas, one refresh a second


def test_a_client_that_connects_and_says_nothing_does_not_hold_up_scrapes():
    engine = Refresh(config(), StubUsage([usage()]), StubOwnership(), FixedIntensity(200))
    with ServedExporter(engine, END) as exporter:
        port = int(exporter.url.rsplit(":", 1)[1])
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        try:
            scrape = exporter.scrape(timeout=5)
        finally:
            for sock in silent:
                sock.close()
    assert scrape.status == 200 and scrape.seconds < BOUND
