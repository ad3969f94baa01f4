"""The command line as an admin meets it: --help, --config.check, snapshot, bad configs."""

import subprocess
import sys
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.commands import parse_time

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_explains_the_exporter_and_its_flags():
    out = run("--help").stdout
    for text in [
        "energy and carbon",
        "--config.file",
        "--web.listen-address",
        "--config.check",
        "--log.level",
        "--demo",
        "snapshot",
        "PROMETHEUS_URL",
        "USE_FAKE_MONGODB",
    ]:
        assert text in out


def test_config_check_accepts_the_shipped_config():
    result = run("--config.check")
    assert result.returncode == 0
    assert "configuration OK" in result.stdout


def test_bad_config_exits_non_zero_naming_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("power:\n  idle_watts_per_core: -1\nprometheus:\n  tiemout: 3s\n")
    for args in (["--config.check"], []):
        result = run(f"--config.file={bad}", *args)
        assert result.returncode == 2
        assert "power.idle_watts_per_core" in result.stderr
        assert "prometheus.tiemout: unknown key" in result.stderr


def test_missing_config_file_is_an_error(tmp_path):
    result = run(f"--config.file={tmp_path / 'nope.yaml'}", "--config.check")
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_config_check_never_prints_secrets(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mongodb:\n  uri: mongodb://admin:hunter2@db:27017\n")
    result = run(f"--config.file={cfg}", "--config.check")
    assert result.returncode == 0
    assert "hunter2" not in result.stdout + result.stderr
    assert "admin:***@db" in result.stdout


def test_demo_snapshot_prints_a_valid_attributed_exposition(capsys):
    assert main(["--demo", "snapshot", "--at", "2026-01-31T12:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert 'ada_carbon_energy_joules{cloud_project_name="IDAaaS"' in out
    assert 'user="unattributed"' in out
    assert "ada_carbon_window_end_timestamp_seconds 1.7698608e+09" in out


def test_snapshot_is_reproducible(capsys):
    main(["snapshot", "--demo", "--at", "2026-01-31T12:00:00Z"])
    first = capsys.readouterr().out
    main(["snapshot", "--demo", "--at", "2026-01-31T12:00:00Z"])
    second = capsys.readouterr().out

    def stable(text):  # the source durations are wall times and differ
        return [line for line in text.splitlines() if "duration_seconds{" not in line]

    assert stable(first) == stable(second)


def test_backfill_steps_by_the_configured_window_unless_told(tmp_path, capsys):
    config = tmp_path / "exporter.yaml"
    config.write_text("window: 30m\n")
    frm, to = "--from=2026-01-31T10:00:00Z", "--to=2026-01-31T12:00:00Z"
    common = ["--demo", f"--config.file={config}", "backfill", frm, to]
    assert main([*common, f"--output={tmp_path / 'a.om'}"]) == 0
    stamps = {
        line.rsplit(" ", 1)[1]
        for line in (tmp_path / "a.om").read_text().splitlines()
        if line.startswith("ada_carbon_window_seconds ")
    }
    assert len(stamps) == 5  # 10:00, 10:30, ... 12:00: every half hour, no gaps
    assert "backfill" not in capsys.readouterr().err
    # The equivalents dashboards divide by are there at every backfilled time too.
    charges = [
        line.rsplit(" ", 2)[1:]
        for line in (tmp_path / "a.om").read_text().splitlines()
        if line.startswith('ada_carbon_equivalency_grams{equivalent="smartphone_charge"')
    ]
    assert {stamp for _, stamp in charges} == stamps
    assert {value for value, _ in charges} == {"8.22"}

    assert main([*common, "--step=1h", f"--output={tmp_path / 'b.om'}"]) == 0
    assert "the windows leave gaps" in capsys.readouterr().err


@pytest.mark.parametrize("when", ["1e20", "inf", "-1e20", "1e12", "0001-01-01T00:00:00+01:00"])
def test_a_time_out_of_range_is_a_usage_error_not_a_traceback(when, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--demo", "snapshot", f"--at={when}"])
    assert exit_.value.code == 2
    assert "out of range" in capsys.readouterr().err


def test_backfill_refuses_an_unwritable_output_or_the_future_before_computing(tmp_path, capsys):
    frm, to = "--from=2026-01-31T10:00:00Z", "--to=2026-01-31T12:00:00Z"
    for output in (tmp_path, tmp_path / "missing" / "x.om"):
        assert main(["--demo", "backfill", frm, to, f"--output={output}"]) == 2
        assert "cannot write --output" in capsys.readouterr().err
    future = "--to=2999-01-01T00:00:00Z"
    assert main(["--demo", "backfill", frm, future, f"--output={tmp_path / 'f.om'}"]) == 2
    assert "is in the future" in capsys.readouterr().err
    assert not (tmp_path / "f.om").exists()


def test_backfill_warns_when_its_windows_are_off_the_window_grid(tmp_path, capsys):
    off = ["--from=2026-01-31T10:30:00Z", "--to=2026-01-31T11:30:00Z"]
    assert main(["--demo", "backfill", *off, f"--output={tmp_path / 'a.om'}"]) == 0
    assert "is not a whole multiple of the window" in capsys.readouterr().err


def test_snapshot_exits_1_when_an_upstream_failed_and_still_prints_what_it_has(tmp_path, capsys):
    config = tmp_path / "exporter.yaml"
    config.write_text(
        "scrape_budget: 5s\n"
        "prometheus: {url: 'http://127.0.0.1:9', timeout: 1s}\n"
        "mongodb: {uri: 'mongodb://127.0.0.1:9', timeout: 1s}\n"
        "carbon_intensity: {source: fixed}\n"
    )
    assert main([f"--config.file={config}", "snapshot", "--at=2026-01-31T12:00:00Z"]) == 1
    out = capsys.readouterr().out
    assert 'ada_carbon_source_up{source="prometheus"} 0.0' in out
    assert 'ada_carbon_source_up{source="carbon_intensity"} 1.0' in out


def test_parse_time_accepts_rfc3339_and_unix_seconds():
    assert parse_time("2026-01-31T12:00:00Z") == parse_time("1769860800")
    with pytest.raises(ValueError, match="time zone"):
        parse_time("2026-01-31T12:00:00")
