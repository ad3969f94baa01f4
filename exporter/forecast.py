"""What the grid will do: forecast points, the greenest window, and index bands. No I/O.

The greenest window is the contiguous block of half-hour slots with the lowest
mean forecast intensity, searched over the next 24 h from the half hour in
progress, and again over the working hours (UK local time) within them. A scope
where no full block fits (the forecast stopped early, or has gaps) has no window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

from exporter.model import GreenWindow, IntensitySlot, Outlook

SLOT_SECONDS = 1800
FORECAST_SECONDS = 48 * 3600
HORIZON_SECONDS = 24 * 3600
UK = ZoneInfo("Europe/London")
# The API's index levels, and the bands the Ada documentation uses when there is none.
INDEX_LEVELS = ("very low", "low", "moderate", "high", "very high")
_BAND_TOPS = ((50.0, "very low"), (100.0, "low"), (200.0, "moderate"), (300.0, "high"))
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def index_for(gco2_per_kwh: float, api_index: str = "") -> str:
    """The intensity index: the API's own when it gave a known one, else the band of the value."""
    level = api_index.strip().lower()
    if level in INDEX_LEVELS:
        return level
    return next((name for top, name in _BAND_TOPS if gco2_per_kwh < top), "very high")


@dataclass(frozen=True)
class WorkingHours:
    """Daily working hours in UK local time, as minutes since local midnight: [start, end)."""

    start_minute: int = 8 * 60
    end_minute: int = 17 * 60

    def contains(self, start: float, end: float) -> bool:
        """True when the interval [start, end) (unix seconds) lies within one day's hours."""
        lo, hi = datetime.fromtimestamp(start, UK), datetime.fromtimestamp(end, UK)
        lo_min = lo.hour * 60 + lo.minute
        hi_min = hi.hour * 60 + hi.minute + (1440 if hi.date() != lo.date() else 0)
        return self.start_minute <= lo_min and hi_min <= self.end_minute


def parse_working_hours(text: object) -> WorkingHours:
    """WorkingHours from ``"HH:MM-HH:MM"`` (end may be 24:00); raises ValueError."""
    m = _HOURS.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f'expected "HH:MM-HH:MM" such as "08:00-17:00", got {text!r}')
    h0, m0, h1, m1 = (int(g) for g in m.groups())
    if h0 > 23 or m0 > 59 or m1 > 59 or h1 > 24 or (h1 == 24 and m1):
        raise ValueError(f"not a time of day in {text!r}")
    start, end = h0 * 60 + m0, h1 * 60 + m1
    if start >= end:
        raise ValueError(f"the start must be before the end, got {text!r}")
    return WorkingHours(start, end)


def greenest_window(
    slots: Sequence[IntensitySlot],
    earliest: float,
    latest: float,
    block_seconds: float,
    allowed: Callable[[IntensitySlot], bool] = lambda s: True,
) -> tuple[float, float] | None:
    """(start, mean) of the lowest-mean contiguous block inside [earliest, latest), or None.

    Only slots that are ``allowed`` can be part of a block, and a block may not span a
    gap. Ties go to the earliest block. None when no full block fits.
    """
    n = max(1, round(block_seconds / SLOT_SECONDS))
    usable = sorted(
        (s for s in slots if earliest <= s.start and s.end <= latest and allowed(s)),
        key=lambda s: s.start,
    )
    best: tuple[float, float] | None = None
    for i in range(len(usable) - n + 1):
        block = usable[i : i + n]
        if any(a.end != b.start for a, b in pairwise(block)):
            continue
        mean = sum(s.gco2_per_kwh for s in block) / n
        if best is None or mean < best[1]:
            best = (block[0].start, mean)
    return best


def outlook(
    forecast: Sequence[IntensitySlot], at: float, block_seconds: float, hours: WorkingHours
) -> Outlook:
    """Forecast points and greenest windows as seen from the half hour containing ``at``."""
    now_slot = at // SLOT_SECONDS * SLOT_SECONDS
    ahead = [s for s in forecast if now_slot <= s.start < now_slot + FORECAST_SECONDS]
    points = tuple(((s.start - now_slot) / 3600, s.gco2_per_kwh) for s in ahead)
    horizon = now_slot + HORIZON_SECONDS
    found = []
    for scope, allowed in (
        ("next_24h", lambda s: True),
        ("working_hours", lambda s: hours.contains(s.start, s.end)),
    ):
        best = greenest_window(ahead, now_slot, horizon, block_seconds, allowed)
        if best is not None:
            found.append(GreenWindow(scope, *best))
    return Outlook(points, tuple(found))
