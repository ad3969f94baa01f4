"""Decide which grid intensity a refresh uses: live, cached, last good, or default.

The chain is the one the README documents: the slots the source returned
(or, when it is down, the slots it still has cached); for a half hour of the
window no slot covers, the last good value before it: the nearest earlier slot,
else the last value seen at an earlier refresh; before any value has been seen,
the configured default. A slot after a gap never fills it. The choice is
reported on /metrics, and logged when it changes, not at every scrape.

The age of the value in use is 0 while a slot covers the window's end; else
the time since the end of the slot the last good value came from; +Inf while
the configured default is in use (no value has ever been seen).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from exporter.config import IntensityConfig
from exporter.forecast import SLOT_SECONDS, index_for
from exporter.model import IntensityReading, IntensitySlot, IntensitySource
from exporter.pricing import mean_intensity

log = logging.getLogger("exporter.intensity")
INTENSITY_SOURCES = ("api", "cache", "last_good", "default", "fixed", "demo")


def fill_gaps(
    slots: Sequence[IntensitySlot], start: float, end: float, fill: float
) -> list[IntensitySlot]:
    """Forecast slots for the half hours of [start, end) that ``slots`` leave out, oldest first.

    Each takes the value of the nearest slot before it (the last good value known at
    that time), else ``fill``. A slot after a gap never fills it, so the slot starting
    exactly at ``end``, which does not overlap [start, end), cannot move its mean.
    """
    known = sorted(slots, key=lambda s: s.start)
    have = {s.start for s in known}
    filled: list[IntensitySlot] = []
    value, i = fill, 0
    t = math.floor(start / SLOT_SECONDS) * SLOT_SECONDS
    while t < end:
        while i < len(known) and known[i].start < t:
            value, i = known[i].gco2_per_kwh, i + 1
        if t not in have:
            filled.append(IntensitySlot(float(t), float(t + SLOT_SECONDS), value, actual=False))
        t += SLOT_SECONDS
    return filled


class IntensityState:
    """Remembers the last good value between refreshes and notices changes of source."""

    def __init__(self, config: IntensityConfig, live_label: str = "api") -> None:
        self._config = config
        self._live = live_label
        self._last_good: float | None = None
        self._last_good_end = -math.inf  # end of the slot ``_last_good`` came from
        self._last_source = ""
        self._lock = threading.Lock()

    def read(
        self,
        slots: list[IntensitySlot] | None,
        adapter: IntensitySource,
        start: datetime,
        end: datetime,
        up: bool,
    ) -> IntensityReading:
        """The reading for [start, end]: fresh ``slots``, or the cache when the source is down."""
        if slots is None:
            slots = adapter.cached(start, end)
        t0, t1 = start.timestamp(), end.timestamp()
        default = self._config.default_gco2_per_kwh
        with self._lock:
            earlier = self._last_good if self._last_good is not None else default
            if slots:
                latest = max(slots, key=lambda s: s.start)
                self._last_good, self._last_good_end = latest.gco2_per_kwh, latest.end
            fill = self._last_good if self._last_good is not None else default
            priced = sorted([*slots, *fill_gaps(slots, t0, t1, earlier)], key=lambda s: s.start)
            # Covered and actual ratios are of the source's own slots, not the filled ones.
            mean = replace(
                mean_intensity(slots, t0, t1, fill),
                gco2_per_kwh=mean_intensity(priced, t0, t1, fill).gco2_per_kwh,
            )
            last_good_end = self._last_good_end
            if self._live == "fixed":
                source = "fixed"
            elif mean.covered_ratio >= 0.999:
                source = self._live if up else "cache"
            else:
                source = "last_good" if self._last_good is not None else "default"
            if source != self._last_source:
                log.info(
                    "grid intensity now from %s (%.0f gCO2/kWh over the window)",
                    source,
                    mean.gco2_per_kwh,
                )
                self._last_source = source
        # The slot containing the end; on a boundary, the one just ended will do.
        at_end = next((s for s in reversed(slots) if s.start <= t1 <= s.end), None)
        if at_end is not None:
            current, age = at_end.gco2_per_kwh, 0.0
            index = index_for(current, at_end.index)
        else:
            current, age = fill, max(0.0, t1 - last_good_end)
            index = index_for(current)
        return IntensityReading(
            adapter.region, tuple(priced), fill, current, mean, source, index, age
        )
