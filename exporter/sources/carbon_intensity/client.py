"""Grid carbon intensity from the UK Carbon Intensity API: the requests and their parsing.

National or regional (a region id or an outward postcode: regions.py). The half hours
fetched and the 48 h forecast are cached (cache.py); a scrape's window and its forecast
come in one request per half hour.

Carbon intensity data: Carbon Intensity API, NESO, CC BY 4.0.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone

import httpx

from exporter.grid import FORECAST_SECONDS, SLOT_SECONDS, slot_starts
from exporter.model import IntensitySlot, SourceError
from exporter.sources.carbon_intensity.cache import SlotCache
from exporter.sources.carbon_intensity.regions import NATIONAL, Region

_MAX_RANGE_SECONDS = 14 * 86400  # the API refuses /intensity/{from}/{to} ranges above 14 days
_NOT_JSON = object()
_JSON_KINDS = {type(None): "null", bool: "a boolean", int: "a number", float: "a number"}
_JSON_KINDS.update({str: "a string", list: "a list", dict: "an object"})


def parse_slots(payload: object) -> list[IntensitySlot]:
    """Turn a decoded national or regional response body into slots, oldest first.

    Malformed entries are dropped, not fatal. For a duplicated slot the one with an
    actual value wins, else the last. Raises SourceError for the API's error body and
    for a body without a ``data`` list or object (``null``, ``{}``): that is a broken
    answer, not an empty one, so the source counts as down and is asked again. An empty
    ``data`` list is a real answer (the API has whole days without data) and gives [].
    """
    if isinstance(payload, dict) and "error" in payload:
        raise SourceError(f"Carbon Intensity API error: {_error_text(payload['error'])}")
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list | dict):
        raise SourceError(f"Carbon Intensity API: {_shape_error(payload)}")
    by_start: dict[float, IntensitySlot] = {}
    for slot in _slots(data, nested=False):
        old = by_start.get(slot.start)
        if old is None or slot.actual or not old.actual:
            by_start[slot.start] = slot
    return [by_start[start] for start in sorted(by_start)]


def region_name(payload: object) -> str | None:
    """The region's shortname in a decoded regional response (e.g. "South England"), if any."""
    data = payload.get("data") if isinstance(payload, dict) else None
    for item in data if isinstance(data, list) else [data]:
        name = item.get("shortname") if isinstance(item, dict) else None
        if isinstance(name, str) and name.strip():
            return name.strip()[:64]  # a label value: bounded, whatever the API sends
    return None


def _slots(data: object, nested: bool) -> Iterator[IntensitySlot]:
    # Live responses have shown `data` as one object where the docs show a list.
    for item in data if isinstance(data, list) else [data]:
        if not isinstance(item, dict):
            continue
        if "intensity" not in item and "data" in item and not nested:
            yield from _slots(item["data"], nested=True)  # a region wraps its own list
        elif (slot := _parse_entry(item)) is not None:
            yield slot


def _parse_entry(item: Mapping[str, object]) -> IntensitySlot | None:
    start, intensity = _parse_span(item), item.get("intensity")
    if start is None or not isinstance(intensity, dict):
        return None
    actual = _value(intensity.get("actual"))  # absent on regional endpoints
    value = actual if actual is not None else _value(intensity.get("forecast"))
    if value is None:
        return None
    index = intensity.get("index")
    index = index if isinstance(index, str) else ""
    return IntensitySlot(start, start + SLOT_SECONDS, value, actual=actual is not None, index=index)


def _parse_span(item: Mapping[str, object]) -> float | None:
    """The start of the half hour an entry covers (its from, else its to); None if none."""
    start, end = _parse_time(item.get("from")), _parse_time(item.get("to"))
    if start is None and end is not None:
        start = end - SLOT_SECONDS
    if start is None or start % SLOT_SECONDS:
        return None
    return start if end is None or end == start + SLOT_SECONDS else None


def _parse_time(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"  # fromisoformat only reads "Z" from Python 3.11
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _value(raw: object) -> float | None:
    # bool is an int; a huge int would overflow float(), so range-check first (NaN fails it).
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw) if 0 <= raw <= sys.float_info.max else None


def _error_text(error: object) -> str:
    parts = [error.get("code"), error.get("message")] if isinstance(error, dict) else [error]
    text = ": ".join(str(part) for part in parts if part)
    return (text or "no detail")[:200]  # bounded: a log line, never a whole body


def _shape_error(payload: object) -> str:
    if not isinstance(payload, dict):
        return f"the body is {_kind(payload)}, not an object with data"
    if "data" not in payload:
        return "the body has no data field"
    return f"data is {_kind(payload['data'])}, not a list of slots"


def _kind(value: object) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _api_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


class CarbonIntensityAPI:
    """Intensity from the Carbon Intensity API for one region, asking only for stale slots.

    Which half hours are stale: see :class:`SlotCache`. A body of the wrong shape
    (``null``, ``{}``) is a SourceError and records nothing.

    A window ending in the half hour in progress is a scrape's, and a scrape shows the 48 h
    forecast from that half hour: its stale half hours and that forecast are asked for in
    one range request (a range answers with what was measured, where it was, and with
    forecasts beyond: national and regional alike), by whichever of :meth:`slots` and
    :meth:`forecast` (given ``window_start``) comes first; the other is then served from
    the cache, or, if that request failed, asks again. Only the window's half hours enter
    the slot cache: a forecast never stands in for a half hour the window's answer left out.

    One request at a time: the lock is held across each fetch, so that the window and
    the forecast asked side by side wait for one another's request instead of making a
    second. :meth:`cached` and :meth:`cached_forecast` never wait for it.

    ``region`` is the label to use: known before any request (see :class:`Region`), and
    replaced by the shortname a regional response gives (so a postcode becomes e.g.
    "South England" after the first answer).
    """

    def __init__(
        self,
        client: httpx.Client,
        base_url: str = "https://api.carbonintensity.org.uk",
        timeout_seconds: float = 3.0,
        now: Callable[[], float] = time.time,
        region: Region = NATIONAL,
    ) -> None:
        self.region = region.label
        self.requests = 0
        self._where = region
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout_seconds
        self._now = now
        self._cache = SlotCache(region.has_actuals)
        self._lock = threading.Lock()

    def slots(self, start: datetime, end: datetime) -> list[IntensitySlot]:
        """The half-hour slots overlapping [start, end], oldest first; raises SourceError.

        One request per 14 days of the stale span, none when nothing is stale. Slots the
        API did not return are simply absent.
        """
        starts = slot_starts(start, end)
        with self._lock:
            self._update(starts)
        return self._cache.lookup(starts)

    def cached(self, start: datetime, end: datetime) -> list[IntensitySlot]:
        """The cached slots overlapping [start, end], without I/O: what to serve after a failure."""
        return self._cache.lookup(slot_starts(start, end))

    def forecast(self, at: datetime, window_start: datetime | None = None) -> list[IntensitySlot]:
        """The next 48 h from the half hour containing ``at``; raises SourceError.

        One request per half hour of ``at`` at most, retried at the next call if it failed.
        ``window_start``: the start of the window ending at ``at`` asked of :meth:`slots`
        beside this call (see the class docstring).
        """
        key = slot_starts(at, at)[0]
        with self._lock:
            held = self._cache.holds_forecast(key)
            live = key == self._now() // SLOT_SECONDS * SLOT_SECONDS
            if not held and live and window_start is not None:
                self._update(slot_starts(window_start, at))
            elif not held:
                path = self._where.forecast_path(_api_time(key))
                self._cache.forecast = (key, parse_slots(self._get(path)))
        return self.cached_forecast(at)

    def cached_forecast(self, at: datetime) -> list[IntensitySlot]:
        """The last forecast fetched, from the half hour containing ``at`` on, without I/O."""
        key = slot_starts(at, at)[0]
        held = self._cache.forecast
        return [s for s in held[1] if key <= s.start < key + FORECAST_SECONDS] if held else []

    def _update(self, starts: list[int]) -> None:
        """Fetch the stale half hours of ``starts`` and, if due, the forecast from the last.

        One request per 14 days of the span from the first stale half hour to the end of
        the window or, with the forecast, to the end of the forecast.
        """
        now = self._now()
        stale = self._cache.stale(starts, now)
        ahead = self._forecast_due(starts, now)
        if ahead is not None:  # the forecast reaches beyond the window
            lo, top = (stale[0] if stale else ahead), ahead + FORECAST_SECONDS
        elif stale:
            lo, top = stale[0], stale[-1] + SLOT_SECONDS
        else:
            return
        window = range(stale[0], stale[-1] + SLOT_SECONDS, SLOT_SECONDS) if stale else range(0)
        fetched: list[IntensitySlot] = []
        for chunk in range(lo, top, _MAX_RANGE_SECONDS):
            fetched += self._fetch(chunk, min(chunk + _MAX_RANGE_SECONDS, top), window, now)
        if ahead is not None:
            coming = {s.start: s for s in fetched if s.start >= ahead}
            self._cache.forecast = (ahead, [coming[start] for start in sorted(coming)])

    def _forecast_due(self, starts: list[int], now: float) -> int | None:
        """The half hour in progress when ``starts`` end in it and its forecast is not held."""
        if not starts or starts[-1] != now // SLOT_SECONDS * SLOT_SECONDS:
            return None
        return None if self._cache.holds_forecast(starts[-1]) else starts[-1]

    def _fetch(self, lo: int, hi: int, window: range, now: float) -> list[IntensitySlot]:
        """The slots from ``lo`` to ``hi``; those of the ``window`` go into the cache."""
        fetched = parse_slots(self._get(self._where.range_path(_api_time(lo), _api_time(hi))))
        if window:  # the window's slots only: see the class docstring
            asked = range(lo, min(hi, window.stop), SLOT_SECONDS)
            self._cache.store([s for s in fetched if s.start < window.stop], asked, now)
        return fetched

    def _get(self, path: str) -> object:
        """The decoded JSON body of a successful response; SourceError for anything else."""
        self.requests += 1  # under the lock
        try:
            response = self._client.get(f"{self._base_url}{path}", timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise SourceError(f"Carbon Intensity API: {type(exc).__name__}: {exc}"[:200]) from exc
        try:
            payload: object = response.json()
        except ValueError:  # also covers undecodable bytes
            payload = _NOT_JSON
        status = response.status_code
        if not response.is_success:
            error = payload.get("error") if isinstance(payload, dict) else None
            detail = _error_text(error) if error is not None else response.reason_phrase
            raise SourceError(f"Carbon Intensity API HTTP {status}: {detail}")
        if payload is _NOT_JSON:
            raise SourceError(f"Carbon Intensity API HTTP {status}: body is not JSON")
        name = region_name(payload)
        if name is not None and not self._where.has_actuals:
            self.region = name
        return payload
