"""The half hours of intensity fetched so far, and the last forecast: kept between scrapes.

No I/O and no lock: the adapter writes it under its own lock and reads it without (one
dict lookup per slot), so that a scrape cut off by its budget serves the cache while a
fetch still hangs.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.grid import SLOT_SECONDS
from exporter.model import IntensitySlot

_RETAIN_SECONDS = 35 * 86400  # forget older slots so a long-running exporter stays small
# How soon a half hour not yet over that an answer left out is asked for again (see
# SlotCache): at most 6 requests per half hour while the API keeps leaving it out.
_GAP_RETRY_SECONDS = 300


class SlotCache:
    """Slots by start, with when each was last fetched, and which are final.

    A past slot with an actual value is final; so is an ended regional slot, as regional
    data never gets an actual. Any other slot is stale once the wall-clock half hour
    changes.

    A slot a well-formed answer left out (a "gap") is never recorded as fetched, nor
    final. The provider documents whole days without data and forecasts that stop early,
    so a gap is expected to last: a half hour that had ended when an answer left it out
    is asked for again once per wall-clock half hour, like a forecast, so a missing day
    cannot cost a request per scrape. But the half hour in progress sets the current
    intensity, and the API forecasts 48 h ahead, so its absence is more likely a passing
    fault: a half hour not yet over is asked for again ``_GAP_RETRY_SECONDS`` (5 min)
    later, not up to half an hour later.
    """

    def __init__(self, has_actuals: bool) -> None:
        self._has_actuals = has_actuals
        self._slots: dict[float, IntensitySlot] = {}
        self._checked: dict[float, float] = {}  # slot start -> when a fetch last returned it
        self._missing: dict[float, float] = {}  # slot start -> when a fetch left it out
        self._final: set[float] = set()
        # The last 48 h forecast: (the half hour it starts from, its slots).
        self.forecast: tuple[int, list[IntensitySlot]] | None = None

    def lookup(self, starts: Iterable[float]) -> list[IntensitySlot]:
        """The cached slots of ``starts``, in their order."""
        found = (self._slots.get(start) for start in starts)
        return [slot for slot in found if slot is not None]

    def holds_forecast(self, start: int) -> bool:
        """True when the forecast held starts from the half hour ``start``."""
        held = self.forecast
        return held is not None and held[0] == start

    def stale(self, starts: list[int], now: float) -> list[int]:
        """The starts to fetch again at ``now``, oldest first."""
        # Forget what was fetched long ago (by when, not by the slot's own time, so that
        # a backfill of last year keeps what it just fetched).
        for old in [s for s, at in self._checked.items() if at < now - _RETAIN_SECONDS]:
            del self._checked[old]
            self._slots.pop(old, None)
            self._final.discard(old)
        for old in [s for s, at in self._missing.items() if at < now - _RETAIN_SECONDS]:
            del self._missing[old]
        return [s for s in starts if not self._fresh(s, now)]

    def store(self, fetched: list[IntensitySlot], asked: range, now: float) -> None:
        """Record an answer: ``fetched`` for the half-hour starts ``asked`` at ``now``."""
        returned = {slot.start for slot in fetched}
        for start in asked:
            if start not in returned:
                self._missing[start] = now  # a value cached before, if any, is kept
        for slot in fetched:
            self._missing.pop(slot.start, None)
            if slot.start in self._final:
                continue
            self._slots[slot.start] = slot
            self._checked[slot.start] = now
            # The current slot's actual is an estimate that still moves until it ends;
            # a regional slot has no actual to wait for, so its last forecast is final.
            if slot.end <= now and (slot.actual or not self._has_actuals):
                self._final.add(slot.start)

    def _fresh(self, start: float, now: float) -> bool:
        if start in self._final:
            return True
        missing = self._missing.get(start)  # set only while the last answer left it out
        if missing is not None:
            if missing // SLOT_SECONDS != now // SLOT_SECONDS:
                return False
            over = start + SLOT_SECONDS <= missing  # already, when the answer left it out
            return over or now - missing < _GAP_RETRY_SECONDS
        checked = self._checked.get(start)
        return checked is not None and checked // SLOT_SECONDS == now // SLOT_SECONDS
