"""The shipped recording rules: valid, unit-tested by promtool, and in step with the exporter."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from exporter.config import ModesConfig, RecordingRulesConfig, parse_duration
from tests.harness.fixtures import require_binaries

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "prometheus" / "ada-carbon-rules.yml"
RULE_TESTS = sorted((ROOT / "tests" / "prometheus").glob("*.test.yml"))


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    require_binaries("prometheus")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, cwd=cwd)


@pytest.mark.prometheus
def test_promtool_check_rules_accepts_the_file():
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_of_the_rules_pass(test_file):
    # Rule file paths in a test file are relative to the test file's directory.
    result = promtool("test", "rules", test_file.name, cwd=test_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_match_the_exporter_defaults():
    """Names, interval, rate range and mode lists are the exporter's defaults."""
    (group,) = yaml.safe_load(RULES.read_text())["groups"]
    defaults, modes = RecordingRulesConfig(), ModesConfig()
    assert parse_duration(group["interval"]) == defaults.interval_seconds
    rules = {r["record"]: r["expr"] for r in group["rules"]}
    assert set(rules) == {defaults.busy_metric, defaults.idle_metric, defaults.heartbeat_metric}
    assert rules.pop(defaults.heartbeat_metric) == "vector(1)"
    for name, expected in ((defaults.busy_metric, modes.busy), (defaults.idle_metric, modes.idle)):
        expr = rules[name]
        (mode_regex,) = re.findall(r'mode=~"([^"]*)"', expr)
        assert set(mode_regex.split("|")) == set(expected), name
        (rate_range,) = re.findall(r"\[(\w+)\]", expr)
        assert parse_duration(rate_range) == defaults.range_seconds, name
        assert "sum without (cpu, mode)" in expr, name
        # A node scraped by several jobs counts once (see the comment in the file).
        assert "max without (job)" in expr, name
