"""The subcommands: ``snapshot``, ``backfill``, ``report`` and ``calculate``, and serving.

Each module adds its subparser (``add_parser``) and runs it (``run``);
:mod:`exporter.cli` only builds the parser and dispatches. What they share is here:
the one way a time is read from the command line, the one error a command fails
with, and the progress line shown on a terminal.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import date, datetime, timezone

TIME_FORMS = "a UTC date (2026-01-31), RFC 3339 (2026-01-31T12:00:00Z), unix seconds or now"
_GIVE = "give 2026-01-31, 2026-01-31T12:00:00Z, unix seconds or now"


class CommandError(Exception):
    """The command cannot go on. The message is one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def parse_time(text: str) -> datetime:
    """An aware UTC datetime from ``now``, unix seconds, a UTC date or RFC 3339 text.

    Raises ValueError with a message for people (the caller names the flag).
    """
    t = text.strip()
    if t == "now":
        return datetime.now(timezone.utc)
    try:
        seconds = float(t)
    except ValueError:
        return _parse_date(t, text)
    if math.isnan(seconds):
        raise ValueError(f"not a date or time: {text!r} ({_GIVE})")
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):  # ValueError: a year out of range
        raise ValueError(f"out of range: {text!r}") from None


def _parse_date(t: str, text: str) -> datetime:
    try:
        if len(t) == 10:
            day = date.fromisoformat(t)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date or time: {text!r} ({_GIVE})") from None
    if parsed.tzinfo is None:
        raise ValueError(f"give a time zone (e.g. Z): {text!r}")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"out of range: {text!r}") from None


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


def time_arg(text: str) -> datetime:
    """:func:`parse_time` as an argparse type: a bad time is a usage error (exit 2)."""
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
