"""Embodied emissions: the host-time each user held, priced at the host's amortised rate.

The numbers are worked by hand: a 16-core server of 3,504 kgCO2e over 1460 days
(35,040 hours) is 100 g an hour; a 4-core host on it holds a quarter, 25 g an hour.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from prometheus_client import CollectorRegistry

from exporter.attribution import build_timelines
from exporter.collectors import AdaCarbonCollector
from exporter.commands.report.compute import Report, table
from exporter.commands.report.render import render
from exporter.config import Config, ConfigError, IntensityConfig, load
from exporter.embodied import DEFAULT_LIFETIME_SECONDS, EmbodiedModel, held
from exporter.model import Usage, UsageStep
from exporter.refresh import Refresh
from tests.harness.fixtures import require_binaries
from tests.stubs import StubIntensity, StubOwnership, StubUsage, steady_steps, usage, ws

END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
T = END.timestamp()
A = "172.16.100.50"
MUON = EmbodiedModel(server_kgco2e=3504.0, cores=4, server_cores=16)
GROUP = {"cloud_project_name": "IDAaaS", "machine_name": "Muon", "facility": "ISIS"}
FOUR_CORES = {"busy": 3600.0, "idle": 10800.0}  # 4 cores measured for the whole hour


def served(u, o, **config):
    """The embodied families of one refresh ending at END, as /metrics serves them."""
    cfg = Config(carbon_intensity=IntensityConfig(default_gco2_per_kwh=150.0), **config)
    engine = Refresh(cfg, u, o, StubIntensity())
    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(lambda: engine.snapshot(END)))
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in registry.collect():
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def embodied(families, user, **group):
    labels = {**GROUP, **group, "user": user}
    return families["ada_carbon_embodied_grams"][tuple(sorted(labels.items()))]


def test_the_amortised_rate_is_the_servers_emissions_shared_by_cores_over_its_life():
    assert MUON.lifetime_seconds == DEFAULT_LIFETIME_SECONDS == 1460 * 86400
    assert MUON.grams_per_second * 3600 == pytest.approx(25.0)


def test_a_host_held_45_minutes_of_an_hour_gives_its_user_three_quarters_of_the_hours_grams():
    key = (f"{A}:9100", "IDAaaS", "Muon")
    u = StubUsage([usage(A, **FOUR_CORES)], {key: steady_steps(T, **FOUR_CORES)})
    o = StubOwnership([ws("w1", "alice", T - 3600, deleted=T - 900)])
    families = served(u, o, embodied={"Muon": MUON})
    assert embodied(families, "alice") == pytest.approx(18.75)  # 3/4 of 25 g
    assert embodied(families, "unattributed") == pytest.approx(6.25)  # the other 1/4
    assert len(families["ada_carbon_embodied_grams"]) == 2
    # No request more than without a model: the totals and the handover's steps.
    requests = families["ada_carbon_source_requests"][(("source", "prometheus"),)]
    assert requests == 2


def test_a_user_holds_the_host_idle_or_busy_and_whether_or_not_it_was_measured():
    """A workspace reserves its VM: its owner's time counts even where no CPU was measured."""
    key = (f"{A}:9100", "IDAaaS", "Muon")
    # Measured only in the first half hour (then node_exporter was down).
    steps = [
        s if s.start < T - 1800 else s._replace(busy_seconds=0.0, idle_seconds=0.0)
        for s in steady_steps(T, busy=0.0, idle=14400.0)
    ]
    u = StubUsage([usage(A, busy=0.0, idle=7200.0)], {key: steps})
    o = StubOwnership([ws("w1", "alice", T - 3600, deleted=T - 900)])
    families = served(u, o, embodied={"Muon": MUON})
    assert embodied(families, "alice") == pytest.approx(18.75)
    # Nobody held it for the last quarter hour, and Prometheus measured none of it.
    assert embodied(families, "unattributed") == pytest.approx(0.0)


def test_time_nobody_held_counts_only_as_long_as_prometheus_measured_the_host():
    """A host measured for half of an hour nobody held reserved half an hour of hardware."""
    u = StubUsage([usage(A, busy=0.0, idle=7200.0)])  # 4 cores for 1800 s
    families = served(u, StubOwnership(), embodied={"Muon": MUON})
    assert embodied(families, "unattributed") == pytest.approx(12.5)
    # Never more than the window, whatever Prometheus' extrapolation adds.
    families = served(
        StubUsage([usage(A, busy=0.0, idle=20000.0)]), StubOwnership(), embodied={"Muon": MUON}
    )
    assert embodied(families, "unattributed") == pytest.approx(25.0)


def test_a_machine_type_without_a_model_exports_nothing_and_is_counted():
    u = StubUsage(
        [
            usage(A, **FOUR_CORES),
            usage("172.16.100.51", machine="SANS", **FOUR_CORES),
            usage("172.16.100.52", machine="SANS", **FOUR_CORES),
        ]
    )
    o = StubOwnership([ws("w1", "alice", T - 7200)])
    families = served(u, o, embodied={"Muon": MUON})
    assert {dict(k)["machine_name"] for k in families["ada_carbon_embodied_grams"]} == {"Muon"}
    assert families["ada_carbon_embodied_unconfigured_hosts"] == {(("machine_name", "SANS"),): 2.0}
    # With no model at all, no embodied series, and every machine type is counted.
    families = served(u, o)
    assert "ada_carbon_embodied_grams" not in families
    assert sum(families["ada_carbon_embodied_unconfigured_hosts"].values()) == 3.0


def test_a_host_measured_in_two_groups_counts_its_time_once():
    """A host relabelled in the window (Muon to SANS) holds its hardware once, not twice."""
    rows = [usage(A, busy=0.0, idle=7200.0), usage(A, machine="SANS", busy=0.0, idle=7200.0)]
    models = {"Muon": MUON, "SANS": MUON}
    o = build_timelines([ws("w1", "alice", T - 7200)], T - 3600, T)
    pieces = held(rows, {A: ("IDAaaS", "SANS")}, o, {}, (T - 3600, T), models)
    assert [(p.machine_name, p.user, p.seconds) for p in pieces] == [("SANS", "alice", 3600.0)]


def test_a_handover_splits_the_held_time_at_the_boundary():
    steps = [UsageStep(T - 3600 + 60 * k, T - 3540 + 60 * k, 0.0, 240.0) for k in range(60)]
    o = build_timelines(
        [ws("w1", "alice", T - 7200, T - 1200), ws("w2", "bob", T - 600)], T - 3600, T
    )
    pieces = held(
        [usage(A, busy=0.0, idle=14400.0)],
        {A: ("IDAaaS", "Muon")},
        o,
        {(f"{A}:9100", "IDAaaS", "Muon"): steps},
        (T - 3600, T),
        {"Muon": MUON},
    )
    assert [p.user for p in pieces] == ["alice", "unattributed", "bob"]
    assert [p.seconds for p in pieces] == pytest.approx([2400.0, 600.0, 600.0])


# --- configuration ---------------------------------------------------------------------


def test_a_model_loads_with_the_default_lifetime_and_server_cores(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "embodied:\n  machines:\n    Muon: {server_kgco2e: 3504, cores: 4, server_cores: 16}\n"
        "    Bare: {server_kgco2e: 1200, cores: 32, lifetime: 1825d}\n"
    )
    models = load(path, env={}).embodied
    assert models["Muon"] == MUON
    assert models["Bare"] == EmbodiedModel(1200.0, 32, 32, 1825 * 86400.0)
    assert load(None, env={}).embodied == {}


BAD = {
    "no server_kgco2e": ("Muon: {cores: 4}", "embodied.machines.Muon: server_kgco2e and cores"),
    "no cores": ("Muon: {server_kgco2e: 100}", "embodied.machines.Muon: server_kgco2e and cores"),
    "zero kg": ("Muon: {server_kgco2e: 0, cores: 4}", "embodied.machines.Muon.server_kgco2e"),
    "a city of servers": (
        "Muon: {server_kgco2e: 1000000, cores: 4}",
        "embodied.machines.Muon.server_kgco2e: must be from 1 to 100000",
    ),
    "half a core": ("Muon: {server_kgco2e: 9, cores: 0.5}", "embodied.machines.Muon.cores"),
    "more cores than the server": (
        "Muon: {server_kgco2e: 9, cores: 8, server_cores: 4}",
        "embodied.machines.Muon: server_cores (4) is fewer than cores (8)",
    ),
    "a life of a day": (
        "Muon: {server_kgco2e: 9, cores: 4, lifetime: 1d}",
        "embodied.machines.Muon.lifetime: must be from 30d to 7300d",
    ),
    "unknown key": ("Muon: {server_kgco2e: 9, cores: 4, kg: 3}", "embodied.machines.Muon.kg"),
    "not a mapping": ("Muon: 5", "embodied.machines.Muon: expected a mapping"),
}


@pytest.mark.parametrize(("machines", "key"), BAD.values(), ids=BAD.keys())
def test_each_bad_embodied_value_is_refused_naming_its_key(tmp_path, machines, key):
    path = tmp_path / "c.yaml"
    path.write_text(f"embodied:\n  machines:\n    {machines}\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert any(key in p for p in err.value.problems), err.value.problems


def test_a_bad_lifetime_exits_2_naming_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("embodied:\n  lifetime: 100y\n")
    done = subprocess.run(
        [sys.executable, "-m", "exporter", f"--config.file={path}", "--config.check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "embodied.lifetime:" in done.stderr and "Traceback" not in done.stderr


# --- reports -----------------------------------------------------------------------------

GROUPS = {
    ("IDAaaS", "Muon"): Usage(36000, 72000, 432000, 72000, 25.9, 3.7, 75.0),
    ("CDAaaS", "Laser"): Usage(7200, 7200, 86400, 7200, 4.5, 0.4, 12.5),
}


def report(embodied: bool) -> Report:
    t = table(GROUPS, "group", 0)
    return Report(T, T + 3 * 3600, "group", "raw", "demo", 3600.0, 3, 3, t, (), embodied=embodied)


def test_the_embodied_column_is_appended_leaving_every_other_column_as_it_was():
    before, after = render(report(False), "table"), render(report(True), "table")
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new)
    widened = [(o, n) for o, n in zip(old, new, strict=True) if o != n]
    assert [n[len(o) :] for o, n in widened] == [
        "  embodied gCO2eq",
        "            75.00",
        "            12.50",
        "  ---------------",
        "            87.50",
    ]
    assert all(n.startswith(o) for o, n in widened)


def test_csv_and_json_gain_embodied_grams_and_keep_the_rest():
    rows = list(csv.reader(io.StringIO(render(report(True), "csv"))))
    old = list(csv.reader(io.StringIO(render(report(False), "csv"))))
    assert [r[:-1] for r in rows] == old
    assert [r[-1] for r in rows] == ["embodied_grams", "75.0", "12.5"]
    doc, was = json.loads(render(report(True), "json")), json.loads(render(report(False), "json"))
    assert doc["total"].pop("embodied_grams") == 87.5
    assert [r.pop("embodied_grams") for r in doc["rows"]] == [75.0, 12.5]
    assert doc == was


DEMO_PERIOD = ("--from", "2026-01-30T20:00:00Z", "--to", "2026-01-31T00:00:00Z")


def test_the_demo_report_shows_embodied_emissions_and_the_machine_type_without_a_model():
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "--demo", "report", *DEMO_PERIOD, "--by", "facility"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    head = next(line for line in done.stdout.splitlines() if line.startswith("facility"))
    assert head.endswith("share  embodied gCO2eq")
    total = next(line for line in done.stdout.splitlines() if line.startswith("total"))
    assert float(total.split()[-1].replace(",", "")) > 0
    assert "no embodied model, so no embodied emissions, for: Training" in done.stdout


@pytest.mark.prometheus
def test_the_demo_exposition_with_embodied_families_passes_promtool_check_metrics():
    require_binaries("prometheus")
    at = "--at=2026-01-31T12:00:00Z"
    text = subprocess.run(
        [sys.executable, "-m", "exporter", "--demo", "snapshot", at],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "\nada_carbon_embodied_grams{" in text
    assert '\nada_carbon_embodied_unconfigured_hosts{machine_name="Training"} 7.0' in text
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
