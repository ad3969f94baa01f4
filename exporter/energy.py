"""CPU-seconds to energy, energy to carbon: the maths, with no I/O.

Energy (J) = (busy W/core x busy CPU-s + idle W/core x idle CPU-s) x PUE.
Carbon (gCO2eq) = energy (kWh) x grid intensity (gCO2/kWh), the intensity
being the time-weighted mean of the half-hour slots the usage falls in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exporter.model import IntensitySlot

JOULES_PER_KWH = 3_600_000.0


@dataclass(frozen=True)
class PowerModel:
    """Watts drawn per CPU core when busy and when idle, and the facility's PUE."""

    busy_watts_per_core: float = 12.0
    idle_watts_per_core: float = 1.0
    pue: float = 1.0

    def joules(self, busy_seconds: float, idle_seconds: float) -> tuple[float, float]:
        """Energy in joules of busy and idle CPU-seconds: (busy, idle)."""
        return (
            busy_seconds * self.busy_watts_per_core * self.pue,
            idle_seconds * self.idle_watts_per_core * self.pue,
        )


def kwh(joules: float) -> float:
    """Joules to kilowatt-hours."""
    return joules / JOULES_PER_KWH


def grams(joules: float, gco2_per_kwh: float) -> float:
    """Grams CO2-equivalent of ``joules`` of electricity at ``gco2_per_kwh``."""
    return kwh(joules) * gco2_per_kwh


@dataclass(frozen=True)
class MeanIntensity:
    """A time-weighted mean intensity, and how much of the interval real slots covered."""

    gco2_per_kwh: float
    covered_ratio: float  # 0..1; the rest was filled with the fallback value
    actual_ratio: float  # 0..1 of the interval covered by measured (not forecast) slots


def mean_intensity(
    slots: Sequence[IntensitySlot], start: float, end: float, fill: float
) -> MeanIntensity:
    """The mean intensity over [start, end), weighting each slot by its overlap.

    Slots are expected not to overlap (the adapters de-duplicate them). Parts of
    the interval no slot covers count at ``fill`` (the last good value or the
    configured default). An empty interval takes the value of the slot
    containing ``start``, else ``fill``.
    """
    width = end - start
    if width <= 0:
        at = [s.gco2_per_kwh for s in slots if s.start <= start < s.end]
        return MeanIntensity(at[0] if at else fill, 1.0 if at else 0.0, 0.0)
    value, covered, actual = _weighted(slots, start, end, fill)
    return MeanIntensity(value, min(covered, width) / width, min(actual, width) / width)


def mean_gco2_per_kwh(
    slots: Sequence[IntensitySlot], start: float, end: float, fill: float
) -> float:
    """:func:`mean_intensity`'s value alone: for the many spans of hosts split between owners."""
    if end - start <= 0:
        return mean_intensity(slots, start, end, fill).gco2_per_kwh
    return _weighted(slots, start, end, fill)[0]


def _weighted(
    slots: Sequence[IntensitySlot], start: float, end: float, fill: float
) -> tuple[float, float, float]:
    """(mean over [start, end) with ``fill`` where no slot is, seconds covered, of them actual)."""
    weighted = covered = actual = 0.0
    for s in slots:
        lo = s.start if s.start > start else start
        hi = s.end if s.end < end else end
        if hi > lo:
            weighted += (hi - lo) * s.gco2_per_kwh
            covered += hi - lo
            if s.actual:
                actual += hi - lo
    width = end - start
    return (weighted + max(0.0, width - covered) * fill) / max(width, covered), covered, actual
