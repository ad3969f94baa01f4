"""The period rule of a report, and a time zone's calendar days, weeks and months.

A period (FROM, TO] counts the windows ending in it: the multiples of the window
(:func:`exporter.commands.window_ends`), as ``backfill`` writes them. What it
counts is the time from the start of its first window to the end of its last,
which the report's header shows; a period that holds no window is refused.
``--every`` cuts the period at the zone's calendar boundaries; each piece counts
the windows ending in it by the same rule, so the rows tile the period and each
equals a report over just that piece.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo

from exporter.commands import CommandError, midnight, time_flag, window_ends
from exporter.commands.report.compute import Interval, plus, total_of
from exporter.model import Usage

EVERY = ("day", "week", "month")


def period(start_text: str, end_text: str, tz: tzinfo) -> tuple[float, float]:
    """The period (start, end], unix seconds, from the --from and --to texts, dates in ``tz``."""
    start = time_flag("--from", start_text, tz).timestamp()
    end = time_flag("--to", end_text, tz).timestamp()
    if end <= start:
        raise CommandError(f"--to ({end_text}) must be after --from ({start_text})", 2)
    return start, end


def counted(start: float, end: float, window: float) -> tuple[float, float]:
    """The time the windows ending in (start, end] cover; CommandError when there are none."""
    ends = window_ends(start, end, window)
    if not ends:
        raise CommandError(
            f"no window ends in this period: windows of {window:g} s end on whole multiples "
            f"of {window:g} s since 1970-01-01 UTC; widen --from/--to to hold one",
            2,
        )
    return ends[0] - window, ends[-1]


def _first(day: date, every: str) -> date:
    """The first day of the calendar period holding ``day`` (weeks start on Monday)."""
    if every == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if every == "month" else day


def _next(day: date, every: str) -> date:
    """The first day of the calendar period after the one starting on ``day``."""
    if every == "month":
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return day + timedelta(days=7 if every == "week" else 1)


def _label(day: date, every: str) -> str:
    return f"{day:%Y-%m}" if every == "month" else day.isoformat()


def calendar(start: float, end: float, tz: tzinfo, every: str) -> list[tuple[str, float, float]]:
    """The calendar periods of ``tz`` that (start, end] overlaps, each cut to it.

    (label, from, to): a day ``2026-10-25``, a week by its Monday, a month ``2026-10``.
    A day of a clock change is 23 or 25 hours long.
    """
    day = _first(datetime.fromtimestamp(start, tz).date(), every)
    out = []
    while True:
        after = _next(day, every)
        b = min(end, midnight(after, tz).timestamp())
        out.append((_label(day, every), max(start, midnight(day, tz).timestamp()), b))
        if b >= end:
            return out
        day = after


def by_period(
    intervals: Iterable[Interval], spans: list[tuple[str, float, float]], window: float
) -> dict[tuple[str, ...], Usage]:
    """Usage per calendar period, keyed (label, hours counted); every period has a row.

    An interval belongs to the period its last window ends in, so pieces must be cut
    at the periods' boundaries (see :func:`~exporter.commands.report.compute.pieces`).
    """
    keys = [(label, f"{len(window_ends(a, b, window)) * window / 3600:g}") for label, a, b in spans]
    out: dict[tuple[str, ...], Usage] = {key: Usage() for key in keys}
    ends = [b for _, _, b in spans]
    for interval in intervals:
        k = min(bisect_left(ends, interval.end), len(keys) - 1)
        out[keys[k]] = plus(out[keys[k]], total_of(interval.usage.values()))
    return out
