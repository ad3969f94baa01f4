"""Grid carbon intensity, worked out from the source's slots. No I/O.

The fallback chain, as the README documents it: the slots the source returned (or,
when it is down, the slots it still has cached); for a half hour of the window no
slot covers, the last good value before it: the nearest earlier slot, else the last
value seen at an earlier refresh; before any value has been seen, the configured
default. A slot after a gap never fills it. The choice is reported on /metrics, and
logged when it changes, not at every scrape. The age of the value in use is 0 while a
slot covers the window's end; else the time since the end of the slot the last good
value came from; +Inf while the configured default is in use.

The outlook: the 48 h forecast from the half hour in progress, and its greenest
windows: the contiguous block of half-hour slots with the lowest mean forecast,
searched over the next 24 h, and again over the working hours (UK local time) within
them. A scope where no full block fits (the forecast stopped early, or has gaps) has
no window.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from typing import Protocol
from zoneinfo import ZoneInfo

from exporter.model import (
    GreenWindow,
    IntensityReading,
    IntensitySlot,
    MeanIntensity,
    Outlook,
)
from exporter.pricing import mean_intensity
from exporter.sources import IntensitySource

log = logging.getLogger("exporter.intensity")
SLOT_SECONDS = 1800  # the API's half-hour settlement periods
FORECAST_SECONDS = 48 * 3600
HORIZON_SECONDS = 24 * 3600
UK = ZoneInfo("Europe/London")
INTENSITY_SOURCES = ("api", "cache", "last_good", "default", "fixed", "demo")
# The API's index levels, and the bands the Ada documentation uses when there is none.
INDEX_LEVELS = ("very low", "low", "moderate", "high", "very high")
_BAND_TOPS = ((50.0, "very low"), (100.0, "low"), (200.0, "moderate"), (300.0, "high"))
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def slot_starts(start: datetime, end: datetime) -> list[int]:
    """The starts of the half hours overlapping [start, end], oldest first.

    A slot covers [from, to), so an ``end`` on a boundary takes in the slot starting
    there: a moving window then asks for the new current slot with the old one.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("pass timezone-aware datetimes; naive ones are ambiguous")
    lo_ts, hi_ts = start.timestamp(), end.timestamp()
    if hi_ts < lo_ts:
        return []
    lo = math.floor(lo_ts / SLOT_SECONDS) * SLOT_SECONDS
    hi = math.floor(hi_ts / SLOT_SECONDS) * SLOT_SECONDS + SLOT_SECONDS
    return list(range(lo, hi, SLOT_SECONDS))


def index_for(gco2_per_kwh: float, api_index: str = "") -> str:
    """The intensity index: the API's own when it gave a known one, else the band of the value."""
    level = api_index.strip().lower()
    if level in INDEX_LEVELS:
        return level
    return next((name for top, name in _BAND_TOPS if gco2_per_kwh < top), "very high")


# --- the fallback chain ---


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


class _Defaults(Protocol):
    """What IntensityState reads of config.IntensityConfig (not imported: config imports here)."""

    @property
    def default_gco2_per_kwh(self) -> float: ...


class IntensityState:
    """Remembers the last good value between refreshes and notices changes of source.

    One refresh runs at a time (concurrent scrapes share it), so this needs no lock.
    """

    def __init__(self, config: _Defaults, live_label: str = "api") -> None:
        self._default = config.default_gco2_per_kwh
        self._live = live_label
        self._last_good: IntensitySlot | None = None  # the latest slot seen by any refresh
        self._last_source = ""

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
        earlier = self._fill()
        if slots:
            self._last_good = max(slots, key=lambda s: s.start)
        fill = self._fill()
        priced = sorted([*slots, *fill_gaps(slots, t0, t1, earlier)], key=lambda s: s.start)
        # Covered and actual ratios are of the source's own slots, not the filled ones.
        mean = replace(
            mean_intensity(slots, t0, t1, fill),
            gco2_per_kwh=mean_intensity(priced, t0, t1, fill).gco2_per_kwh,
        )
        source = self._source(mean, up)
        # The slot containing the end; on a boundary, the one just ended will do.
        at_end = next((s for s in reversed(slots) if s.start <= t1 <= s.end), None)
        if at_end is not None:
            current, age = at_end.gco2_per_kwh, 0.0
            index = index_for(current, at_end.index)
        else:
            last_end = self._last_good.end if self._last_good is not None else -math.inf
            current, age = fill, max(0.0, t1 - last_end)
            index = index_for(current)
        return IntensityReading(
            adapter.region, tuple(priced), fill, current, mean, source, index, age
        )

    def _fill(self) -> float:
        return self._last_good.gco2_per_kwh if self._last_good is not None else self._default

    def _source(self, mean: MeanIntensity, up: bool) -> str:
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
        return source


# --- the outlook ---


@dataclass(frozen=True)
class WorkingHours:
    """Daily working hours in UK local time, as minutes since local midnight: [start, end)."""

    start_minute: int = 8 * 60
    end_minute: int = 17 * 60

    def contains(self, start: float, end: float) -> bool:
        """True when the interval [start, end) (unix seconds) lies within one day's hours.

        Judged by the UK time of its start and its length, not by the wall clock at its
        end, which a clock change moves: 2026-10-25 00:30-01:00Z is 01:30-02:00 BST.
        """
        local = datetime.fromtimestamp(start, UK)
        first = local.hour * 60 + local.minute + local.second / 60
        return self.start_minute <= first and first + (end - start) / 60 <= self.end_minute


def parse_working_hours(text: object) -> WorkingHours:
    """WorkingHours from ``"HH:MM-HH:MM"`` (end may be 24:00); raises ValueError."""
    m = _HOURS.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f'expected "HH:MM-HH:MM" such as "08:00-17:00", got {text!r}')
    h0, m0, h1, m1 = (int(g) for g in m.groups())
    start, end = h0 * 60 + m0, h1 * 60 + m1
    if h0 > 23 or max(m0, m1) > 59 or end > 24 * 60:
        raise ValueError(f"not a time of day in {text!r}")
    if start >= end:
        raise ValueError(f"the start must be before the end, got {text!r}")
    return WorkingHours(start, end)


def greenest_window(
    slots: Sequence[IntensitySlot],
    earliest: float,
    latest: float,
    block_seconds: float,
) -> tuple[float, float] | None:
    """(start, mean) of the lowest-mean contiguous block inside [earliest, latest), or None.

    A block may not span a gap. Ties go to the earliest block. None when no full block fits.
    """
    n = max(1, round(block_seconds / SLOT_SECONDS))
    usable = sorted(
        (s for s in slots if earliest <= s.start and s.end <= latest), key=lambda s: s.start
    )
    blocks = [usable[i : i + n] for i in range(len(usable) - n + 1)]
    means = [
        (block[0].start, sum(s.gco2_per_kwh for s in block) / n)
        for block in blocks
        if all(a.end == b.start for a, b in pairwise(block))
    ]
    return min(means, key=lambda found: found[1], default=None)  # the first of equals


def outlook(
    forecast: Sequence[IntensitySlot], at: float, block_seconds: float, hours: WorkingHours
) -> Outlook:
    """Forecast points and greenest windows as seen from the half hour containing ``at``."""
    now_slot = at // SLOT_SECONDS * SLOT_SECONDS
    ahead = [s for s in forecast if now_slot <= s.start < now_slot + FORECAST_SECONDS]
    points = tuple(((s.start - now_slot) / 3600, s.gco2_per_kwh) for s in ahead)
    horizon = now_slot + HORIZON_SECONDS
    working = [s for s in ahead if hours.contains(s.start, s.end)]
    found = []
    for scope, usable in (("next_24h", ahead), ("working_hours", working)):
        best = greenest_window(usable, now_slot, horizon, block_seconds)
        if best is not None:
            found.append(GreenWindow(scope, *best))
    return Outlook(points, tuple(found))
