"""The shipped alert rules and example Prometheus configuration: valid, unit-tested, documented."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from exporter.config import Config, parse_duration
from tests.harness.fixtures import require_binaries
from tests.harness.prometheus import PrometheusServer, write_blocks

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "prometheus" / "ada-carbon-alerts.yml"
ALERT_TESTS = ROOT / "tests" / "prometheus" / "ada-carbon-alerts.test.yml"
# The budget alerts live beside their recording rules, each file with its own unit tests.
BUDGETS = ROOT / "prometheus" / "ada-carbon-budgets.yml"
BUDGET_TESTS = ROOT / "tests" / "prometheus" / "ada-carbon-budgets.test.yml"
EXAMPLE_CONFIG = ROOT / "prometheus" / "prometheus.example.yml"


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    require_binaries("prometheus")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def alert_rules() -> list[dict[str, Any]]:
    groups = [g for f in (ALERTS, BUDGETS) for g in yaml.safe_load(f.read_text())["groups"]]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


@pytest.mark.prometheus
@pytest.mark.parametrize("rules", [ALERTS, BUDGETS], ids=lambda p: p.name)
def test_promtool_check_rules_accepts_the_alerts(rules):
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
def test_promtool_unit_tests_of_the_alerts_pass():
    # Rule file paths in a test file are relative to the test file's directory.
    result = promtool("test", "rules", ALERT_TESTS.name, cwd=ALERT_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
def test_promtool_check_config_accepts_the_example():
    result = promtool("check", "config", str(EXAMPLE_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_shown_firing_and_not_firing():
    tests = [t for f in (ALERT_TESTS, BUDGET_TESTS) for t in yaml.safe_load(f.read_text())["tests"]]
    assert all("interval" in t for t in tests), "give every test an explicit interval"
    cases = [case for t in tests for case in t.get("alert_rule_test", [])]
    for rule in alert_rules():
        mine = [c for c in cases if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{rule['alert']} never fires"
        assert any(not c["exp_alerts"] for c in mine), f"{rule['alert']} never shown quiet"


def test_every_alert_has_a_summary_a_description_and_a_runbook():
    for rule in alert_rules():
        name = rule["alert"]
        assert re.fullmatch(r"AdaCarbon[A-Za-z]+", name)
        assert rule["labels"]["severity"] in {"warning", "info"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        # The runbook named after the alert (GitHub's anchor of "### AlertName").
        runbooks = "docs/dashboards-and-alerts.md"
        assert annotations["runbook_url"] == f"{runbooks}#{name.lower()}", name
        assert f"### {name}\n" in (ROOT / runbooks).read_text(), name


def test_the_example_scrape_job_fits_the_exporter_budget_and_the_alerts():
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "ada-carbon"]
    timeout = parse_duration(job["scrape_timeout"])
    assert Config().scrape_budget_seconds < timeout <= parse_duration(job["scrape_interval"])
    (down,) = [r for r in alert_rules() if r["alert"] == "AdaCarbonExporterDown"]
    assert f'job="{job["job_name"]}"' in down["expr"]
    assert ALERTS.name in config["rule_files"]
    assert BUDGETS.name in config["rule_files"]


# The alerts that total 1 h windows over a range, and that range in seconds.
WINDOW_TOTALS = {"AdaCarbonAttributionCoverageLow": 6 * 3600, "AdaCarbonGroupMostlyIdle": 86400}
HOUR_0 = 1769904000  # 2026-02-01T00:00:00Z, the first window's end
# One exporter, one group: the window ending at HOUR_0 is idle and mostly nobody's, every
# later one 1 J busy and someone's. With it, both ratios cross their thresholds (over 6 h,
# 1000 / 1905 unattributed; over 24 h, 900 / 923 idle); without it, both are 0.
BOUNDARY_SERIES = {
    (("user", "unattributed"), ("mode", "idle")): 1000.0,
    (("user", "aa123456"), ("mode", "idle")): 900.0,
    (("user", "aa123456"), ("mode", "busy")): 0.0,
}


@pytest.mark.prometheus
def test_each_alerts_total_takes_range_over_1h_windows_at_every_instant(tmp_path):
    """At t, the windows ending in (t + 1 s - RANGE, t + 1 s]: the first window is in only at
    RANGE - 1.001 s, not at RANGE - 1 s, where a closed range of the whole RANGE has it too."""
    assert {r["alert"] for r in alert_rules() if "sum_over_time(" in r["expr"]} == set(
        WINDOW_TOTALS
    )
    require_binaries("prometheus")
    labels = {"job": "ada-carbon", "instance": "a:9877", "cloud_project_name": "IDAaaS",
              "machine_name": "Muon", "facility": "ISIS"}  # fmt: skip
    lines = ["# TYPE ada_carbon_energy_joules gauge"]
    for extra, first in BOUNDARY_SERIES.items():
        rendered = ",".join(f'{k}="{v}"' for k, v in {**labels, **dict(extra)}.items())
        for hour in range(30):
            value = first if hour == 0 else (1.0 if dict(extra)["mode"] == "busy" else 0.0)
            lines.append(f"ada_carbon_energy_joules{{{rendered}}} {value} {HOUR_0 + hour * 3600}")
    write_blocks("\n".join(lines) + "\n", tmp_path / "data")
    with PrometheusServer(tmp_path / "data") as server:
        for rule in alert_rules():
            if rule["alert"] not in WINDOW_TOTALS:
                continue
            for dt in (-1.001, -1.0, -0.001, 0.0, 0.001):
                at = HOUR_0 + WINDOW_TOTALS[rule["alert"]] + dt
                params = {"query": rule["expr"], "time": f"{at:.3f}"}
                body = httpx.get(f"{server.url}/api/v1/query", params=params, timeout=30).json()
                assert body["status"] == "success", body
                fires = bool(body["data"]["result"])
                assert fires == (dt == -1.001), (rule["alert"], dt, body["data"]["result"])
