"""Per workspace on the demo: `report --by workspace` adds up to the report by user, and the
exposition with the per-workspace families passes `promtool check metrics`."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.commands.report import compute
from exporter.model import Usage, WorkspaceKey

ROOT = Path(__file__).resolve().parents[2]
DEMO = ["--demo", "report", "--from", "2026-01-30T12:00:00Z", "--to", "2026-01-31T00:00:00Z"]
COLUMNS = ["workspace_id", "host", "user", "cloud_project_name", "machine_name"]


def report(capsys, *extra):
    assert main([*DEMO, "--top", "0", *extra]) == 0
    return capsys.readouterr().out


def test_the_demo_by_workspace_adds_up_to_the_demo_by_user(capsys):
    by_workspace = json.loads(report(capsys, "--by", "workspace", "--format", "json"))
    by_user = json.loads(report(capsys, "--by", "user", "--format", "json"))
    assert by_workspace["source"] == "raw" and "by workspace" in by_workspace["reason"]
    rows = by_workspace["rows"]
    assert len(rows) > 50 and all(list(r["key"]) == COLUMNS for r in rows)
    assert len({r["key"]["workspace_id"] for r in rows}) == len(rows)
    # Time nobody held a host is one `unattributed` row, the by-user report's.
    unattributed = next(r for r in by_user["rows"] if r["key"]["user"] == "unattributed")
    for field in ("busy_cpu_seconds", "idle_cpu_seconds", "energy_joules", "emissions_grams"):
        assert by_workspace["unassigned"][field] == pytest.approx(unattributed[field], rel=1e-9)
        assert by_workspace["total"][field] == pytest.approx(by_user["total"][field], rel=1e-9)
        per_user: dict[str, float] = {}
        for r in rows:
            per_user[r["key"]["user"]] = per_user.get(r["key"]["user"], 0.0) + r[field]
        for r in by_user["rows"]:
            if r["key"]["user"] != "unattributed":
                assert per_user[r["key"]["user"]] == pytest.approx(r[field], rel=1e-9), field


def test_the_demo_by_workspace_as_csv_and_table(capsys):
    lines = list(csv.reader(io.StringIO(report(capsys, "--by", "workspace", "--format", "csv"))))
    assert lines[0][:6] == [*COLUMNS, "busy_cpu_seconds"]
    assert lines[-1][0] == "unattributed"
    table = report(capsys, "--by", "workspace")
    assert "Ada carbon report by workspace" in table and "COMPUTED FROM RAW DATA" in table
    assert "\nunattributed " in table and "workspace_id" in table


def test_by_workspace_refuses_the_exporters_series(capsys):
    assert main([*DEMO, "--by", "workspace", "--source", "exporter"]) == 2
    assert "by workspace" in capsys.readouterr().err


def test_workspaces_are_summed_over_windows_and_nobodys_time_kept_apart():
    u = Usage(10.0, 20.0, 30.0, 40.0, 1.0, 2.0)
    w = WorkspaceKey("w1", "h", "IDAaaS", "Muon", "ISIS", "alice")
    intervals = [
        compute.Interval(0, 1, {("IDAaaS", "Muon", "ISIS", "unattributed"): u}, {w: u}),
        compute.Interval(1, 2, {("IDAaaS", "Muon", "ISIS", "alice"): u}, {w: u}),
    ]
    groups, nobody = compute.by_workspace(intervals)
    assert groups == {("w1", "h", "alice", "IDAaaS", "Muon"): compute.plus(u, u)}
    assert nobody == u


@pytest.mark.prometheus
def test_the_demo_exposition_with_per_workspace_families_passes_promtool():
    snapshot = [sys.executable, "-m", "exporter", "--log.level=error", "--demo", "snapshot"]
    text = subprocess.run(
        [*snapshot, "--at", "2026-01-31T12:00:00Z"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    ).stdout
    assert "\nada_carbon_workspace_emissions_grams{" in text
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
