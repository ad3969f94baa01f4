"""Monthly carbon budgets: read from exporter.yaml, checked whole, exported as constants."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from exporter.collectors import AdaCarbonCollector
from exporter.config import Budget, Config, ConfigError, load, with_demo
from exporter.config.budgets import DEMO_BUDGETS

GOOD = """\
budgets:
  facility:
    ISIS: {grams: 40000, kwh: 350}
    CLF: {kwh: 100}
  cloud_project_name:
    IDAaaS: {grams: 60000}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exporter.yaml"
    path.write_text(text)
    return path


def exposition(budgets: tuple[Budget, ...], refresh=None) -> str:
    def failing():
        raise RuntimeError("no sources in this test")

    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(refresh or failing, budgets=budgets))
    return generate_latest(registry).decode()


def test_budgets_are_read_per_scope_with_either_unit(tmp_path):
    assert load(write(tmp_path, GOOD), env={}).budgets == (
        Budget("facility", "ISIS", grams=40000.0, kwh=350.0),
        Budget("facility", "CLF", kwh=100.0),
        Budget("cloud_project_name", "IDAaaS", grams=60000.0),
    )
    assert Config().budgets == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("budgets: 5", "budgets: expected a mapping, got int"),
        ("budgets: {project: {A: {grams: 1}}}", "budgets: unknown scope 'project'"),
        ("budgets: {facility: [ISIS]}", "budgets.facility: expected a mapping, got list"),
        ("budgets: {facility: {ISIS: 5}}", "budgets.facility.ISIS: expected a mapping, got int"),
        ("budgets: {facility: {ISIS: {}}}", "budgets.facility.ISIS: give grams or kwh (or both)"),
        ("budgets: {facility: {ISIS: {gram: 1}}}", "budgets.facility.ISIS: unknown key 'gram'"),
        ("budgets: {facility: {ISIS: {grams: 0}}}", "budgets.facility.ISIS.grams: must be above 0"),
        ("budgets: {facility: {ISIS: {kwh: -1}}}", "budgets.facility.ISIS.kwh: must be above 0"),
        (
            "budgets: {facility: {ISIS: {grams: .nan}}}",
            "budgets.facility.ISIS.grams: expected a finite",
        ),
        (
            "budgets: {facility: {ISIS: {grams: '5'}}}",
            "budgets.facility.ISIS.grams: expected a number",
        ),
        (
            "budgets: {facility: {ISIS: {grams: true}}}",
            "budgets.facility.ISIS.grams: expected a number",
        ),
        (
            "budgets: {facility: {1: {grams: 1}}}",
            "budgets.facility: expected a non-empty name, got 1",
        ),
    ],
)
def test_each_bad_budget_is_refused_naming_its_key(tmp_path, text, problem):
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text), env={})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(problem), caught.value.problems


def test_every_bad_budget_is_reported_at_once(tmp_path):
    text = "budgets: {facility: {A: {grams: -1}, B: {kwh: x}}, cloud_project_name: {C: {}}}\n"
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text + "window: 1s\n"), env={})
    keys = sorted(p.split(":")[0] for p in caught.value.problems)
    assert keys == [
        "budgets.cloud_project_name.C",
        "budgets.facility.A.grams",
        "budgets.facility.B.kwh",
        "window",
    ]


def test_a_bad_budget_exits_2_naming_the_key(tmp_path):
    path = write(tmp_path, "budgets: {facility: {ISIS: {grams: -5}}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "exporter", f"--config.file={path}", "--config.check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "budgets.facility.ISIS.grams: must be above 0, got -5" in done.stderr


def test_budgets_are_exported_by_scope_and_name_even_when_the_refresh_fails():
    text = exposition(
        (Budget("facility", "ISIS", 4e4, 350.0), Budget("cloud_project_name", "IDAaaS", 6e4))
    )
    assert 'ada_carbon_budget_grams{name="ISIS",scope="facility"} 40000.0\n' in text
    assert 'ada_carbon_budget_grams{name="IDAaaS",scope="cloud_project_name"} 60000.0\n' in text
    assert 'ada_carbon_budget_kwh{name="ISIS",scope="facility"} 350.0\n' in text
    assert 'ada_carbon_budget_kwh{name="IDAaaS"' not in text  # it has no kWh budget
    assert "\nada_carbon_refresh_success 0.0\n" in text


def test_without_budgets_no_budget_family_is_exported():
    assert "ada_carbon_budget" not in exposition(())


def test_registering_describes_the_budget_families_without_a_refresh():
    calls = []

    def refresh():
        calls.append(1)
        raise AssertionError("describe() must not refresh")

    names = {m.name for m in AdaCarbonCollector(refresh, budgets=DEMO_BUDGETS).describe()}
    assert {"ada_carbon_budget_grams", "ada_carbon_budget_kwh"} <= names
    assert calls == []


def test_the_demo_has_budgets_unless_the_configuration_sets_its_own(tmp_path):
    assert with_demo(Config()).budgets == DEMO_BUDGETS
    own = load(write(tmp_path, GOOD), env={})
    assert with_demo(own).budgets == own.budgets


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_the_demo_snapshot_shows_the_budgets_and_passes_promtool_check_metrics():
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "--demo", "snapshot", "--at", "2026-01-31T12:00:00Z"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert 'ada_carbon_budget_grams{name="ISIS",scope="facility"} 40000.0\n' in done.stdout
    assert 'ada_carbon_budget_kwh{name="IDAaaS",scope="cloud_project_name"} 500.0\n' in done.stdout
    check = subprocess.run(
        ["promtool", "check", "metrics"],
        input=done.stdout,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stdout + check.stderr
