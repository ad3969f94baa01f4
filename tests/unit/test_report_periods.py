"""The period rule and a zone's calendar, with literals: what a period counts, days of 23
and 25 hours, weeks from Monday, months, and times read in --tz."""

from datetime import datetime, timezone

import pytest

from exporter.commands import CommandError, parse_time, window_ends, zone
from exporter.commands.report.compute import Interval
from exporter.commands.report.periods import by_period, calendar, counted, period
from exporter.model import Usage

H = 3600.0
LONDON = zone("Europe/London")


def utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=timezone.utc).timestamp()


def hours(spans):
    return {label: (b - a) / H for label, a, b in spans}


def test_a_period_counts_the_windows_ending_in_it_and_says_which_time_they_cover():
    assert counted(utc(2026, 1, 31, 10, 59), utc(2026, 1, 31, 11, 1), H) == (
        utc(2026, 1, 31, 10),
        utc(2026, 1, 31, 11),
    )
    assert counted(utc(2026, 1, 31, 10), utc(2026, 1, 31, 14), H) == (
        utc(2026, 1, 31, 10),
        utc(2026, 1, 31, 14),
    )
    with pytest.raises(CommandError, match="no window ends in this period") as error:
        counted(utc(2026, 1, 31, 11), utc(2026, 1, 31, 11, 59, 59), H)
    assert error.value.code == 2


def test_london_days_of_the_2026_clock_changes_have_23_and_25_hours():
    march = calendar(utc(2026, 3, 28), utc(2026, 3, 31), LONDON, "day")
    # 2026-03-31 00:00 BST is 2026-03-30T23:00Z: the period ends an hour into that day.
    assert hours(march) == {"2026-03-28": 24, "2026-03-29": 23, "2026-03-30": 24, "2026-03-31": 1}
    october = calendar(utc(2026, 9, 30, 23), utc(2026, 11, 1), LONDON, "day")
    assert len(october) == 31
    assert hours(october)["2026-10-25"] == 25
    assert sum(hours(october).values()) == 31 * 24 + 1


def test_weeks_start_on_monday_and_months_on_the_first_both_cut_to_the_period():
    weeks = calendar(utc(2026, 9, 30, 23), utc(2026, 11, 1), LONDON, "week")
    assert [label for label, _, _ in weeks] == [
        "2026-09-28",
        "2026-10-05",
        "2026-10-12",
        "2026-10-19",
        "2026-10-26",
    ]
    assert hours(weeks)["2026-10-19"] == 7 * 24 + 1
    months = calendar(utc(2026, 12, 15), utc(2027, 2, 1), timezone.utc, "month")
    assert hours(months) == {"2026-12": 17 * 24, "2027-01": 31 * 24}


def test_each_interval_counts_in_the_period_its_last_window_ends_in():
    spans = calendar(utc(2026, 10, 24, 23), utc(2026, 10, 27), LONDON, "day")
    ends = window_ends(spans[0][1], spans[-1][2], H)
    intervals = [Interval(t - H, t, {("p", "m", "f", "u"): Usage(busy_grams=1.0)}) for t in ends]
    rows = by_period(intervals, spans, H)
    assert {k: u.busy_grams for k, u in rows.items()} == {
        ("2026-10-25", "25"): 25.0,
        ("2026-10-26", "24"): 24.0,
    }


def test_bare_dates_are_midnight_in_the_zone_given():
    assert period("2026-06-01", "2026-06-02", LONDON) == (utc(2026, 5, 31, 23), utc(2026, 6, 1, 23))
    assert parse_time("2026-10-25", LONDON).timestamp() == utc(2026, 10, 24, 23)
    assert parse_time("2026-10-26", LONDON).timestamp() == utc(2026, 10, 26)
    assert parse_time("2026-06-01").timestamp() == utc(2026, 6, 1)
    # A time with its offset is that instant, whatever the zone.
    assert parse_time("2026-06-01T12:00:00Z", LONDON).timestamp() == utc(2026, 6, 1, 12)


@pytest.mark.parametrize("text", ["20260329", "0", "86400", "946684799", "1e12", "-5", "inf"])
def test_a_number_that_is_no_plausible_unix_time_is_refused(text):
    with pytest.raises(ValueError, match="not a plausible time: as unix seconds"):
        parse_time(text)


def test_the_refusal_of_a_digit_only_date_shows_both_readings():
    with pytest.raises(ValueError) as error:
        parse_time("20260329")
    assert "as unix seconds it is 1970-08-23T11:52:09Z" in str(error.value)
    assert "as a date, give 2026-03-29" in str(error.value)
    assert parse_time("946684800").timestamp() == utc(2000, 1, 1)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "Europe/"])
def test_an_unknown_zone_is_refused_for_people(name):
    with pytest.raises(ValueError, match="no time zone"):
        zone(name)
