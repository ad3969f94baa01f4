"""The subcommands: ``snapshot``, ``backfill``, ``report`` and ``calculate``, and serving.

Each module adds its subparser (``add_parser``) and runs it (``run``);
:mod:`exporter.cli` only builds the parser and dispatches. What they share is here:
the one way a time is read from the command line (in the zone of ``--tz``), the
windows a period holds, the one error a command fails with, and the progress line
shown on a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import sys
from datetime import date, datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TIME_FORMS = (
    "a date (2026-01-31, midnight in --tz), RFC 3339 (2026-01-31T12:00:00Z), unix seconds or now"
)
_GIVE = "give 2026-01-31, 2026-01-31T12:00:00Z, unix seconds or now"
# Unix seconds outside these years are a typo (20260329 is a date, read as 1970-08-23;
# 1774742400000 is milliseconds), not a time someone meant.
PLAUSIBLE = (
    datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp(),
    datetime(2100, 1, 1, tzinfo=timezone.utc).timestamp(),
)
TZ_HELP = (
    "time zone of dates and of day boundaries: an IANA name such as Europe/London (default: UTC)"
)


class CommandError(Exception):
    """The command cannot go on. The message is one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def zone(name: str) -> tzinfo:
    """The time zone an IANA name (Europe/London, UTC) names; ValueError for people if none."""
    if name.strip().upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        raise ValueError(
            f"no time zone {name!r}: give an IANA name such as Europe/London or UTC "
            "(the system's tzdata or the tzdata package lists them)"
        ) from None


def zone_arg(name: str) -> tzinfo:
    """:func:`zone` as an argparse type: an unknown zone is a usage error (exit 2)."""
    try:
        return zone(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def midnight(day: date, tz: tzinfo) -> datetime:
    """The start of ``day`` in ``tz``, as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(timezone.utc)


def parse_time(text: str, tz: tzinfo = timezone.utc) -> datetime:
    """An aware UTC datetime from ``now``, unix seconds, a date (midnight in ``tz``) or RFC 3339.

    Raises ValueError with a message for people (the caller names the flag).
    """
    t = text.strip()
    if t == "now":
        return datetime.now(timezone.utc)
    try:
        seconds = float(t)
    except ValueError:
        return _parse_date(t, text, tz)
    if math.isnan(seconds):
        raise ValueError(f"not a date or time: {text!r} ({_GIVE})")
    if not PLAUSIBLE[0] <= seconds < PLAUSIBLE[1]:
        raise ValueError(_implausible(t, seconds))
    return datetime.fromtimestamp(seconds, timezone.utc)


def _implausible(t: str, seconds: float) -> str:
    """Why a number is refused, with the ways it could be read."""
    try:
        unix = f"{datetime.fromtimestamp(seconds, timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
    except (OverflowError, OSError, ValueError):  # ValueError: a year out of range
        unix = "out of range"
    readings = [f"as unix seconds it is {unix}"]
    if re.fullmatch(r"\d{8}", t):
        with contextlib.suppress(ValueError):  # not a date either
            readings.append(f"as a date, give {date(int(t[:4]), int(t[4:6]), int(t[6:]))}")
    return (
        f"{t!r} is not a plausible time: {'; '.join(readings)} "
        "(unix seconds are read from 2000 to 2100)"
    )


def _parse_date(t: str, text: str, tz: tzinfo) -> datetime:
    try:
        if len(t) == 10:
            return midnight(date.fromisoformat(t), tz)
        parsed = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date or time: {text!r} ({_GIVE})") from None
    except OverflowError:
        raise ValueError(f"out of range: {text!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"give a time zone (e.g. Z): {text!r}")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"out of range: {text!r}") from None


def window_ends(start: float, end: float, window: float) -> list[float]:
    """The ends of the windows a period (start, end] holds: the multiples of ``window`` in it.

    The one period rule of ``report`` and ``backfill``. Prometheus aligns subquery
    steps to multiples of the step, so these are the windows both the exporter's
    series and a raw computation count.
    """
    first = (start // window + 1) * window
    count = int(end // window - start // window)
    return [first + k * window for k in range(max(0, count))]


class Progress:
    """``backfill: 12/744 windows`` on one stderr line, rewritten in place; only on a terminal."""

    def __init__(self, command: str, what: str, total: int) -> None:
        self._command, self._what, self._total = command, what, total
        self._on = total > 1 and sys.stderr.isatty()

    def __call__(self, done: int) -> None:
        if self._on:
            end = "\n" if done == self._total else ""
            line = f"\r{self._command}: {done}/{self._total} {self._what}"
            print(line, end=end, file=sys.stderr)

    def clear(self) -> None:
        """Blank the line, so that a warning printed next starts at its beginning."""
        if self._on:
            print("\r\x1b[K", end="", file=sys.stderr, flush=True)


def time_flag(flag: str, text: str, tz: tzinfo) -> datetime:
    """:func:`parse_time` for a flag: a bad time is a usage error (exit 2) naming it."""
    try:
        return parse_time(text, tz)
    except ValueError as exc:
        raise CommandError(f"{flag}: {exc}", 2) from None


def add_tz(parser: argparse.ArgumentParser) -> None:
    """The ``--tz`` flag: an unknown zone is a usage error (exit 2) naming it."""
    parser.add_argument("--tz", type=zone_arg, default=timezone.utc, metavar="ZONE", help=TZ_HELP)
