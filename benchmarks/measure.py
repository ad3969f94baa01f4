"""The measuring side of the benchmark, run in a child process per query path.

A child of its own keeps Prometheus, nx-27017 and the fleet generator out of its
CPU time and peak RSS. It reads a JSON spec on stdin and prints a JSON result:

- ``raw`` / ``recording_rules``: the exporter's real code path, one scrape being a GET
  of the exporter's /metrics app as Prometheus makes it (OpenMetrics, gzip): the
  ``Refresh.snapshot``, the collector, the body and its compression, from one registry;
- ``old``: the earlier service's way, one Prometheus query per workspace and one
  user lookup each (but matching hosts exactly and querying each owner's own
  stretch of the window, so that the numbers can agree).

Upstream time is the wall time during which at least one upstream call was in
flight: HTTP from request to the last byte of the body, MongoDB from command
start to reply (pymongo's command monitoring). Everything else in a scrape
(JSON and document parsing, attribution, exposition) is exporter-only time.
"""

from __future__ import annotations

import concurrent.futures as cf
import cProfile
import gzip
import json
import os
import resource
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.registry import CollectorRegistry
from pymongo import MongoClient, monitoring

from benchmarks.fleet import END, START
from exporter.collector import AdaCarbonCollector
from exporter.config import Config, IntensityConfig, MongoConfig, PrometheusConfig
from exporter.exposition import make_metrics_app
from exporter.model import UNATTRIBUTED, Snapshot
from exporter.refresh import Refresh
from exporter.sources.intensity import FixedIntensity
from exporter.sources.mongo import MongoOwnership
from exporter.sources.prometheus.client import http_client
from exporter.sources.prometheus.promql import exact_regex, selector
from exporter.sources.prometheus.usage import PrometheusUsage

INTENSITY = 185.0
USER_FIELDS = {"platform_name": 1, "tag": 1, "_id": 0}  # the old service read each owner's
# What Prometheus 2.42 asks for: OpenMetrics, as served at /metrics.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
# A scrape as Prometheus 2.42 makes it: it asks for gzip too.
PROMETHEUS_SCRAPE = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/metrics",
    "HTTP_ACCEPT": PROMETHEUS_ACCEPT,
    "HTTP_ACCEPT_ENCODING": "gzip",
}
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


def measure_exporter(spec: dict[str, Any]) -> dict[str, Any]:
    """Scrapes through the exporter's own code path; the per-user energy of the last one."""
    spans = Spans()
    config = Config(
        scrape_budget_seconds=TIMEOUT,
        prometheus=PrometheusConfig(
            url=spec["prometheus_url"], timeout_seconds=TIMEOUT, source=spec["path"]
        ),
        mongodb=MongoConfig(uri=spec["mongo_uri"], timeout_seconds=TIMEOUT),
        carbon_intensity=IntensityConfig(source="fixed", fixed_gco2_per_kwh=INTENSITY),
    )
    http = http_client(config.prometheus, TimedTransport(spans))  # as the exporter builds it
    usage = PrometheusUsage(http, config.prometheus, config.modes.busy, config.modes.idle)
    ownership = MongoOwnership(mongo_client(spec["mongo_uri"], spans), "ada", TIMEOUT)
    profiler = cProfile.Profile() if spec.get("profile") else None
    # cProfile sees only the thread that enabled it: then run the sources in this one.
    pool = InlineExecutor() if profiler is not None else None
    engine = Refresh(config, usage, ownership, FixedIntensity(INTENSITY), "fixed", pool)
    snapshots: list[Snapshot] = []

    def refresh() -> Snapshot:
        snapshots.append(engine.snapshot(END))
        return snapshots[-1]

    # One registry and collector for the whole run, as the exporter has: registering
    # one builds its families once (describe), which is no part of a scrape.
    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(refresh))

    app = make_metrics_app(registry)

    def scrape() -> bytes:
        response = app(dict(PROMETHEUS_SCRAPE), lambda status, headers: None)
        try:
            return b"".join(response)
        finally:  # as a WSGI server does once the body is sent
            getattr(response, "close", lambda: None)()

    runs = []
    rss_before = peak_rss_mb()
    servers = ServerCPU(spec.get("server_pids", {}))
    for k in range(spec["warmup"] + spec["runs"]):
        measured = k >= spec["warmup"]
        if profiler is not None and measured:
            profiler.enable()
        snapshots.clear()
        spans.take_wall()
        servers.take()
        cpu, wall = time.process_time(), time.perf_counter()
        sent = scrape()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        body = gzip.decompress(sent)
        if profiler is not None:
            profiler.disable()
        upstream = spans.take_wall()
        (snap,) = snapshots
        runs.append(
            {
                "warmup": not measured,
                **_outcome(snap, body, sent),
                "scrape_s": wall,
                "upstream_s": upstream,
                "exporter_s": wall - upstream,
                "cpu_s": cpu,
                "servers_cpu_s": servers.take(),
            }
        )
    if profiler is not None:
        profiler.dump_stats(spec["profile"])
    engine.close()
    return {
        "runs": runs,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "split_hosts": snapshots[-1].split_hosts,
        "energy": _user_energy(snapshots[-1]),
    }


def _outcome(snap: Snapshot, body: bytes, sent: bytes) -> dict[str, Any]:
    """What one scrape made upstream and served."""
    return {
        "requests": {s: st.requests for s, st in snap.sources.items()},
        "up": all(st.up for st in snap.sources.values()),
        "series": sum(1 for line in body.split(b"\n") if line and line[:1] != b"#"),
        "bytes": len(body),
        "gzip_bytes": len(sent),
    }


def _user_energy(snap: Snapshot) -> dict[str, float]:
    energy: dict[str, float] = defaultdict(float)
    for (_, _, _, user), u in (snap.usage or {}).items():
        if user != UNATTRIBUTED:
            energy[user] += u.busy_joules + u.idle_joules
    return energy


def _old_query(
    http: httpx.Client, url: str, host: str, lo: float, hi: float
) -> tuple[float, float]:
    """The old service's query of one workspace's busy and idle CPU-seconds over (lo, hi]."""
    # The old query, with the host matched exactly (not instance=~"172.16.0.1.*").
    series = selector("node_cpu_seconds_total", {}, {"instance": exact_regex([host]) + ":[0-9]+"})
    query = f"increase({series}[{round((hi - lo) * 1000)}ms])"
    response = http.post(url + "/api/v1/query", data={"query": query, "time": f"{hi:.3f}"})
    busy = idle = 0.0
    for item in response.json()["data"]["result"]:
        mode, value = item["metric"]["mode"], float(item["value"][1])
        if mode in ("idle", "iowait"):
            idle += value
        elif mode != "steal":
            busy += value
    return busy, idle


def measure_old(spec: dict[str, Any]) -> dict[str, Any]:
    """The earlier service's way: per workspace one increase() query and one user lookup."""
    spans = Spans()
    http = httpx.Client(transport=TimedTransport(spans), timeout=TIMEOUT)
    mongo = mongo_client(spec["mongo_uri"], spans)
    ownership = MongoOwnership(mongo, "ada", TIMEOUT)
    power = Config().power
    t0, t1 = START.timestamp(), END.timestamp()
    runs: list[dict[str, Any]] = []
    energy: dict[str, float] = {}
    rss_before = peak_rss_mb()
    servers = ServerCPU(spec.get("server_pids", {}))
    for k in range(spec["warmup"] + spec["runs"]):
        spans.take_wall()
        servers.take()
        cpu, wall = time.process_time(), time.perf_counter()
        energy, prom, lookups = defaultdict(float), 0, 0
        for w in ownership.workspaces(START, END).workspaces:
            lo = max(w.owned_from if w.claimed else w.created, t0)
            hi = min(w.deleted if w.deleted is not None else t1, t1)
            if hi <= lo:
                continue
            busy, idle = _old_query(http, spec["prometheus_url"], w.host, lo, hi)
            prom += 1
            if w.claimed and w.owner:
                mongo["ada"]["users"].find_one({"platform_name": w.owner}, USER_FIELDS)
                lookups += 1
                energy[w.owner] += sum(power.joules(busy, idle))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        upstream = spans.take_wall()
        runs.append(
            {
                "warmup": k < spec["warmup"],
                "requests": {"prometheus": prom, "mongodb": 1 + lookups, "carbon_intensity": 0},
                "up": True,
                "scrape_s": wall,
                "upstream_s": upstream,
                "exporter_s": wall - upstream,
                "cpu_s": cpu,
                "servers_cpu_s": servers.take(),
                "series": 0,
                "bytes": 0,
                "gzip_bytes": 0,
            }
        )
    return {
        "runs": runs,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "split_hosts": 0,
        "energy": energy,
    }


def main() -> None:
    spec = json.load(sys.stdin)
    measure = measure_old if spec["path"] == "old" else measure_exporter
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result = measure(spec)
    result["started"] = started
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
