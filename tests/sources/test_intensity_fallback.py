"""Which intensity a refresh uses for the half hours no slot covers: pure, with literals."""

from __future__ import annotations

from datetime import datetime, timezone

from exporter.config import IntensityConfig
from exporter.grid import IntensityState, fill_gaps
from exporter.model import IntensitySlot
from exporter.sources.carbon_intensity.fixed import FixedIntensity

T = 1_769_860_800.0  # 2026-01-31T12:00Z, on a half-hour boundary
HALF = 1800.0


def slot(start: float, value: float, actual: bool = True) -> IntensitySlot:
    return IntensitySlot(start, start + HALF, value, actual)


def dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


def test_a_gap_takes_the_nearest_earlier_slot_never_a_later_one() -> None:
    slots = [slot(T, 100), slot(T + 2 * HALF, 500, actual=False)]
    assert fill_gaps(slots, T, T + 2 * HALF, fill=200) == [
        IntensitySlot(T + HALF, T + 2 * HALF, 100.0, actual=False)
    ]


def test_a_gap_before_every_slot_takes_fill_and_a_slot_before_the_interval_counts() -> None:
    assert fill_gaps([slot(T + HALF, 300)], T + 600, T + 2 * HALF, fill=200) == [
        IntensitySlot(T, T + HALF, 200.0, actual=False)
    ]
    assert fill_gaps([slot(T - HALF, 90)], T, T + 2 * HALF, fill=200) == [
        IntensitySlot(T, T + HALF, 90.0, actual=False),
        IntensitySlot(T + HALF, T + 2 * HALF, 90.0, actual=False),
    ]


def test_no_gap_no_filler() -> None:
    assert fill_gaps([slot(T, 1), slot(T + HALF, 2)], T + 60, T + 2 * HALF, fill=200) == []


def test_the_window_mean_ignores_the_slot_starting_at_its_end() -> None:
    state = IntensityState(IntensityConfig(default_gco2_per_kwh=200.0))
    slots = [slot(T, 100), slot(T + 2 * HALF, 500, actual=False)]
    reading = state.read(slots, FixedIntensity(0), dt(T), dt(T + 2 * HALF), up=True)
    assert reading.window_mean.gco2_per_kwh == 100
    assert reading.window_mean.covered_ratio == 0.5  # of the source's own slots
    assert (reading.source, reading.current) == ("last_good", 500)


def test_a_gap_with_no_earlier_slot_takes_the_last_good_value_of_an_earlier_refresh() -> None:
    state = IntensityState(IntensityConfig(default_gco2_per_kwh=200.0))
    first = state.read([slot(T + HALF, 500)], FixedIntensity(0), dt(T), dt(T + 2 * HALF), True)
    assert first.window_mean.gco2_per_kwh == (200 + 500) / 2  # nothing earlier: the default
    later = (dt(T + 2 * HALF), dt(T + 4 * HALF))
    second = state.read([slot(T + 3 * HALF, 300)], FixedIntensity(0), *later, up=True)
    assert second.window_mean.gco2_per_kwh == (500 + 300) / 2  # 500 was seen before the gap
