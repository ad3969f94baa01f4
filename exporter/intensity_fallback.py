"""Decide which grid intensity a refresh uses: live, cached, last good, or default.

The chain is the one the README documents: the slots the source returned
(or, when it is down, the slots it still has cached); for parts of the window
no slot covers, the last value seen from the source; before any value has
been seen, the configured default. The choice is reported on /metrics, and
logged when it changes, not at every scrape.

The age of the value in use is 0 while a slot covers the window's end; else
the time since the end of the slot the last good value came from; +Inf while
the configured default is in use (no value has ever been seen).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from datetime import datetime

from exporter.config import IntensityConfig
from exporter.energy import MeanIntensity, mean_intensity
from exporter.forecast import index_for
from exporter.model import IntensitySlot, IntensitySource

log = logging.getLogger("exporter.intensity")
INTENSITY_SOURCES = ("api", "cache", "last_good", "default", "fixed", "demo")


@dataclass(frozen=True)
class IntensityReading:
    """The intensity data one refresh uses, and where it came from."""

    region: str
    slots: tuple[IntensitySlot, ...]
    fill: float  # gCO2/kWh used wherever no slot covers the time
    current: float  # the slot containing the window's end, else ``fill``
    window_mean: MeanIntensity
    source: str  # one of INTENSITY_SOURCES
    index: str = ""  # of ``current``: the API's index level, else its band (forecast.INDEX_LEVELS)
    age_seconds: float = 0.0  # how old ``current`` is at the window's end (see module doc)


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
        with self._lock:
            if slots:
                latest = max(slots, key=lambda s: s.start)
                self._last_good, self._last_good_end = latest.gco2_per_kwh, latest.end
            fill = (
                self._last_good
                if self._last_good is not None
                else self._config.default_gco2_per_kwh
            )
            mean = mean_intensity(slots, t0, t1, fill)
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
            adapter.region, tuple(slots), fill, current, mean, source, index, age
        )
