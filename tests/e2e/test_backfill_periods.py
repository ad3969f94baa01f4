"""`backfill` writes the windows `report` counts over the same period, in --tz; `snapshot`
reads dates as they do and refuses a number that is no plausible unix time."""

import json
from datetime import datetime, timezone

import pytest

from exporter.cli import main


def stamps(path):
    return sorted(
        float(line.rsplit(" ", 1)[1])
        for line in path.read_text().splitlines()
        if line.startswith("ada_carbon_window_seconds ")
    )


def utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=timezone.utc).timestamp()


def test_backfill_writes_exactly_the_windows_report_counts_over_the_same_period(tmp_path, capsys):
    period = ["--from", "2026-01-30", "--to", "2026-01-31"]
    assert main(["--demo", "backfill", *period, "-o", str(tmp_path / "d.om")]) == 0
    written = stamps(tmp_path / "d.om")
    assert main(["--demo", "report", *period, "--format", "json"]) == 0
    counted = json.loads(capsys.readouterr().out)
    assert len(written) == counted["windows"]["expected"] == 24
    assert (written[0] - 3600, written[-1]) == (utc(2026, 1, 30), utc(2026, 1, 31))
    assert (counted["from"], counted["to"]) == ("2026-01-30T00:00:00Z", "2026-01-31T00:00:00Z")


def test_backfill_of_the_uk_day_the_clocks_go_back_writes_its_25_windows(tmp_path):
    day = ["--from", "2026-10-25", "--to", "2026-10-26", "--tz", "Europe/London"]
    assert main(["--demo", "backfill", *day, "-o", str(tmp_path / "d.om")]) == 0
    written = stamps(tmp_path / "d.om")
    assert len(written) == 25
    assert (written[0], written[-1]) == (utc(2026, 10, 25), utc(2026, 10, 26))


@pytest.mark.parametrize("command", [["backfill", "--to", "2026-01-02"], ["snapshot"]])
def test_a_digit_only_date_is_refused_with_its_two_readings(command, capsys):
    flag = "--from" if command[0] == "backfill" else "--at"
    assert main(["--demo", *command, flag, "20260101"]) == 2
    err = capsys.readouterr().err
    assert f"{command[0]}: {flag}: '20260101' is not a plausible time" in err
    assert "as unix seconds it is 1970-08-23T" in err and "as a date, give 2026-01-01" in err


def test_snapshot_reads_a_bare_date_as_midnight_in_its_zone(capsys):
    assert main(["--demo", "snapshot", "--at", "2026-06-01", "--tz", "Europe/London"]) == 0
    out = capsys.readouterr().out
    assert f"ada_carbon_window_end_timestamp_seconds {utc(2026, 5, 31, 23):.7e}" in out


@pytest.mark.parametrize(
    "command", [["backfill", "--from", "2026-01-01", "--to"], ["snapshot", "--at"]]
)
def test_an_unknown_zone_is_a_usage_error_naming_the_flag(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--demo", *command, "2026-01-02", "--tz", "Europe/Londres"])
    assert exit_.value.code == 2
    assert "argument --tz: no time zone 'Europe/Londres'" in capsys.readouterr().err
