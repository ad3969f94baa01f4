"""Timing helpers of the benchmark: upstream spans, server CPU, peak RSS, an inline pool."""

from __future__ import annotations

import concurrent.futures as cf
import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient, monitoring

TIMEOUT = 120.0  # generous: a slow scrape must be measured, not cut short


class Spans:
    """Collects the (start, end) of every upstream call, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[tuple[float, float]] = []

    def add(self, start: float, end: float) -> None:
        with self._lock:
            self.spans.append((start, end))

    def take_wall(self) -> float:
        """Seconds covered by at least one span since the last call (overlaps counted once)."""
        with self._lock:
            spans, self.spans = sorted(self.spans), []
        total, cur_start, cur_end = 0.0, None, None
        for start, end in spans:
            if cur_end is None or start > cur_end:
                if cur_start is not None and cur_end is not None:
                    total += cur_end - cur_start
                cur_start, cur_end = start, end
            else:
                cur_end = max(cur_end, end)
        if cur_start is not None and cur_end is not None:
            total += cur_end - cur_start
        return total


class TimedTransport(httpx.BaseTransport):
    """Times each HTTP exchange up to the last byte of the body."""

    def __init__(self, spans: Spans) -> None:
        self._inner = httpx.HTTPTransport()
        self._spans = spans

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        response = self._inner.handle_request(request)
        response.read()
        self._spans.add(start, time.perf_counter())
        return response


class TimedCommands(monitoring.CommandListener):
    """Times each MongoDB command (find, getMore, ...) from start to reply."""

    def __init__(self, spans: Spans) -> None:
        self._spans = spans
        self._started: dict[int, float] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self._started[event.request_id] = time.perf_counter()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._done(event.request_id)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._done(event.request_id)

    def _done(self, request_id: int) -> None:
        start = self._started.pop(request_id, None)
        if start is not None:
            self._spans.add(start, time.perf_counter())


class InlineExecutor(cf.Executor):
    """Runs each call at once in the caller's thread, so cProfile (one thread) sees it all."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        future.set_result(fn(*args, **kwargs))
        return future


def mongo_client(uri: str, spans: Spans) -> MongoClient[dict[str, Any]]:
    ms = int(TIMEOUT * 1000)
    return MongoClient(
        uri,
        appname="ada-carbon-benchmark",
        serverSelectionTimeoutMS=ms,
        socketTimeoutMS=ms,
        event_listeners=[TimedCommands(spans)],
    )


def process_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far; 0 if unknown (not Linux)."""
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3, state, first
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


class ServerCPU:
    """The upstream servers' CPU seconds between two calls of :meth:`take`.

    On a machine they share with the exporter, their CPU sets a floor under the scrape's
    wall time that no change to the exporter can lower: all three processes' CPU
    seconds divided by the cores.
    """

    def __init__(self, pids: dict[str, int | None]) -> None:
        self._pids = pids
        self._last = {name: process_cpu_s(pid) for name, pid in pids.items()}

    def take(self) -> dict[str, float]:
        now = {name: process_cpu_s(pid) for name, pid in self._pids.items()}
        used = {name: now[name] - self._last[name] for name in now}
        self._last = now
        return used


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
