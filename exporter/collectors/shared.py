"""One refresh shared by the scrapes that arrive while it runs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import NamedTuple

from exporter.model import Snapshot

log = logging.getLogger("exporter.refresh")


class Served(NamedTuple):
    """What a scrape serves: a snapshot (None when its refresh failed), and whether it was
    an earlier scrape's, served again within the min interval."""

    snapshot: Snapshot | None
    again: bool = False


class SharedRefresh:
    """Runs at most one refresh at a time; concurrent scrapes wait for and share it.

    With ``min_interval_seconds`` > 0, a result younger than that is served again
    instead of refreshing, which bounds upstream load from several Prometheus replicas.
    A refresh that raises is a failed refresh: its scrapes are served no snapshot, and
    the error is logged once per episode of failures (its end too), not once a scrape.
    """

    def __init__(self, refresh: Callable[[], Snapshot], min_interval_seconds: float = 0.0) -> None:
        self._refresh = refresh
        self._min_interval = min_interval_seconds
        self._lock = threading.Lock()
        self._inflight: Future[Snapshot | None] | None = None
        self._last: tuple[float, Snapshot] | None = None
        self._failing = False
        self.refreshes = 0

    def serve(self) -> Served:
        """The snapshot to serve, refreshed now, by a concurrent scrape, or served again."""
        with self._lock:
            running = self._inflight
            if running is None:
                if self._last and time.monotonic() - self._last[0] < self._min_interval:
                    return Served(self._last[1], again=True)
                future = self._inflight = Future()
                self.refreshes += 1
                # Scrapes from now on share this refresh, not the last result: let it go.
                self._last = None
        if running is not None:
            return Served(running.result())
        snapshot = None
        try:
            snapshot = self._run()
        finally:
            future.set_result(snapshot)
            with self._lock:
                self._inflight = None
        return Served(snapshot)

    def _run(self) -> Snapshot | None:
        try:
            snapshot = self._refresh()
        except Exception as exc:
            if not self._failing:
                log.error("refresh failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
            self._failing = True
            return None
        if self._failing:
            log.info("refresh recovered")
        self._failing = False
        self._last = (time.monotonic(), snapshot)
        return snapshot
