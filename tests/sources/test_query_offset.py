"""prometheus.query_offset: the window ends where the engine answers for (issue 20, item 4)."""

import time
from urllib.parse import parse_qs

import httpx
import pytest
from prometheus_client import CollectorRegistry

from exporter.collectors import AdaCarbonCollector
from exporter.config import ConfigError, load
from exporter.refresh import Refresh
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.prometheus.usage import PrometheusUsage
from tests.stubs import StubOwnership


def configured(tmp_path, offset):
    path = tmp_path / "exporter.yaml"
    path.write_text(f"prometheus:\n  url: http://vm.test:8428\n  query_offset: {offset}\n")
    return load(path, env={})


def test_the_exported_window_end_is_the_time_every_query_was_asked_at(tmp_path):
    """VictoriaMetrics answers a query at now as of now - 30 s: with query_offset 30s the
    exporter asks for the window ending then, and exports that end."""
    config = configured(tmp_path, "30s")
    asked = []

    def answer(request):
        asked.append(float(parse_qs(request.content.decode())["time"][0]))
        empty = {"resultType": "vector", "result": []}
        return httpx.Response(200, json={"status": "success", "data": empty})

    http = httpx.Client(transport=httpx.MockTransport(answer))
    usage = PrometheusUsage(http, config.prometheus, config.modes.busy, config.modes.idle)
    engine = Refresh(config, usage, StubOwnership(), FixedIntensity(200))
    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(engine.snapshot))
    try:
        before = time.time()
        ends = [
            s.value
            for m in registry.collect()
            for s in m.samples
            if s.name == "ada_carbon_window_end_timestamp_seconds"
        ]
        after = time.time()
    finally:
        engine.close()
    assert len(ends) == 1 and len(asked) == 2
    assert all(t == pytest.approx(ends[0], abs=0.001) for t in asked)
    assert before - 30 <= ends[0] <= after - 30


@pytest.mark.parametrize("offset", ["-1s", "11m", "soon"])
def test_a_query_offset_outside_0s_to_10m_is_refused_with_its_key(tmp_path, offset):
    with pytest.raises(ConfigError, match=r"prometheus\.query_offset"):
        configured(tmp_path, offset)


def test_snapshot_at_now_is_the_window_a_scrape_would_serve_now(tmp_path, capsys):
    """`snapshot --at now` ends query_offset ago, as a scrape does; a given time is exact."""
    from exporter.cli import main

    path = tmp_path / "exporter.yaml"
    path.write_text("prometheus:\n  query_offset: 30s\n")

    def window_end(at):
        main(["--demo", f"--config.file={path}", "--log.level=error", "snapshot", f"--at={at}"])
        out = capsys.readouterr().out
        (line,) = [x for x in out.splitlines() if x.startswith("ada_carbon_window_end_timestamp")]
        return float(line.split()[-1])

    before = time.time()
    end = window_end("now")
    assert before - 30 <= end <= time.time() - 30
    assert window_end("2026-01-31T12:00:00Z") == 1769860800.0
