"""History end to end: backfill a scenario, load it into a second Prometheus, report on it.

A source Prometheus holds six hours of the scenario's node_cpu_seconds_total and a
MongoDB wire server its workspaces and experiments. ``backfill --from END-5h --to END``
writes the windows ending at END-4h ... END, promtool loads them into a second
Prometheus, and ``report`` over (END-4h, END] (its four windows ending END-3h ... END)
must equal the scenario's truth within 1 %: from the backfilled series, and from
raw data when the exporter's series are absent.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from tests import scenario
from tests.e2e.test_e2e import load_mongo
from tests.harness.command import exporter
from tests.scenario import END, HOSTS, Host

HOURS = 4
START = END - timedelta(hours=HOURS)
MODES = {"busy": scenario.BUSY_MODES, "idle": scenario.IDLE_MODES}
WATTS = {"busy": scenario.BUSY_W, "idle": scenario.IDLE_W}
H50, H5, H51, H7, H52, HOSTILE = HOSTS
EXPERIMENTS: list[dict[str, object]] = [
    {
        "name": "RB1",
        "type": "experiment",
        "members": ["alice", "bob"],
        "parameters": {"title": "Muon spin", "pi": "alice", "instrument": "MuSR"},
    },
    {
        "name": "RB2",
        "type": "experiment",
        "members": ["alice", "carol"],
        "parameters": {"title": "Relaxation", "pi": "carol", "instrument": "EMU"},
    },
    {  # starts two hours before END: half of the report's four hours
        "name": "RB3",
        "type": "experiment",
        "members": ["dave"],
        "parameters": {"pi": "dave", "instrument": "IMAT", "start_date": "2026-01-31T10:00:00Z"},
    },
    {  # WISH is mapped to no machine type: it gets nothing, and the report says so
        "name": "RB4",
        "type": "experiment",
        "members": ["dave"],
        "parameters": {"pi": "dave", "instrument": "WISH"},
    },
    {"name": "RB5", "type": "experiment", "members": "alice", "parameters": {}},  # malformed
    {"name": "ops", "type": "admin", "members": ["alice"]},  # not an experiment
]


def per_hour(host: Host, mode: str) -> float:
    return host.per_second(MODES[mode]) * 3600


def hours_by_user() -> dict[str, list[tuple[Host, float]]]:
    """Who used which host for how many of the report's hours (handover 20 min before END)."""
    return {
        "alice": [(H50, HOURS - 1 / 3)],
        "bob": [(H50, 1 / 3)],
        "carol": [(H5, HOURS)],
        "dave": [(H7, HOURS)],
        "unattributed": [(H51, HOURS), (H52, HOURS), (HOSTILE, HOURS)],
    }


def truth(weights: dict[str, float]) -> dict[str, float]:
    """CPU-seconds, joules and grams of a weighted sum of users' usage over the period."""
    out = {}
    for mode in MODES:
        seconds = sum(
            per_hour(host, mode) * hours * weights.get(user, 0.0)
            for user, parts in hours_by_user().items()
            for host, hours in parts
        )
        out[f"{mode}_cpu_seconds"] = seconds
        out[f"{mode}_joules"] = seconds * WATTS[mode]
        out[f"{mode}_grams"] = seconds * WATTS[mode] / 3.6e6 * scenario.INTENSITY
    return out


def write_config(path: Path, prometheus_url: str, mongo_uri: str) -> Path:
    path.write_text(
        f"prometheus:\n  url: {prometheus_url}\n"
        f"mongodb:\n  uri: {mongo_uri}\n"
        f"carbon_intensity:\n  source: fixed\n  fixed_gco2_per_kwh: {scenario.INTENSITY}\n"
        "experiments:\n  instruments:\n    MuSR: [Muon]\n    EMU: [Muon]\n    IMAT: [Tomography]\n"
    )
    return path


@pytest.fixture
def fleet(prometheus_factory, mongo_wire, tmp_path):
    """The scenario in a source Prometheus (6 h) and MongoDB; yields (source url, config)."""
    source = prometheus_factory(scenario.openmetrics(history=6 * 3600))
    load_mongo(mongo_wire.uri, scenario.workspaces())
    client: MongoClient[dict[str, object]] = MongoClient(mongo_wire.uri)
    client["ada"]["groups"].insert_many(copy.deepcopy(EXPERIMENTS))
    client.close()
    return source.url, write_config(tmp_path / "exporter.yaml", source.url, mongo_wire.uri)


@pytest.fixture
def history(fleet, prometheus_factory):
    """A second Prometheus holding only what ``backfill`` wrote; yields (its url, config)."""
    _, config = fleet
    # One window more than the reports count, the one ending at START, which they must not.
    before = START - timedelta(hours=1)
    result = exporter(
        "backfill", f"--from={before.isoformat()}", f"--to={END.isoformat()}", "--step=1h",
        f"--config.file={config}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return prometheus_factory(result.stdout).url, config


def report(config: Path, url: str, *args: str) -> dict:
    result = exporter(
        "report", f"--config.file={config}", f"--prometheus-url={url}", "--format=json",
        "--top=0", f"--from={START.isoformat()}", f"--to={END.isoformat()}", *args,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def rows(doc: dict) -> dict[str, dict]:
    out = {next(iter(r["key"].values())): r for r in doc["rows"]}
    if doc["unassigned"] is not None:
        out["(no experiment)"] = doc["unassigned"]
    return out


def assert_matches(row: dict, expected: dict[str, float], what: str) -> None:
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=0.01), (what, name)


def assert_users_match_the_truth(doc: dict) -> None:
    by_user = rows(doc)
    assert set(by_user) == set(hours_by_user())
    for user in hours_by_user():
        assert_matches(by_user[user], truth({user: 1.0}), user)


def instant(url: str, query: str) -> float:
    answer = httpx.post(f"{url}/api/v1/query", data={"query": query, "time": END.timestamp()})
    [sample] = answer.json()["data"]["result"]
    return float(sample["value"][1])


@pytest.mark.prometheus
def test_backfilled_history_sums_to_hourly_truth_with_promql(history):
    url, _ = history
    carol = per_hour(H5, "busy")
    selector = 'ada_carbon_cpu_seconds{user="carol",mode="busy"}'
    # Four windows end in (END-4h, END]: a range 1 s short of 4h counts exactly those.
    assert instant(url, f"sum_over_time({selector}[3h59m59s:1h])") == pytest.approx(4 * carol)
    # Prometheus 2.x includes both ends of a subquery's range: [4h:1h] evaluated on the hour
    # also counts the window ending at END-4h, one window too many.
    assert instant(url, f"sum_over_time({selector}[4h:1h])") == pytest.approx(5 * carol)


@pytest.mark.prometheus
def test_report_over_backfilled_history_equals_the_truth(history):
    url, config = history
    doc = report(config, url, "--by=user")
    assert (doc["source"], doc["windows"]) == ("exporter", {"expected": 4, "present": 4})
    assert_users_match_the_truth(doc)
    assert doc["total"]["intensity_gco2_per_kwh"] == pytest.approx(scenario.INTENSITY)
    assert doc["equivalents"]


@pytest.mark.prometheus
def test_report_without_exporter_series_computes_from_raw_data_and_says_so(fleet):
    source_url, config = fleet
    doc = report(config, source_url, "--by=user")
    assert doc["source"] == "raw"
    assert "absent" in doc["reason"]
    assert doc["windows"] == {"expected": 4, "present": 4}
    assert_users_match_the_truth(doc)
    table = exporter(
        "report", f"--config.file={config}", f"--prometheus-url={source_url}",
        f"--from={START.isoformat()}", f"--to={END.isoformat()}", "--by=group",
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "COMPUTED FROM RAW DATA" in table.stdout


@pytest.mark.prometheus
def test_report_by_experiment_splits_shared_usage_and_never_double_counts(history):
    url, config = history
    doc = report(config, url, "--by=experiment")
    by_experiment = rows(doc)
    assert set(by_experiment) == {"RB1", "RB2", "RB3", "(no experiment)"}
    assert_matches(by_experiment["RB1"], truth({"alice": 0.5, "bob": 1.0}), "RB1")
    assert_matches(by_experiment["RB2"], truth({"alice": 0.5, "carol": 1.0}), "RB2")
    assert_matches(by_experiment["RB3"], truth({"dave": 0.5}), "RB3")
    rest = truth({"dave": 0.5, "unattributed": 1.0})
    assert_matches(by_experiment["(no experiment)"], rest, "(no experiment)")
    everyone = truth({user: 1.0 for user in hours_by_user()})
    assert_matches(doc["total"], everyone, "total")
    notes = " ".join(doc["notes"])
    assert "WISH" in notes and "1 experiment records skipped: bad_members 1" in notes

    by_pi = rows(report(config, url, "--by=pi"))
    assert_matches(by_pi["carol"], truth({"alice": 0.5, "carol": 1.0}), "pi carol")
    assert_matches(by_pi["dave"], truth({"dave": 0.5}), "pi dave")


@pytest.mark.prometheus
def test_the_method_is_the_same_from_the_exporters_series_and_from_raw_data(history, fleet):
    """The power models and intensity read back from Prometheus are those raw windows use."""
    from_series = report(history[1], history[0], "--by=group")["methodology"]
    from_raw = report(fleet[1], fleet[0], "--by=group")["methodology"]
    assert from_series == from_raw
    machines = {k[1] for k in scenario.expected_cpu_seconds()}
    assert {m["machine_name"] for m in from_series["power_models"]} == machines
    assert all(
        (m["busy_watts_per_core"], m["idle_watts_per_core"], m["pue"]) == (12, 1, 1)
        for m in from_series["power_models"]
    )
    assert (
        from_series["intensity"] == "region GB: carbon_intensity.fixed_gco2_per_kwh for 4 windows"
    )
