"""A constant grid intensity, for sites without internet access and for demos."""

from __future__ import annotations

import math
from datetime import datetime

from exporter.grid import SLOT_SECONDS, slot_starts
from exporter.model import IntensitySlot


class FixedIntensity:
    """A constant intensity: an IntensitySource with no I/O and no forecast."""

    def __init__(self, gco2_per_kwh: float) -> None:
        if not math.isfinite(gco2_per_kwh) or gco2_per_kwh < 0:
            raise ValueError(f"fixed intensity must be finite and >= 0, got {gco2_per_kwh}")
        self.region = "GB"
        self.requests = 0
        self._value = float(gco2_per_kwh)

    def slots(self, start: datetime, end: datetime) -> list[IntensitySlot]:
        """One slot of the configured value for every half hour overlapping [start, end]."""
        return [
            IntensitySlot(float(s), float(s + SLOT_SECONDS), self._value, actual=True)
            for s in slot_starts(start, end)
        ]

    def cached(self, start: datetime, end: datetime) -> list[IntensitySlot]:
        """The same as slots(): nothing is ever fetched."""
        return self.slots(start, end)

    def forecast(self, at: datetime, window_start: datetime | None = None) -> list[IntensitySlot]:
        """No forecast: a fixed value says nothing about what the grid will do."""
        return []

    def cached_forecast(self, at: datetime) -> list[IntensitySlot]:
        """No forecast, as for :meth:`forecast`."""
        return []
