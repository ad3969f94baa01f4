"""Time every upstream call, turn its failure into ``up = 0``, and log once per episode."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from exporter.model import SourceError, SourceStatus

T = TypeVar("T")
log = logging.getLogger("exporter.health")


class HealthTracker:
    """Calls sources, records their status, and logs a failure once per episode.

    An episode starts with the first failure of a source and ends with the first
    refresh in which the source was up (:meth:`settle`), which is logged as a
    recovery. Repeated failures in between stay silent, so a long outage does not
    flood the log at every scrape; nor does one call of a source that succeeds while
    another of the same refresh fails (the steps beside failing totals) end it.
    """

    def __init__(self) -> None:
        self._failing: dict[str, str] = {}
        self._lock = threading.Lock()

    def call(self, status: SourceStatus, source: str, fn: Callable[[], T]) -> T | None:
        """Run ``fn`` for ``source``; on SourceError mark it down and return None.

        Any other exception is a bug in an adapter (or a driver raising outside its
        documented errors): it marks only this source down, so the other sources keep
        serving, and its traceback goes to the debug log.
        """
        started = time.monotonic()
        try:
            result = fn()
        except SourceError as exc:
            self.mark_down(status, source, str(exc))
            return None
        except Exception as exc:
            log.debug("source %s raised %s", source, type(exc).__name__, exc_info=True)
            self.mark_down(status, source, f"unexpected {type(exc).__name__}: {exc}"[:300])
            return None
        finally:
            status.duration_seconds += time.monotonic() - started
        return result

    def settle(self, statuses: Mapping[str, SourceStatus]) -> None:
        """End the episode of every source that was up for a whole refresh (log it once)."""
        for source, status in statuses.items():
            if status.up:
                self._succeeded(source)

    def mark_down(self, status: SourceStatus, source: str, reason: str) -> None:
        """Record a failure found outside ``call`` (e.g. the scrape budget ran out)."""
        status.up = False
        status.error = reason
        self._failed(source, reason)

    def _failed(self, source: str, reason: str) -> None:
        with self._lock:
            first = source not in self._failing
            self._failing[source] = reason
        if first:
            log.warning("source %s is down: %s", source, reason)

    def _succeeded(self, source: str) -> None:
        with self._lock:
            was = self._failing.pop(source, None)
        if was is not None:
            log.info("source %s recovered", source)
