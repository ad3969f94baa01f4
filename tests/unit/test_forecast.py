"""Forecast maths with literals: index bands, working hours in UK time, the greenest window."""

from __future__ import annotations

from datetime import datetime

import pytest

from exporter.grid import (
    GreenWindow,
    WorkingHours,
    greenest_window,
    index_for,
    outlook,
    parse_working_hours,
)
from exporter.model import IntensitySlot

HALF_HOUR = 1800


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run(first: str, values: list[float]) -> list[IntensitySlot]:
    """Contiguous forecast slots from ``first``, one per value."""
    t0 = ts(first)
    return [
        IntensitySlot(t0 + i * HALF_HOUR, t0 + (i + 1) * HALF_HOUR, v, actual=False)
        for i, v in enumerate(values)
    ]


# --- index ---


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (0, "very low"),
        (49.9, "very low"),
        (50, "low"),
        (99.9, "low"),
        (100, "moderate"),
        (199, "moderate"),
        (200, "high"),
        (299.9, "high"),
        (300, "very high"),
        (900, "very high"),
    ],
)
def test_index_bands_of_the_ada_documentation(value: float, level: str) -> None:
    assert index_for(value) == level


def test_the_api_index_wins_over_the_band_and_unknown_ones_fall_back() -> None:
    assert index_for(40, "high") == "high"
    assert index_for(40, " Very Low ") == "very low"
    assert index_for(240, "extreme") == "high"
    assert index_for(240, "") == "high"


# --- working hours, Europe/London ---


def test_working_hours_are_uk_local_time_in_summer_bst() -> None:
    hours = WorkingHours()  # 08:00-17:00 local; BST is UTC+1
    assert hours.contains(ts("2026-06-15T07:00Z"), ts("2026-06-15T07:30Z"))  # 08:00 BST
    assert not hours.contains(ts("2026-06-15T06:30Z"), ts("2026-06-15T07:00Z"))
    assert hours.contains(ts("2026-06-15T15:30Z"), ts("2026-06-15T16:00Z"))  # ends 17:00 BST
    assert not hours.contains(ts("2026-06-15T16:00Z"), ts("2026-06-15T16:30Z"))


def test_working_hours_are_uk_local_time_in_winter_gmt() -> None:
    hours = WorkingHours()
    assert not hours.contains(ts("2026-01-15T07:30Z"), ts("2026-01-15T08:00Z"))
    assert hours.contains(ts("2026-01-15T08:00Z"), ts("2026-01-15T08:30Z"))
    assert hours.contains(ts("2026-01-15T16:30Z"), ts("2026-01-15T17:00Z"))
    assert not hours.contains(ts("2026-01-15T17:00Z"), ts("2026-01-15T17:30Z"))


def test_working_hours_on_the_day_the_clocks_go_forward() -> None:
    hours = WorkingHours()  # 2026-03-29 01:00 UTC: GMT becomes BST
    assert hours.contains(ts("2026-03-29T07:00Z"), ts("2026-03-29T07:30Z"))
    assert not hours.contains(ts("2026-03-29T16:00Z"), ts("2026-03-29T16:30Z"))


def test_custom_hours_judge_a_slot_by_its_uk_start_across_both_clock_changes() -> None:
    """Each slot is [start, start + 30 min) in UK time; the wall clock at its end is not."""
    # 2026-10-25 01:00Z: BST ends, so 00:30-01:00Z is 01:30-02:00 BST, after 01:00.
    assert not parse_working_hours("00:30-01:00").contains(
        ts("2026-10-25T00:30Z"), ts("2026-10-25T01:00Z")
    )
    assert parse_working_hours("01:30-02:00").contains(
        ts("2026-10-25T00:30Z"), ts("2026-10-25T01:00Z")
    )
    # Then 01:00-01:30Z is 01:00-01:30 GMT.
    assert parse_working_hours("00:30-01:30").contains(
        ts("2026-10-25T01:00Z"), ts("2026-10-25T01:30Z")
    )
    # 2026-03-29 01:00Z: BST starts, so 00:30-01:00Z is 00:30-01:00 GMT, not to 02:00.
    assert parse_working_hours("00:00-01:30").contains(
        ts("2026-03-29T00:30Z"), ts("2026-03-29T01:00Z")
    )
    assert not parse_working_hours("00:00-01:30").contains(
        ts("2026-03-29T01:00Z"),
        ts("2026-03-29T01:30Z"),  # 02:00-02:30 BST
    )
    # The default 08:00-17:00 is unaffected on either day.
    for day, offset in (("2026-03-29", 1), ("2026-10-25", 0)):
        first, last = f"{day}T{8 - offset:02d}:00Z", f"{day}T{16 - offset:02d}:30Z"
        assert WorkingHours().contains(ts(first), ts(first) + HALF_HOUR)
        assert WorkingHours().contains(ts(last), ts(last) + HALF_HOUR)
        assert not WorkingHours().contains(ts(last) + HALF_HOUR, ts(last) + 2 * HALF_HOUR)
        assert not WorkingHours().contains(ts(first) - HALF_HOUR, ts(first))


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("08:00-17:00", (480, 1020)), ("7:30-16:00", (450, 960)), ("00:00-24:00", (0, 1440))],
)
def test_working_hours_are_parsed(text: str, minutes: tuple[int, int]) -> None:
    assert parse_working_hours(text) == WorkingHours(*minutes)


@pytest.mark.parametrize("text", ["8-17", "17:00-08:00", "08:00-08:00", "25:00-26:00", 8, None])
def test_bad_working_hours_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_working_hours(text)


def test_whole_day_working_hours_allow_a_block_across_midnight() -> None:
    hours = parse_working_hours("00:00-24:00")
    assert hours.contains(ts("2026-01-15T23:30Z"), ts("2026-01-16T00:00Z"))


# --- greenest window ---


def test_greenest_block_is_the_lowest_mean_run() -> None:
    slots = run("2026-01-15T00:00Z", [300, 200, 100, 120, 90, 300, 80, 400])
    # 1.5 h blocks: [100, 120, 90] has mean 103.3; [90, 300, 80] has 156.7
    start, mean = greenest_window(slots, ts("2026-01-15T00:00Z"), ts("2026-01-16T00:00Z"), 5400)
    assert start == ts("2026-01-15T01:00Z")
    assert mean == pytest.approx(310 / 3)


def test_greenest_block_ties_go_to_the_earliest() -> None:
    slots = run("2026-01-15T00:00Z", [100, 100, 200, 100, 100])
    best = greenest_window(slots, ts("2026-01-15T00:00Z"), ts("2026-01-16T00:00Z"), 3600)
    assert best == (ts("2026-01-15T00:00Z"), 100.0)


def test_greenest_block_never_spans_a_gap() -> None:
    # 01:00 (20) and 02:00 (10) would make the best hour, but 01:30 is missing.
    slots = run("2026-01-15T00:00Z", [300, 300, 20]) + run("2026-01-15T02:00Z", [10, 300])
    best = greenest_window(slots, ts("2026-01-15T00:00Z"), ts("2026-01-16T00:00Z"), 3600)
    assert best == (ts("2026-01-15T02:00Z"), 155.0)


def test_no_block_when_the_forecast_stops_early() -> None:
    slots = run("2026-01-15T00:00Z", [100] * 5)  # 2.5 h of forecast, a 3 h block
    assert greenest_window(slots, ts("2026-01-15T00:00Z"), ts("2026-01-16T00:00Z"), 10800) is None


def test_blocks_must_end_within_the_horizon() -> None:
    slots = run("2026-01-15T00:00Z", [300, 300, 300, 10, 10])
    best = greenest_window(slots, ts("2026-01-15T00:00Z"), ts("2026-01-15T02:00Z"), 3600)
    assert best == (ts("2026-01-15T01:00Z"), 155.0)  # not 02:00, whose block ends past 02:00


# --- outlook: the two scopes from one forecast ---


def test_forecast_points_count_hours_ahead_from_the_half_hour_in_progress() -> None:
    slots = run("2026-01-15T11:30Z", [1, 2, 3] + [4] * 100)
    points = outlook(slots, ts("2026-01-15T12:10Z"), 10800, WorkingHours()).points
    assert points[:3] == ((0.0, 2.0), (0.5, 3.0), (1.0, 4.0))
    assert len(points) == 96 and points[-1][0] == 47.5  # the slot before 12:00 and after 48 h go


def test_greenest_windows_on_a_winter_gmt_day() -> None:
    # From 00:00Z: 200 everywhere except a dip from 06:00Z to 09:00Z.
    values = [200.0] * 48
    values[12:18] = [50.0] * 6
    view = outlook(run("2026-01-15T00:00Z", values), ts("2026-01-15T00:00Z"), 10800, WorkingHours())
    assert view.greenest == (
        GreenWindow("next_24h", ts("2026-01-15T06:00Z"), 50.0),
        # 08:00 GMT is 08:00Z: only the dip's last hour is in working hours
        GreenWindow("working_hours", ts("2026-01-15T08:00Z"), (2 * 50 + 4 * 200) / 6),
    )


def test_greenest_windows_on_a_summer_bst_day() -> None:
    values = [200.0] * 48
    values[12:18] = [50.0] * 6
    view = outlook(run("2026-06-15T00:00Z", values), ts("2026-06-15T00:00Z"), 10800, WorkingHours())
    assert view.greenest == (
        GreenWindow("next_24h", ts("2026-06-15T06:00Z"), 50.0),
        # 08:00 BST is 07:00Z: two hours of the dip fall in working hours
        GreenWindow("working_hours", ts("2026-06-15T07:00Z"), (4 * 50 + 2 * 200) / 6),
    )


def test_a_scope_with_no_full_block_is_left_out() -> None:
    # At 18:00Z in winter, six hours of forecast hold no working hours at all.
    view = outlook(
        run("2026-01-15T18:00Z", [120] * 12), ts("2026-01-15T18:05Z"), 10800, WorkingHours()
    )
    assert [w.scope for w in view.greenest] == ["next_24h"]
    assert outlook([], ts("2026-01-15T18:05Z"), 10800, WorkingHours()).greenest == ()


def test_the_next_24h_scope_ignores_the_second_day_of_the_forecast() -> None:
    values = [200.0] * 96
    values[60:66] = [10.0] * 6  # 30 h ahead: beyond the 24 h horizon
    view = outlook(run("2026-01-15T00:00Z", values), ts("2026-01-15T00:00Z"), 10800, WorkingHours())
    assert {w.scope: w.gco2_per_kwh for w in view.greenest} == {
        "next_24h": 200.0,
        "working_hours": 200.0,
    }
