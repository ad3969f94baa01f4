"""CPU-seconds to energy, energy to carbon: the maths, with no I/O.

Energy (J) = (busy W/core x busy CPU-s + idle W/core x idle CPU-s) x PUE.
Carbon (gCO2eq) = energy (kWh) x grid intensity (gCO2/kWh), the intensity
being the time-weighted mean of the half-hour slots the usage falls in.

:func:`price` is the one pricing rule: the refresh, ``calculate``, ``report``
and ``backfill`` all price CPU-seconds with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from exporter.model import UNKNOWN_FACILITY, GroupKey, IntensitySlot, MeanIntensity, Usage

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


def price(
    busy_seconds: float, idle_seconds: float, power: PowerModel, gco2_per_kwh: float
) -> Usage:
    """Busy and idle CPU-seconds with their energy and emissions at ``gco2_per_kwh``."""
    busy_j, idle_j = power.joules(busy_seconds, idle_seconds)
    return Usage(
        busy_seconds,
        idle_seconds,
        busy_j,
        idle_j,
        grams(busy_j, gco2_per_kwh),
        grams(idle_j, gco2_per_kwh),
    )


def price_shares(
    shares: Iterable[tuple[str, str, str, float, float, float, float]],
    power_for: Callable[[str], PowerModel],
    facilities: Mapping[str, str],
    gco2_per_kwh: Callable[[float, float], float],
) -> dict[GroupKey, Usage]:
    """Usage per (project, machine, facility, user) of attributed shares, each priced at the
    mean intensity of its own span.

    A share is (project, machine, user, start, end, busy CPU-s, idle CPU-s). The shares
    of one group, user and span are added up first and priced once: most hosts have one
    owner all window, so a fleet is priced in a few hundred calls, not one per host.
    """
    cpu: dict[tuple[str, str, str, float, float], list[float]] = {}
    for project, machine, user, start, end, busy, idle in shares:
        row = cpu.setdefault((project, machine, user, start, end), [0.0, 0.0])
        row[0] += busy
        row[1] += idle
    means: dict[tuple[float, float], float] = {}
    out: dict[GroupKey, Usage] = {}
    for (project, machine, user, start, end), (busy, idle) in cpu.items():
        if (start, end) not in means:
            means[start, end] = gco2_per_kwh(start, end)
        usage = price(busy, idle, power_for(machine), means[start, end])
        key = (project, machine, facilities.get(project, UNKNOWN_FACILITY), user)
        was = out.get(key)
        out[key] = (
            usage if was is None else Usage(*(a + b for a, b in zip(was, usage, strict=True)))
        )
    return out
