"""Time every upstream call, turn its failure into ``up = 0``, and log once per episode."""

from __future__ import annotations

import concurrent.futures as cf
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

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


class Calls:
    """Source calls run in the refresh's pool, each through :meth:`HealthTracker.call`.

    A call is not started again while the same call of an earlier refresh still runs:
    a hung upstream then holds one worker, not one more per scrape, so it can never
    starve the healthy sources; it stays down until that call returns.
    """

    def __init__(self, pool: cf.Executor, health: HealthTracker, budget_seconds: float) -> None:
        self._pool = pool
        self._health = health
        self._budget = budget_seconds
        self._running: dict[str, cf.Future[Any]] = {}
        self._lock = threading.Lock()

    def submit(
        self, status: SourceStatus, source: str, fn: Callable[[], T], slot: str | None = None
    ) -> cf.Future[T | None]:
        """Start ``fn`` for ``source`` (``slot``: which of its calls, if it makes several)."""
        key = slot or source
        with self._lock:
            previous = self._running.get(key)
            if previous is None or previous.done():
                future = self._pool.submit(self._health.call, status, source, fn)
                self._running[key] = future
            else:
                future = None
        if future is None:
            self._health.mark_down(status, source, "the previous call has not returned yet")
            return done(None)
        # Once done, forgotten: a call's answer (40 MB of parsed JSON at 10,000 hosts) is
        # then held only by the refresh that waits for it, not until the next refresh.
        future.add_done_callback(functools.partial(self._forget, key))
        return future

    def _forget(self, key: str, future: cf.Future[Any]) -> None:
        with self._lock:
            if self._running.get(key) is future:
                del self._running[key]

    def wait(
        self, future: cf.Future[T | None], status: SourceStatus, source: str, deadline: float
    ) -> T | None:
        """The call's result, or None (the source marked down) if it is not in by ``deadline``."""
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except cf.TimeoutError:
            # The call's own timing ends only when it returns: the refresh waited this long.
            waited = self._budget - (deadline - time.monotonic())
            status.duration_seconds = max(status.duration_seconds, waited)
            self._health.mark_down(status, source, "no answer within the scrape budget")
            return None


def done(value: T) -> cf.Future[T]:
    """A future that already holds ``value``."""
    future: cf.Future[T] = cf.Future()
    future.set_result(value)
    return future


def side_by_side(status: SourceStatus, *calls: SourceStatus) -> None:
    """Set ``status`` to that of calls that ran side by side: down if any was, the longest wait."""
    status.up = all(c.up for c in calls)
    status.error = next((c.error for c in calls if c.error), "")
    status.duration_seconds = max(c.duration_seconds for c in calls)
