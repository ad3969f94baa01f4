"""`backfill` when its upstreams are down: each failed window said as it fails, then a stop."""

from __future__ import annotations

import logging

from exporter.cli import main
from tests.harness.command import exporter
from tests.harness.faulty_http import FaultyPrometheus
from tests.harness.prometheus import free_port

PERIOD = ["--from=2026-01-30T23:00:00Z", "--to=2026-01-31T07:00:00Z"]  # 8 windows of 1 h


def test_backfill_stops_at_the_first_window_for_which_every_upstream_failed(tmp_path):
    closed = f"127.0.0.1:{free_port()}"
    config = tmp_path / "exporter.yaml"
    config.write_text(
        "scrape_budget: 2s\n"
        f"prometheus: {{url: 'http://{closed}', timeout: 1s}}\n"
        f"mongodb: {{uri: 'mongodb://{closed}', timeout: 1s}}\n"
        f"carbon_intensity: {{url: 'http://{closed}', timeout: 1s}}\n"
    )
    result = exporter(f"--config.file={config}", "backfill", *PERIOD, f"-o={tmp_path / 'h.om'}")
    assert result.returncode == 1
    assert result.stderr.count("no usage written for the window ending") == 1, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last == (
        "ada-carbon-exporter backfill: stopped at the window ending 2026-01-31T00:00:00+00:00: "
        "every upstream failed (prometheus, mongodb, carbon_intensity down); nothing written"
    )
    assert (tmp_path / "h.om").read_bytes() == b""


def test_each_failed_window_is_reported_before_the_next_one_is_computed(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("USE_FAKE_MONGODB", "true")
    monkeypatch.setenv("USE_FAKE_CARBON_INTENSITY", "true")
    asked_before: list[int] = []  # Prometheus' request count when each failure was logged

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("no usage written for the window ending"):
                asked_before.append(len(prometheus.received))

    seen = Seen()
    logging.getLogger("exporter").addHandler(seen)
    try:
        with FaultyPrometheus() as prometheus:
            prometheus.fault = "http_503"
            config = tmp_path / "exporter.yaml"
            config.write_text(f"prometheus: {{url: '{prometheus.url}', timeout: 1s}}\n")
            args = [f"--config.file={config}", "backfill", *PERIOD, f"-o={tmp_path / 'h.om'}"]
            assert main(args) == 1
            asked = len(prometheus.received)
    finally:
        logging.getLogger("exporter").removeHandler(seen)
    # Three windows failed, each said before the next asked Prometheus anything; then a stop.
    assert len(asked_before) == 3
    assert 0 < asked_before[0] < asked_before[1] < asked_before[2] == asked
    err = capsys.readouterr().err
    assert "stopped at the window ending 2026-01-31T02:00:00+00:00: 3 windows in a row" in err
