"""`report` as a user meets it: --help, one-line errors, the choice of source, progress."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from exporter.attribution.experiments import Experiment
from exporter.cli import build_parser, main
from exporter.commands import CommandError, Progress, parse_time
from exporter.commands.report import command, gather
from exporter.config import Config, ExperimentsConfig
from exporter.pricing import PowerModel
from tests.harness.prometheus import free_port

ROOT = Path(__file__).resolve().parents[2]
H = 3600.0
T = 1769860800.0  # 2026-01-31T12:00:00Z


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "exporter", "--log.level=error", "report", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_period_without_a_whole_window_is_an_error_not_a_table_of_zeros():
    result = run("--demo", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T00:30:00Z")
    assert result.returncode == 2  # a bad period, as --to before --from is
    assert "no window ends in this period" in result.stderr


def test_help_explains_the_command():
    out = run("--help").stdout
    flags = ["--from", "--to", "--by", "experiment", "pi", "--top", "--format", "csv", "json"]
    words = ["--prometheus-url", "--source", "raw", "never overlap", "Exit status"]
    for text in flags + words:
        assert text in out, text


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-02-01", "2026-01-01", "--to (2026-01-01) must be after --from (2026-02-01)"),
        ("2026-01-01", "2026-01-01", "must be after"),
        ("yesterday", "2026-01-01", "--from: not a date or time: 'yesterday'"),
        ("2026-01-01", "2026-13-01", "--to: not a date or time"),
        ("nan", "2026-01-01", "--from: not a date or time"),
        ("2026-01-01T00:00", "2026-01-02", "--from: give a time zone"),
    ],
)
def test_bad_periods_exit_2_with_one_line(start, end, message):
    result = run("--from", start, "--to", end)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stderr.startswith("ada-carbon-exporter report: ")


def test_unreachable_prometheus_exits_1_with_one_line():
    url = f"http://127.0.0.1:{free_port()}"
    result = run("--from", "2026-01-01", "--to", "2026-01-02", "--prometheus-url", url)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert f"cannot reach Prometheus at {url}" in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "reading"),
    [
        (["--by", "experiment"], {}, "cannot read experiments from MongoDB: "),
        (["--source", "raw"], {"USE_FAKE_PROMETHEUS": "true"}, "cannot compute the window ending"),
    ],
    ids=["experiments", "raw"],
)
def test_unreachable_mongodb_exits_1_with_one_short_line(tmp_path, monkeypatch, args, env, reading):
    port = free_port()
    config = tmp_path / "exporter.yaml"
    config.write_text(
        f"mongodb:\n  uri: mongodb://127.0.0.1:{port}\n  timeout: 1s\n"
        "carbon_intensity:\n  source: fixed\n"
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    period = ["--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T01:00:00Z"]
    result = run(f"--config.file={config}", *period, *args)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 250, result.stderr
    assert reading in result.stderr
    assert f"no server answered within 1s: 127.0.0.1:{port} (" in result.stderr


def test_a_bad_prometheus_url_is_an_argument_error():
    result = run("--from", "2026-01-01", "--to", "2026-01-02", "--prometheus-url", "prom:9090")
    assert (result.returncode, result.stderr.count("\n")) == (2, 1)
    assert "--prometheus-url" in result.stderr


def test_dates_times_and_unix_seconds_are_accepted():
    assert parse_time("2026-01-31").timestamp() == T - 12 * H
    assert parse_time("2026-01-31T12:00:00Z").timestamp() == T
    assert parse_time("2026-01-31T13:00:00+01:00").timestamp() == T
    assert parse_time(str(T)).timestamp() == T
    with pytest.raises(ValueError, match="not a date or time"):
        parse_time("31/01/2026")


def test_the_demo_reports_from_raw_data_window_by_window(capsys):
    args = ["--demo", "report", "--from", "2026-01-30T12:00:00Z", "--to", "2026-01-31T00:00:00Z"]
    assert main([*args, "--by", "facility", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["source"], doc["windows"]) == ("raw", {"expected": 12, "present": 12})
    assert {r["key"]["facility"] for r in doc["rows"]} == {"ISIS", "CLF", "Development", "Training"}
    assert doc["total"]["emissions_grams"] > 0


def test_experiments_need_mongodb(capsys):
    args = ["--demo", "report", "--from", "2026-01-30", "--to", "2026-01-31", "--by", "pi"]
    assert main(args) == 2
    assert "MongoDB" in capsys.readouterr().err


def args_for(*extra):
    parser = build_parser()
    return parser.parse_args(["report", "--from", str(T - 4 * H), "--to", str(T), *extra])


class FakePrometheus:
    """Answers the report's queries: a window length, per-window usage, a window count."""

    def __init__(self, window: dict | None = None, windows="4"):
        self.window = window if window is not None else {"min": "3600", "max": "3600"}
        self.windows = windows
        self.usage_queries: list[tuple[str, float]] = []
        self.users, self.grams = ("alice",), "2.22"

    def __call__(self, request):
        form = dict(httpx.QueryParams(request.content.decode()))
        query, at = form["query"], float(form["time"])
        if "ada_carbon_window_seconds" in query:
            value = self.window.get(query[:3])  # min(...) or max(...)
            result = [] if value is None else [{"metric": {}, "value": [at, value]}]
        elif query.startswith("count_over_time"):
            result = [{"metric": {}, "value": [at, self.windows]}]
        elif "ada_carbon_power_model_info" in query:
            model = {"busy_watts_per_core": "12", "idle_watts_per_core": "1", "pue": "1"}
            result = [{"metric": {**model, "machine_name": "Muon"}, "value": [at, "1"]}]
        elif "ada_carbon_grid_intensity_source" in query:
            result = [{"metric": {"region": "GB", "source": "api"}, "value": [at, self.windows]}]
        else:
            self.usage_queries.append((query, at))
            labels = {"cloud_project_name": "IDAaaS", "machine_name": "Muon", "facility": "ISIS"}
            result = [
                {"metric": {**labels, "user": user, "family": f, "mode": "busy"},
                 "value": [at, v]}
                for f, v in (("cpu_seconds", "3600"), ("energy_joules", "43200"),
                             ("emissions_grams", self.grams))
                for user in self.users
            ]  # fmt: skip
        return httpx.Response(200, json={"status": "success", "data": {"result": result}})


@pytest.fixture
def prometheus(monkeypatch):
    fake = FakePrometheus()
    monkeypatch.setattr(
        "exporter.sources.prometheus.client.http_client",
        lambda config: httpx.Client(transport=httpx.MockTransport(fake)),
    )
    return fake


def test_with_the_exporters_series_one_query_sums_the_period(prometheus):
    report = command.build(Config(), args_for("--by", "user"))
    assert (report.source, report.windows_expected, report.windows_present) == ("exporter", 4, 4)
    assert [at for _, at in prometheus.usage_queries] == [T]
    assert report.table.rows[0].usage.busy_grams == 2.22
    assert report.method.power == (("Muon", PowerModel(12, 1, 1)),)
    assert report.method.intensity == "region GB: the Carbon Intensity API (NESO) for 4 windows"


def test_experiment_dates_cut_the_period_into_pieces_queried_one_by_one(prometheus, monkeypatch):
    dated = Experiment("RB1", frozenset({"alice"}), "MuSR", "p", start=T - 2.5 * H)
    monkeypatch.setattr(gather, "load_experiments", lambda config, start, end: ([dated], []))
    config = Config(experiments=ExperimentsConfig({"MuSR": ("Muon",)}))
    report = command.build(config, args_for("--by", "experiment"))
    assert [at for _, at in prometheus.usage_queries] == [T - 3 * H, T - 2 * H, T]
    # Each piece answers 2.22 g: half of the window holding the start, all of the piece after.
    [row] = report.table.rows
    assert row.key == ("RB1",) and row.usage.busy_grams == pytest.approx(1.5 * 2.22)
    assert report.table.unassigned is not None
    assert report.table.unassigned.usage.busy_grams == pytest.approx(1.5 * 2.22)


def test_every_day_queries_the_exporters_series_one_day_at_a_time(prometheus):
    period = ["--from", str(T - 14 * H), "--to", str(T), "--tz", "Europe/London"]
    report = command.build(Config(), build_parser().parse_args(["report", *period, "--every=day"]))
    assert [at for _, at in prometheus.usage_queries] == [T - 12 * H, T]  # cut at midnight
    assert [(r.key, r.usage.busy_grams) for r in report.table.rows] == [
        (("2026-01-30", "2"), 2.22),
        (("2026-01-31", "12"), 2.22),
    ]


def test_finite_values_whose_sum_overflows_are_an_error_not_an_infinite_report(prometheus):
    prometheus.users, prometheus.grams = ("alice", "bob"), "1e308"  # each finite, not the sum
    with pytest.raises(CommandError, match="not a finite number"):
        command.build(Config(), args_for("--by", "facility"))


def test_missing_windows_are_reported(prometheus):
    prometheus.windows = "3"
    assert command.build(Config(), args_for()).windows_present == 3


def test_without_the_exporters_series_auto_computes_from_raw_data(prometheus, monkeypatch):
    prometheus.window = {}
    reasons = []

    def from_raw(config, start, end, reason):
        reasons.append(reason)
        return gather.Gathered([], "raw", "x", H, (4, 4), reason)

    monkeypatch.setattr(gather, "from_raw", from_raw)
    assert command.build(Config(), args_for()).source == "raw"
    assert "absent" in reasons[0]
    with pytest.raises(CommandError, match=r"absent.*backfill them, or use --source raw"):
        command.build(Config(), args_for("--source", "exporter"))


def test_a_window_length_that_changed_in_the_period_is_refused(prometheus):
    prometheus.window = {"min": "900", "max": "3600"}
    with pytest.raises(CommandError, match="changed from 900s to 3600s"):
        command.build(Config(), args_for())


def test_progress_only_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    Progress("report", "windows", 3)(1)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    progress = Progress("report", "windows", 3)
    progress(1)
    progress(3)
    assert capsys.readouterr().err == "\rreport: 1/3 windows\rreport: 3/3 windows\n"


def test_top_must_be_a_whole_number():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["report", "--from", "1", "--to", "2", "--top", "-1"])
    assert isinstance(args_for("--top", "0"), argparse.Namespace)
