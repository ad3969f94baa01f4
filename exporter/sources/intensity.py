"""Grid carbon intensity from the UK Carbon Intensity API, cached per half-hour slot.

National or regional (a region id or an outward postcode); the 48 h forecast is
cached too and refreshed at most once per half hour. A scrape's window and its
forecast come in one request per half hour.

Carbon intensity data: Carbon Intensity API, NESO, CC BY 4.0.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone

import httpx

from exporter.model import IntensitySlot, SourceError
from exporter.region import NATIONAL, Region

SLOT_SECONDS = 1800
_FORECAST_SECONDS = 48 * 3600
_MAX_RANGE_SECONDS = 14 * 86400  # the API refuses /intensity/{from}/{to} ranges above 14 days
_RETAIN_SECONDS = 35 * 86400  # forget older slots so a long-running exporter stays small
# How soon a half hour not yet over that an answer left out is asked for again (see
# CarbonIntensityAPI): at most 6 requests per half hour while the API keeps leaving it out.
_GAP_RETRY_SECONDS = 300
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
    for item in _entries(data, nested=False):
        slot = _parse_entry(item)
        if slot is not None:
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


def _entries(data: object, nested: bool) -> Iterator[Mapping[str, object]]:
    # Live responses have shown `data` as one object where the docs show a list.
    for item in data if isinstance(data, list) else [data]:
        if not isinstance(item, dict):
            continue
        if "intensity" not in item and "data" in item and not nested:
            yield from _entries(item["data"], nested=True)  # a region wraps its own list
        else:
            yield item


def _parse_entry(item: Mapping[str, object]) -> IntensitySlot | None:
    start, end = _parse_time(item.get("from")), _parse_time(item.get("to"))
    if start is None and end is not None:
        start = end - SLOT_SECONDS
    if start is None or start % SLOT_SECONDS:
        return None
    end = start + SLOT_SECONDS if end is None else end
    intensity = item.get("intensity")
    if end != start + SLOT_SECONDS or not isinstance(intensity, dict):
        return None
    actual = _value(intensity.get("actual"))  # absent on regional endpoints
    value = actual if actual is not None else _value(intensity.get("forecast"))
    if value is None:
        return None
    index = intensity.get("index")
    index = index if isinstance(index, str) else ""
    return IntensitySlot(start, end, value, actual=actual is not None, index=index)


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


def _slot_starts(start: datetime, end: datetime) -> list[int]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("pass timezone-aware datetimes; naive ones are ambiguous")
    lo_ts, hi_ts = start.timestamp(), end.timestamp()
    if hi_ts < lo_ts:
        return []
    # A slot covers [from, to), so an `end` on a boundary takes in the slot starting there:
    # a moving window then asks for the new current slot with the old one, not just after.
    lo = math.floor(lo_ts / SLOT_SECONDS) * SLOT_SECONDS
    hi = math.floor(hi_ts / SLOT_SECONDS) * SLOT_SECONDS + SLOT_SECONDS
    return list(range(lo, hi, SLOT_SECONDS))


def _api_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


class CarbonIntensityAPI:
    """Intensity from the Carbon Intensity API for one region, asking only for stale slots.

    A past slot with an actual value is final and never fetched again; so is an ended
    regional slot, as regional data never gets an actual. Any other slot is asked for at
    most once per wall-clock half hour.

    A slot a well-formed answer left out (a "gap") is never recorded as fetched, nor
    final. The provider documents whole days without data and forecasts that stop early,
    so a gap is expected to last: a half hour that had ended when an answer left it out
    is asked for again once per wall-clock half hour, like a forecast, so a missing day
    cannot cost a request per scrape. But the half hour in progress sets the current
    intensity, and the API forecasts 48 h ahead, so its absence is more likely a passing
    fault: a half hour not yet over is asked for again by the first call
    ``_GAP_RETRY_SECONDS`` (5 min) later, not up to half an hour later.
    A body of the wrong shape (``null``, ``{}``) is a SourceError and records nothing.

    A window ending in the half hour in progress is a scrape's, and a scrape shows the 48 h
    forecast from that half hour: its stale half hours and that forecast are asked for in
    one range request (a range answers with what was measured, where it was, and with
    forecasts beyond: national and regional alike), by whichever of :meth:`slots` and
    :meth:`forecast` (given ``window_start``) comes first; the other is then served from
    the cache, or, if that request failed, asks again. Only the window's half hours enter
    the slot cache: a forecast never stands in for a half hour the window's answer left out.

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
        self._slots: dict[float, IntensitySlot] = {}
        self._checked: dict[float, float] = {}  # slot start -> when a fetch last returned it
        self._missing: dict[float, float] = {}  # slot start -> when a fetch left it out
        self._final: set[float] = set()
        self._lock = threading.Lock()  # guards the cache; never held during I/O
        self._fetch_lock = threading.Lock()  # concurrent scrapes share one fetch, not make two
        self._forecast: tuple[int, list[IntensitySlot]] | None = None  # (from slot, slots)
        # A forecast asked for apart from its window (a past window's) has its own lock,
        # so that its fw48h request runs beside the window's fetch.
        self._forecast_lock = threading.Lock()

    def slots(self, start: datetime, end: datetime) -> list[IntensitySlot]:
        """The half-hour slots overlapping [start, end], oldest first; raises SourceError.

        Makes no request when every slot is cached and fresh; otherwise one request per
        14 days of the stale span (which, for a window ending in the half hour in
        progress, also brings the 48 h forecast from it). Slots the API did not return
        are simply absent.
        """
        starts = _slot_starts(start, end)
        with self._fetch_lock:
            self._refresh(starts, starts[-1] if starts else None)
        return self._lookup(starts)

    def cached(self, start: datetime, end: datetime) -> list[IntensitySlot]:
        """The cached slots overlapping [start, end], without I/O: what to serve after a failure."""
        return self._lookup(_slot_starts(start, end))

    def forecast(self, at: datetime, window_start: datetime | None = None) -> list[IntensitySlot]:
        """The next 48 h from the half hour containing ``at``; raises SourceError.

        One request per half hour of ``at`` at most: while the forecast fetched for that
        half hour is held, it is served without I/O. A failed fetch is retried next call.
        ``window_start`` is the start of the window ending at ``at`` asked of :meth:`slots`
        beside this call: when ``at`` is in the half hour in progress, the window's stale
        half hours come in the same request as the forecast, whichever call asks first.
        """
        key = _slot_starts(at, at)[0]
        live = key == self._now() // SLOT_SECONDS * SLOT_SECONDS
        if window_start is not None and live and not self._holds_forecast(key):
            with self._fetch_lock:  # after the window's fetch in progress, which may bring it
                self._refresh(_slot_starts(window_start, at), key)
        if not self._holds_forecast(key):
            with self._forecast_lock:
                if not self._holds_forecast(key):
                    path = self._where.forecast_path(_api_time(key))
                    fetched = parse_slots(self._get(f"{self._base_url}{path}"))
                    with self._lock:
                        self._forecast = (key, fetched)
        return self.cached_forecast(at)

    def cached_forecast(self, at: datetime) -> list[IntensitySlot]:
        """The last forecast fetched, from the half hour containing ``at`` on, without I/O."""
        key = _slot_starts(at, at)[0]
        with self._lock:
            held = self._forecast[1] if self._forecast else []
        return [s for s in held if key <= s.start < key + _FORECAST_SECONDS]

    def _refresh(self, starts: list[int], shown: int | None) -> None:
        """Fetch the stale slots of ``starts`` and, for a scrape, the forecast it shows.

        ``shown`` is the half hour the caller's 48 h forecast starts from. When it is the
        half hour in progress and its forecast is not held, the forecast comes in the same
        requests as the stale slots: one per 14 days of the span from the first stale slot
        to the forecast's end. Called with ``_fetch_lock`` held.
        """
        now = self._now()
        with self._lock:
            # Forget what was fetched long ago (by when, not by the slot's own time,
            # so that a backfill of last year keeps what it just fetched).
            for old in [s for s, at in self._checked.items() if at < now - _RETAIN_SECONDS]:
                del self._checked[old]
                self._slots.pop(old, None)
                self._final.discard(old)
            for old in [s for s, at in self._missing.items() if at < now - _RETAIN_SECONDS]:
                del self._missing[old]
            stale = [s for s in starts if not self._fresh(s, now)]
            held = self._forecast is not None and self._forecast[0] == shown
        live = shown == now // SLOT_SECONDS * SLOT_SECONDS
        ahead = shown if live and not held else None
        if ahead is not None:  # ``starts`` end with ``shown``: the forecast reaches further
            lo, top = (stale[0] if stale else ahead), ahead + _FORECAST_SECONDS
        elif stale:
            lo, top = stale[0], stale[-1] + SLOT_SECONDS
        else:
            return
        hi = stale[-1] + SLOT_SECONDS if stale else lo  # where the window's part ends
        coming: dict[float, IntensitySlot] = {}
        for chunk in range(lo, top, _MAX_RANGE_SECONDS):
            chunk_end = min(chunk + _MAX_RANGE_SECONDS, top)
            fetched = self._fetch(chunk, chunk_end)
            if stale:  # the window's slots only: see the class docstring
                asked = range(chunk, min(chunk_end, hi), SLOT_SECONDS)
                self._store([s for s in fetched if s.start < hi], asked, now)
            if ahead is not None:
                coming.update((s.start, s) for s in fetched if s.start >= ahead)
        if ahead is not None:
            with self._lock:
                self._forecast = (ahead, [coming[start] for start in sorted(coming)])

    def _holds_forecast(self, key: int) -> bool:
        with self._lock:
            return self._forecast is not None and self._forecast[0] == key

    def _lookup(self, starts: list[int]) -> list[IntensitySlot]:
        with self._lock:
            return [self._slots[s] for s in starts if s in self._slots]

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

    def _store(self, fetched: list[IntensitySlot], asked: range, now: float) -> None:
        with self._lock:
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
                if slot.end <= now and (slot.actual or not self._where.has_actuals):
                    self._final.add(slot.start)

    def _fetch(self, lo: int, hi: int) -> list[IntensitySlot]:
        path = self._where.range_path(_api_time(lo), _api_time(hi))
        return parse_slots(self._get(f"{self._base_url}{path}"))

    def _get(self, url: str) -> object:
        """The decoded JSON body of a successful response; SourceError for anything else."""
        with self._lock:  # the window and the forecast fetch run in parallel
            self.requests += 1
        try:
            response = self._client.get(url, timeout=self._timeout)
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


class FixedIntensity:
    """A constant intensity, for sites without internet access and for demos; no I/O."""

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
            for s in _slot_starts(start, end)
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
