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

import cProfile
import gzip
import json
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import httpx
from prometheus_client.registry import CollectorRegistry

from benchmarks.fleet import END, START
from benchmarks.timing import (
    TIMEOUT,
    InlineExecutor,
    ServerCPU,
    Spans,
    TimedTransport,
    mongo_client,
    peak_rss_mb,
)
from exporter.attribution.timelines import owned_from, owner_of
from exporter.collectors import AdaCarbonCollector
from exporter.commands.serve import tune_gc
from exporter.config import Config, IntensityConfig, MongoConfig, PrometheusConfig
from exporter.exposition import make_metrics_app
from exporter.model import UNATTRIBUTED, Snapshot
from exporter.refresh import Refresh
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.mongodb import MongoOwnership
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


def measure_exporter(spec: dict[str, Any]) -> dict[str, Any]:
    """Scrapes through the exporter's own code path; the per-user energy of the last one."""
    spans = Spans()
    config = Config(
        scrape_budget_seconds=TIMEOUT,
        prometheus=PrometheusConfig(
            url=spec["prometheus_url"],
            timeout_seconds=TIMEOUT,
            source=spec["path"],
            scrape_interval_seconds=spec["scrape_interval"],
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
    tune_gc()  # as `serve` does

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
        split_hosts, energy = snap.split_hosts, _user_energy(snap)
        # The body and snapshot are the benchmark's copies: let go before the next scrape
        # (the exporter keeps neither while it refreshes), so the peak RSS is its own.
        del snap, body, sent
        snapshots.clear()
    if profiler is not None:
        profiler.dump_stats(spec["profile"])
    engine.close()
    return {
        "runs": runs,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "split_hosts": split_hosts,
        "energy": energy,
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
            owner = owner_of(w)
            lo = max(owned_from(w) if owner else w.created, t0)
            hi = min(w.deleted if w.deleted is not None else t1, t1)
            if hi <= lo:
                continue
            busy, idle = _old_query(http, spec["prometheus_url"], w.host, lo, hi)
            prom += 1
            if owner:
                mongo["ada"]["users"].find_one({"platform_name": w.owner}, USER_FIELDS)
                lookups += 1
                energy[owner] += sum(power.joules(busy, idle))
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
