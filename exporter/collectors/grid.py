"""The grid's carbon intensity: now, over the window, its source, and the forecast ahead.

Exposition produced (abridged)::

    # HELP ada_carbon_grid_intensity_gco2_per_kwh Grid carbon intensity of the half hour ...
    # TYPE ada_carbon_grid_intensity_gco2_per_kwh gauge
    ada_carbon_grid_intensity_gco2_per_kwh{region="GB"} 142.0
    ada_carbon_grid_intensity_source{region="GB",source="api"} 1.0
    ada_carbon_grid_intensity_forecast_gco2_per_kwh{hours_ahead="0.5",region="GB"} 139.0
"""

from __future__ import annotations

from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily

from exporter.collectors.base import WINDOW, AreaCollector, FamilySpec
from exporter.grid import INDEX_LEVELS, INTENSITY_SOURCES
from exporter.model import Snapshot


class GridCollector(AreaCollector):
    """Grid intensity of the window's end and over the window, the forecast, greenest windows."""

    specs: ClassVar[dict[str, FamilySpec]] = {
        "intensity": FamilySpec(
            "ada_carbon_grid_intensity_gco2_per_kwh",
            "Grid carbon intensity of the half hour containing the window's end, gCO2/kWh "
            "(Carbon Intensity API, NESO: actual, else forecast; regional data is forecast "
            "only).",
            ("region",),
        ),
        "intensity_mean": FamilySpec(
            "ada_carbon_grid_intensity_window_mean_gco2_per_kwh",
            f"Time-weighted mean grid carbon intensity {WINDOW}, gCO2/kWh.",
            ("region",),
        ),
        "intensity_source": FamilySpec(
            "ada_carbon_grid_intensity_source",
            "Where the grid intensity in use came from: 1 for the source in use (api, cache, "
            "last_good, default, fixed, demo), 0 for the others.",
            ("region", "source"),
        ),
        "intensity_index": FamilySpec(
            "ada_carbon_grid_intensity_index",
            "Index of the grid intensity of the half hour containing the window's end: 1 for "
            "its level (the API's index, else bands <50 very low, <100 low, <200 moderate, "
            "<300 high), 0 for the others.",
            ("region", "index"),
        ),
        "intensity_age": FamilySpec(
            "ada_carbon_grid_intensity_age_seconds",
            "How old the grid intensity in use is at the window's end: 0 while a half-hour "
            "slot covers it, else the time since the slot of the last good value, +Inf on the "
            "default.",
            ("region",),
        ),
        "intensity_actual": FamilySpec(
            "ada_carbon_grid_intensity_actual_ratio",
            "Share of the window priced with measured (actual) intensity rather than forecast "
            "or fallback values, 0-1 (always 0 for a region: regional data is forecast only).",
            ("region",),
        ),
        "forecast": FamilySpec(
            "ada_carbon_grid_intensity_forecast_gco2_per_kwh",
            "Forecast grid carbon intensity, gCO2/kWh, of the half hour starting hours_ahead "
            "hours after the start of the one containing the window's end (0, 0.5, ... 47.5), "
            "from the Carbon Intensity API's 48 h forecast, refreshed once per half hour.",
            ("region", "hours_ahead"),
        ),
        "greenest_start": FamilySpec(
            "ada_carbon_greenest_window_start_timestamp_seconds",
            "Unix time at which the lowest-carbon block of carbon_intensity.greenest_window "
            'starts, by forecast, within the next 24 h (scope="next_24h") or the working hours '
            'in them (scope="working_hours"); absent when the forecast is too short to fit one.',
            ("region", "scope"),
        ),
        "greenest_mean": FamilySpec(
            "ada_carbon_greenest_window_mean_gco2_per_kwh",
            "Mean forecast grid carbon intensity, gCO2/kWh, of the block "
            "ada_carbon_greenest_window_start_timestamp_seconds points at.",
            ("region", "scope"),
        ),
    }

    def fill(self, families: dict[str, GaugeMetricFamily], snap: Snapshot | None) -> None:
        if snap is None:
            return
        f, r = families, snap.intensity
        f["intensity"].add_metric([r.region], r.current)
        f["intensity_mean"].add_metric([r.region], r.window_mean.gco2_per_kwh)
        for s in INTENSITY_SOURCES:
            f["intensity_source"].add_metric([r.region, s], 1.0 if s == r.source else 0.0)
        for level in INDEX_LEVELS:
            f["intensity_index"].add_metric([r.region, level], 1.0 if level == r.index else 0.0)
        f["intensity_age"].add_metric([r.region], r.age_seconds)
        f["intensity_actual"].add_metric([r.region], r.window_mean.actual_ratio)
        for hours_ahead, gco2 in snap.outlook.points:
            f["forecast"].add_metric([r.region, f"{hours_ahead:g}"], gco2)
        for green in snap.outlook.greenest:
            f["greenest_start"].add_metric([r.region, green.scope], green.start)
            f["greenest_mean"].add_metric([r.region, green.scope], green.gco2_per_kwh)
