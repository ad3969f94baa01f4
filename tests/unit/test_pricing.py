"""Energy and carbon maths, checked against the earlier service's worked examples."""

import pytest

from exporter.model import IntensitySlot
from exporter.pricing import PowerModel, grams, kwh, mean_intensity


def test_old_service_worked_example_energy():
    busy_j, idle_j = PowerModel(12.0, 1.0).joules(1000, 5000)
    assert kwh(busy_j) == pytest.approx(0.00333, abs=5e-6)
    assert kwh(idle_j) == pytest.approx(0.00139, abs=5e-6)
    assert kwh(busy_j + idle_j) == pytest.approx(0.00472, abs=5e-6)


def test_old_service_worked_example_carbon_at_185():
    busy_j, idle_j = PowerModel().joules(1000, 5000)
    assert grams(busy_j, 185) == pytest.approx(0.617, abs=5e-4)
    assert grams(idle_j, 185) == pytest.approx(0.257, abs=5e-4)
    assert grams(busy_j + idle_j, 185) == pytest.approx(0.874, abs=5e-4)


def test_half_hour_busy_and_idle_is_0_0065_kwh():
    assert kwh(sum(PowerModel().joules(1800, 1800))) == pytest.approx(0.0065)


def test_pue_scales_energy():
    assert PowerModel(12, 1, pue=1.5).joules(100, 100) == (1800.0, 150.0)


def slot(start, value, actual=True):
    return IntensitySlot(start, start + 1800, value, actual)


def test_mean_intensity_weights_slots_by_overlap():
    slots = [slot(0, 120), slot(1800, 250)]
    # 15 min of the first slot and 30 of the second
    m = mean_intensity(slots, 900, 3600, fill=999)
    assert m.gco2_per_kwh == pytest.approx((900 * 120 + 1800 * 250) / 2700)
    assert m.covered_ratio == 1.0


def test_mean_intensity_fills_gaps_with_fallback():
    m = mean_intensity([slot(0, 100)], 0, 3600, fill=200)
    assert m.gco2_per_kwh == pytest.approx(150)
    assert m.covered_ratio == pytest.approx(0.5)


def test_mean_intensity_counts_actual_share():
    m = mean_intensity([slot(0, 100, True), slot(1800, 100, False)], 0, 3600, fill=0)
    assert m.actual_ratio == pytest.approx(0.5)


def test_time_weighting_differs_from_current_value_on_a_swing():
    """The old service applied the current slot's value to the whole past hour."""
    slots = [slot(0, 120), slot(1800, 250)]
    joules = 3_600_000.0  # 1 kWh spread evenly over the hour
    weighted = grams(joules, mean_intensity(slots, 0, 3600, fill=0).gco2_per_kwh)
    current_only = grams(joules, 250)
    assert weighted == pytest.approx(185)
    assert current_only == pytest.approx(250)
