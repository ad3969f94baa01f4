"""Embodied emissions end to end: backfilled, read back by ``report``, and as raw data gives them.

The scenario's Tomography host (dave's for the whole period) and SANS host (nobody's,
measured throughout), both of 2 CPUs, get a model: an eighth of a 16-CPU server of
3,504 kgCO2e over 1460 days, 12.5 g an hour. Over the report's four hours that is
50 g for dave and 50 g unattributed, whether the report reads the exporter's
backfilled series or computes them from raw data. Muon has no model: it counts none.
"""

from __future__ import annotations

import pytest

from tests.e2e.test_report_e2e import END, START, fleet, report
from tests.harness.command import exporter

__all__ = ["fleet"]  # the fixture this module's fixture builds on
EMBODIED = """\
embodied:
  machines:
    SANS: {server_kgco2e: 3504, server_cores: 16, cores: 2}
    Tomography: {server_kgco2e: 3504, server_cores: 16, cores: 2}
"""


@pytest.fixture
def embodied_history(fleet, prometheus_factory):
    """The scenario with embodied models, backfilled into a second Prometheus."""
    source_url, config = fleet
    config.write_text(config.read_text() + EMBODIED)
    result = exporter(
        "backfill", f"--from={START.isoformat()}", f"--to={END.isoformat()}", "--step=1h",
        f"--config.file={config}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ada_carbon_embodied_grams{" in result.stdout
    return source_url, prometheus_factory(result.stdout).url, config


def embodied_by_user(doc: dict) -> dict[str, float]:
    return {r["key"]["user"]: r["embodied_grams"] for r in doc["rows"]}


@pytest.mark.prometheus
def test_report_reads_embodied_grams_back_as_raw_data_computes_them(embodied_history):
    source_url, history_url, config = embodied_history
    stored = report(config, history_url, "--by=user")
    raw = report(config, source_url, "--by=user")  # no exporter series there: raw data
    assert (stored["source"], raw["source"]) == ("exporter", "raw")
    for doc in (stored, raw):
        by_user = embodied_by_user(doc)
        assert by_user.pop("dave") == pytest.approx(50.0)
        assert by_user.pop("unattributed") == pytest.approx(50.0)
        assert set(by_user.values()) == {0.0}  # alice, bob, carol: Muon, no model
        assert doc["total"]["embodied_grams"] == pytest.approx(100.0)
    assert "no embodied model, so no embodied emissions, for: Muon" in raw["notes"]
    assert any("as the exporter served them" in note for note in stored["notes"])
