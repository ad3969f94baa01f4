"""End to end: a real Prometheus (backfilled with promtool) and a real MongoDB wire server.

The exporter runs as a user runs it (``python -m exporter snapshot --at``) and
its numbers are compared with the scenario's hand-computed truth.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from exporter.config import Config, IntensityConfig, MongoConfig, PrometheusConfig
from exporter.model import SKIP_REASONS
from exporter.sources.build import build_refresh
from exporter.sources.prometheus.client import http_client
from exporter.sources.prometheus.usage import PrometheusUsage
from tests import scenario
from tests.scenario import END, Host

ROOT = Path(__file__).resolve().parents[2]


def load_mongo(uri: str, workspaces: list[dict[str, object]]) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
    client["ada"]["workspaces"].insert_many(workspaces)
    client["ada"]["users"].insert_many(scenario.users())
    client.close()


def write_config(tmp_path: Path, prometheus_url: str, mongo_uri: str) -> Path:
    path = tmp_path / "exporter.yaml"
    path.write_text(
        f"prometheus:\n  url: {prometheus_url}\n"
        f"mongodb:\n  uri: {mongo_uri}\n  database: ada\n"
        f"carbon_intensity:\n  source: fixed\n  fixed_gco2_per_kwh: {scenario.INTENSITY}\n"
    )
    return path


@pytest.fixture
def fleet(prometheus_factory, mongo_wire, tmp_path):
    """The scenario loaded into both servers; yields (prometheus url, mongo uri, config path)."""
    prom = prometheus_factory(scenario.openmetrics())
    load_mongo(mongo_wire.uri, scenario.workspaces())
    return prom.url, mongo_wire.uri, write_config(tmp_path, prom.url, mongo_wire.uri)


def snapshot_text(config: Path) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporter",
            "snapshot",
            f"--at={END.isoformat()}",
            f"--config.file={config}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def usage_by_key(text: str, name: str) -> dict[tuple[str, str, str, str], float]:
    return {
        (d["cloud_project_name"], d["machine_name"], d["user"], d["mode"]): v
        for k, v in samples(text, name).items()
        for d in [dict(k)]
    }


@pytest.mark.prometheus
def test_snapshot_matches_the_hand_computed_truth(fleet):
    text = snapshot_text(fleet[2])
    cpu = usage_by_key(text, "ada_carbon_cpu_seconds")
    joules = usage_by_key(text, "ada_carbon_energy_joules")
    grams = usage_by_key(text, "ada_carbon_emissions_grams")
    truth = scenario.expected_cpu_seconds()
    assert set(cpu) == set(truth)
    for key, seconds in truth.items():
        assert cpu[key] == pytest.approx(seconds, rel=0.01), key
        assert joules[key] == pytest.approx(scenario.expected_joules(key), rel=0.01), key
        expected_g = scenario.expected_joules(key) / 3.6e6 * scenario.INTENSITY
        assert grams[key] == pytest.approx(expected_g, rel=0.01), key


@pytest.mark.prometheus
def test_handover_20_minutes_before_the_end_gives_the_previous_owner_two_thirds(fleet):
    joules = usage_by_key(snapshot_text(fleet[2]), "ada_carbon_energy_joules")
    alice = (
        joules[("IDAaaS", "Muon", "alice", "busy")] + joules[("IDAaaS", "Muon", "alice", "idle")]
    )
    bob = joules[("IDAaaS", "Muon", "bob", "busy")] + joules[("IDAaaS", "Muon", "bob", "idle")]
    assert alice / (alice + bob) == pytest.approx(2 / 3, rel=0.01)


@pytest.mark.prometheus
def test_group_totals_are_conserved_against_prometheus(fleet):
    prom_url, _, config = fleet
    cpu = usage_by_key(snapshot_text(config), "ada_carbon_cpu_seconds")
    query = (
        "sum by (cloud_project_name, machine_name) (increase(node_cpu_seconds_total"
        '{mode=~"user|nice|system|irq|softirq"}[3600s]))'
    )
    answer = httpx.get(
        prom_url + "/api/v1/query", params={"query": query, "time": END.timestamp()}
    ).json()
    measured = {
        (r["metric"]["cloud_project_name"], r["metric"]["machine_name"]): float(r["value"][1])
        for r in answer["data"]["result"]
    }
    assert measured
    for (project, machine), total in measured.items():
        exported = sum(
            v for (p, m, _, mode), v in cpu.items() if (p, m, mode) == (project, machine, "busy")
        )
        assert exported == pytest.approx(total, rel=1e-9)


@pytest.mark.prometheus
def test_health_and_counters_describe_the_scenario(fleet):
    text = snapshot_text(fleet[2])
    up = {dict(k)["source"]: v for k, v in samples(text, "ada_carbon_source_up").items()}
    assert up == {"prometheus": 1, "mongodb": 1, "carbon_intensity": 1}
    requests = {
        dict(k)["source"]: v for k, v in samples(text, "ada_carbon_source_requests").items()
    }
    # Prometheus: the busy and idle totals, and the steps of the host that changed hands
    # and the look at its handover.
    assert requests == {"prometheus": 4, "mongodb": 1, "carbon_intensity": 0}
    skipped = {
        dict(k)["reason"]: v for k, v in samples(text, "ada_carbon_skipped_documents").items()
    }
    assert skipped == {**dict.fromkeys(SKIP_REASONS, 0), "bad_hostname": 1, "bad_created_time": 1}
    unmatched = {dict(k)["side"]: v for k, v in samples(text, "ada_carbon_unmatched_hosts").items()}
    assert unmatched == {"mongodb": 1, "prometheus": 3, "unparseable_instance": 1}
    assert samples(text, "ada_carbon_split_hosts") == {(): 1}
    info = {dict(k)["workspace_id"]: dict(k) for k in samples(text, "ada_carbon_workspace_info")}
    assert info["w-bob"]["user"] == "bob"
    assert info["w-bob"]["machine_name"] == "Muon"
    assert info["w-pool"]["user"] == "unattributed"
    assert "w-alice" not in info  # deleted before the window's end
    assert "alice@example.org" not in text and "Example" not in text  # no personal data


@pytest.mark.prometheus
def test_exposition_passes_promtool_check_metrics(fleet):
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=snapshot_text(fleet[2]),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
def test_a_regex_hostname_never_widens_the_selector(prometheus_factory):
    prom = prometheus_factory(scenario.openmetrics())
    source = PrometheusUsage(
        httpx.Client(), PrometheusConfig(url=prom.url), scenario.BUSY_MODES, scenario.IDLE_MODES
    )
    assert source.usage_steps([".*"], END, 3600, 60) == {}
    assert source.usage_steps(["172.16.100.5.*"], END, 3600, 60) == {}
    steps = source.usage_steps([".*:9100"], END, 3600, 60)
    assert list(steps) == [(".*:9100", "IDAaaS", "Muon")]
    steps = source.usage_steps(["172.16.100.5:9100"], END, 3600, 60)
    assert list(steps) == [("172.16.100.5:9100", "IDAaaS", "Muon")]


@pytest.mark.prometheus
def test_answers_come_uncompressed_unless_gzip_is_on_and_read_the_same(prometheus_factory):
    prom = prometheus_factory(scenario.openmetrics())
    form = {"query": "node_cpu_seconds_total", "time": f"{END.timestamp():.3f}"}
    usage = []
    for gzip, headers, encoding in (
        (False, {}, None),
        (True, {}, "gzip"),
        (False, {"accept-encoding": "gzip"}, "gzip"),  # a configured header wins
    ):
        cfg = Config(prometheus=PrometheusConfig(url=prom.url, gzip=gzip, headers=headers))
        client = http_client(cfg.prometheus)
        response = client.post(prom.url + "/api/v1/query", data=form)
        assert response.headers.get("content-encoding") == encoding
        assert len(response.json()["data"]["result"]) > 0
        source = PrometheusUsage(client, cfg.prometheus, scenario.BUSY_MODES, scenario.IDLE_MODES)
        usage.append(source.window_usage(END, 3600))
    assert usage[0] == usage[1] == usage[2] and usage[0]


def bigger_fleet(n: int) -> list[Host]:
    return [
        Host(
            f"172.16.{100 + i // 200}.{i % 200 + 1}:9100",
            "IDAaaS",
            f"Type{i % 13}",
            2,
            {"user": 0.2, "idle": 0.8},
        )
        for i in range(n)
    ]


def bigger_workspaces(hosts: list[Host]) -> list[dict[str, object]]:
    """One owner per host; every third host is handed over mid-window (so needs splitting)."""
    mid = END.replace(tzinfo=None) - timedelta(minutes=30)
    docs: list[dict[str, object]] = []
    for i, h in enumerate(hosts):
        docs.append(
            {
                "_id": f"b{i}",
                "hostname": h.instance.split(":")[0],
                "owner": f"u{i % 40}",
                "state": "CLAIMED",
                "tag": "ISIS",
                "created_time": mid if i % 3 == 0 else mid - timedelta(days=1),
            }
        )
    return docs


@pytest.mark.prometheus
@pytest.mark.parametrize("size", [6, 120])
def test_upstream_requests_per_scrape_do_not_grow_with_the_fleet(
    size, prometheus_factory, mongo_wire
):
    hosts = bigger_fleet(size)
    prom = prometheus_factory(scenario.openmetrics(hosts, history=3900, interval=60))
    load_mongo(mongo_wire.uri, bigger_workspaces(hosts))
    config = Config(
        prometheus=PrometheusConfig(url=prom.url),
        mongodb=MongoConfig(uri=mongo_wire.uri),
        carbon_intensity=IntensityConfig(source="fixed"),
    )
    engine = build_refresh(config)
    try:
        snap = engine.snapshot(END)
    finally:
        engine.close()
    assert {k: (s.up, s.requests) for k, s in snap.sources.items()} == {
        # busy, idle, and the steps of the hosts that changed hands and the look at their
        # handovers
        "prometheus": (True, 4),
        "mongodb": (True, 1),
        "carbon_intensity": (True, 0),
    }
    assert snap.split_hosts == len(range(0, size, 3))
    assert snap.usage is not None
    users = {key[3] for key in snap.usage}
    assert len(users) > min(size // 3, 40)
