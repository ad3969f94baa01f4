"""The command line as an admin meets it: --help, --config.check, snapshot, bad configs."""

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.cli import build_parser, main
from exporter.commands import parse_time
from tests.harness.prometheus import free_port

ROOT = Path(__file__).resolve().parents[2]


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
    assert len(stamps) == 4  # 10:30, 11:00, 11:30, 12:00: every half hour in (--from, --to]
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


@pytest.mark.parametrize(
    ("when", "why"),
    [
        ("1e20", "not a plausible time"),
        ("inf", "not a plausible time"),
        ("-1e20", "not a plausible time"),
        ("1e12", "not a plausible time"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
    ],
)
def test_a_time_out_of_range_is_a_usage_error_not_a_traceback(when, why, capsys):
    assert main(["--demo", "snapshot", f"--at={when}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ada-carbon-exporter snapshot: --at: ") and why in err, err


@pytest.mark.parametrize("step", ["999999999d", "32d", "0s"])
def test_a_backfill_step_out_of_range_is_a_usage_error_not_a_traceback(step, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--demo", "backfill", "--from=2026-01-01", "--to=2026-01-02", f"--step={step}"])
    assert exit_.value.code == 2
    assert "--step: must be from 1s to 31d" in capsys.readouterr().err


def test_backfill_refuses_an_unwritable_output_or_the_future_before_computing(tmp_path, capsys):
    frm, to = "--from=2026-01-31T10:00:00Z", "--to=2026-01-31T12:00:00Z"
    for output in (tmp_path, tmp_path / "missing" / "x.om"):
        assert main(["--demo", "backfill", frm, to, f"--output={output}"]) == 2
        assert "cannot write --output" in capsys.readouterr().err
    future = "--to=2999-01-01T00:00:00Z"
    assert main(["--demo", "backfill", frm, future, f"--output={tmp_path / 'f.om'}"]) == 2
    assert "is in the future" in capsys.readouterr().err
    assert not (tmp_path / "f.om").exists()


def test_backfill_writes_the_windows_on_the_grid_that_end_in_its_period(tmp_path):
    off = ["--from=2026-01-31T10:30:00Z", "--to=2026-01-31T11:30:00Z"]
    assert main(["--demo", "backfill", *off, f"--output={tmp_path / 'a.om'}"]) == 0
    stamps = {
        line.rsplit(" ", 1)[1]
        for line in (tmp_path / "a.om").read_text().splitlines()
        if line.startswith("ada_carbon_window_seconds ")
    }
    assert stamps == {"1769857200.0"}  # 11:00, the one window a report of this period counts


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


# Every long flag of every parser: (what the line needs before it, the flag abbreviated,
# the flag in full, its value). argparse took such abbreviations for the flag they begin.
AT, DAY, NEXT = "--at=1769860800", "--from=2026-01-01", "--to=2026-01-02"
BACKFILL = ["backfill", "--from=1769860800", "--to=1769860800"]
CALCULATE = ["calculate", "--busy-seconds=1", "--idle-seconds=1"]
FLAGS = [
    ([], "--web.listen", "--web.listen-address", ":9999"),
    ([], "--web.config", "--web.config.file", "web.yml"),
    ([], "--config.f", "--config.file", "exporter.yaml"),
    ([], "--config.ch", "--config.check", None),
    ([], "--log.lev", "--log.level", "debug"),
    ([], "--dem", "--demo", None),
    ([], "--vers", "--version", None),
    (["snapshot"], "--a", "--at", "1769860800"),
    (["snapshot", AT], "--dem", "--demo", None),
    (["snapshot", AT], "--config.f", "--config.file", "exporter.yaml"),
    (["snapshot", AT], "--log.l", "--log.level", "debug"),
    (["backfill", "--to=1769860800"], "--fro", "--from", "1769860800"),
    (["backfill", "--from=1769860800"], "--t", "--to", "1769860800"),
    (BACKFILL, "--ste", "--step", "1h"),
    (BACKFILL, "--out", "--output", "x.om"),
    (["calculate", "--idle-seconds=1"], "--busy", "--busy-seconds", "1"),
    (["calculate", "--busy-seconds=1"], "--idle-sec", "--idle-seconds", "1"),
    (CALCULATE, "--intens", "--intensity", "185"),
    (CALCULATE, "--mach", "--machine", "x"),
    (CALCULATE, "--form", "--format", "json"),
    (["report", NEXT], "--fr", "--from", "2026-01-01"),
    (["report", DAY], "--t", "--to", "2026-01-02"),
    (["report", DAY, NEXT], "--b", "--by", "user"),
    (["report", DAY, NEXT], "--form", "--format", "csv"),
    (["report", DAY, NEXT], "--prometheus", "--prometheus-url", "http://p:9090"),
    (["report", DAY, NEXT], "--sour", "--source", "raw"),
]


def line(before, flag, value):
    return [*before, flag if value is None else f"{flag}={value}"]


@pytest.mark.parametrize(
    ("before", "short", "full", "value"), FLAGS, ids=[" ".join([*f[0][:1], f[1]]) for f in FLAGS]
)
def test_an_abbreviated_flag_is_refused_not_taken_for_the_flag_it_begins(
    before, short, full, value, capsys
):
    parser = build_parser()
    try:  # the line is valid with the flag in full ...
        parser.parse_args(line(before, full, value))
    except SystemExit as exit_:
        assert (full, exit_.code) == ("--version", 0)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:  # ... and a usage error with it abbreviated
        parser.parse_args(line(before, short, value))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    unknown = f"unrecognized arguments: {line([], short, value)[0]}"
    assert unknown in err or f"the following arguments are required: {full}\n" in err, err


def test_a_second_sigterm_while_stopping_exits_0_without_a_traceback():
    """`make demo` passes its SIGTERM on: the exporter may get two, close together."""
    for delay in (0.0, 0.001, 0.005, 0.02, 0.05):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--demo", f"--web.listen-address=127.0.0.1:{port}"],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stderr is not None
            for started in proc.stderr:  # once it listens, its signal handlers are in place
                if "listening on" in started:
                    break
            proc.send_signal(signal.SIGTERM)
            time.sleep(delay)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            err = proc.communicate(timeout=30)[1]
        finally:
            proc.kill()
        assert proc.returncode == 0, (delay, err)
        assert "Traceback" not in err and "shutting down" in err, (delay, err)
