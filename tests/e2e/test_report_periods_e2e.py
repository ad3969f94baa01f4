"""`report` over the demo as a facility manager asks: the period it counts said in its header,
UK days with --tz, and --every rows that each equal a report over just their period."""

import csv
import io
import json

import pytest

from exporter.cli import main

LONDON = ["--tz", "Europe/London"]


def report(capsys, *args):
    assert main(["--demo", "--log.level=error", "report", *args]) == 0
    return capsys.readouterr().out


def doc(capsys, *args):
    return json.loads(report(capsys, *args, "--format", "json"))


def test_the_header_shows_the_windows_counted_not_the_period_typed(capsys):
    out = report(capsys, "--from", "2026-01-31T10:59:00Z", "--to", "2026-01-31T11:01:00Z")
    head = out.splitlines()[:3]
    assert head[0].endswith(": 2026-01-31T10:00:00Z to 2026-01-31T11:00:00Z (1h)"), head
    assert "asked for 2026-01-31T10:59:00Z to 2026-01-31T11:01:00Z;" in head[1], head
    assert "1 of 1 windows of 1h" in head[2]
    got = doc(capsys, "--from", "2026-01-31T10:59:00Z", "--to", "2026-01-31T11:01:00Z")
    assert (got["from"], got["to"]) == ("2026-01-31T10:00:00Z", "2026-01-31T11:00:00Z")
    assert got["asked"] == {"from": "2026-01-31T10:59:00Z", "to": "2026-01-31T11:01:00Z"}
    aligned = report(capsys, "--from", "2026-01-31T10:00:00Z", "--to", "2026-01-31T14:00:00Z")
    assert aligned.splitlines()[0].endswith("2026-01-31T10:00:00Z to 2026-01-31T14:00:00Z (4h)")
    assert aligned.splitlines()[1].startswith("Source:")  # nothing to say: the period is whole


def test_a_period_in_which_no_window_ends_is_a_usage_error(capsys):
    args = ["--from", "2026-01-31T11:00:00Z", "--to", "2026-01-31T11:59:59Z"]
    assert main(["--demo", "report", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no window ends in this period" in err


def test_a_month_of_uk_days_has_31_rows_a_25_hour_day_and_sums_to_its_total(capsys):
    """The acceptance command of issue 21, as JSON."""
    got = doc(capsys, "--from", "2026-10-01", "--to", "2026-11-01", *LONDON, "--every", "day")
    rows = got["rows"]
    assert len(rows) == 31 and got["windows"] == {"expected": 745, "present": 745}
    assert [r["key"]["day"] for r in rows] == [f"2026-10-{d:02}" for d in range(1, 32)]
    assert {r["key"]["day"]: r["key"]["hours"] for r in rows if r["key"]["hours"] != "24"} == {
        "2026-10-25": "25"
    }
    assert (got["from"], got["to"], got["tz"]) == (
        "2026-09-30T23:00:00Z",
        "2026-11-01T00:00:00Z",
        "Europe/London",
    )
    for field in ("emissions_grams", "energy_joules", "busy_cpu_seconds"):
        assert sum(r[field] for r in rows) == pytest.approx(got["total"][field], rel=1e-12)


@pytest.mark.parametrize(
    ("start", "end", "day", "hours"),
    [
        ("2026-03-28", "2026-03-31", "2026-03-29", "23"),
        ("2026-10-24", "2026-10-27", "2026-10-25", "25"),
    ],
)
def test_a_clock_change_days_row_equals_a_report_over_just_that_day(capsys, start, end, day, hours):
    rows = doc(capsys, "--from", start, "--to", end, *LONDON, "--every", "day")["rows"]
    [row] = [r for r in rows if r["key"]["day"] == day]
    assert row["key"]["hours"] == hours
    alone = doc(capsys, "--from", day, "--to", rows[rows.index(row) + 1]["key"]["day"], *LONDON)
    assert alone["windows"]["expected"] == int(hours)
    for field in ("emissions_grams", "energy_joules", "busy_cpu_seconds", "idle_cpu_seconds"):
        assert row[field] == pytest.approx(alone["total"][field], rel=1e-12), field


def test_weeks_and_months_are_the_zones_calendar_cut_to_the_period(capsys):
    weeks = doc(capsys, "--from", "2026-10-24", "--to", "2026-10-27", *LONDON, "--every", "week")
    assert [tuple(r["key"].values()) for r in weeks["rows"]] == [
        ("2026-10-19", "49"),  # Saturday and the 25-hour Sunday
        ("2026-10-26", "24"),
    ]
    text = report(capsys, "--from", "2026-10-31", "--to", "2026-11-02", *LONDON, "--every", "month")
    lines = text.splitlines()
    assert lines[0].endswith(
        "by month: 2026-10-31T00:00:00+00:00 to 2026-11-02T00:00:00+00:00 Europe/London (2d)"
    )
    table = [line.split()[:2] for line in lines if line[:4] in ("mont", "2026", "tota")]
    assert table[:3] == [["month", "hours"], ["2026-10", "24"], ["2026-11", "24"]]


def test_csv_carries_one_line_per_period(capsys):
    text = report(
        capsys, "--from", "2026-10-25", "--to", "2026-10-27", *LONDON, "--every", "day",
        "--format", "csv",
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["day"], r["hours"]) for r in rows] == [("2026-10-25", "25"), ("2026-10-26", "24")]
    assert all(float(r["emissions_grams"]) > 0 for r in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tz", "Mars/Olympus"], "argument --tz: no time zone 'Mars/Olympus'"),
        (["--every", "fortnight"], "argument --every: invalid choice"),
    ],
)
def test_a_bad_zone_or_period_is_a_usage_error_naming_the_flag(capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["--demo", "report", "--from", "2026-01-01", "--to", "2026-01-02", *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--every", "day", "--by", "user"], "--every and --by: give one"),
        (["--source", "exporter"], "--source exporter: the demo has no Prometheus"),
    ],
)
def test_what_the_demo_cannot_do_is_refused_not_done_otherwise(capsys, args, message):
    assert main(["--demo", "report", "--from", "2026-01-01", "--to", "2026-01-02", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
