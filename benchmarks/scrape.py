"""Benchmark whole scrapes against a real Prometheus and a MongoDB wire server.

For one tier of fleet size it generates the synthetic fleet (benchmarks.fleet),
backfills it with promtool, starts Prometheus 2 on 127.0.0.1, evaluates the
shipped recording rules over the history (promtool tsdb create-blocks-from
rules) - or, with --engine victoriametrics, imports it into VictoriaMetrics and
replays the rules with vmalert (benchmarks.engines) -, loads the workspaces
and users into nx-27017, fixes the grid intensity, and then measures three query
paths, each in a child process of its own (benchmarks.measure): the exporter
reading raw node_cpu_seconds_total, the exporter reading the recording rules,
and the earlier service's way (one query per workspace and one user lookup
each). It prints a table of medians and can write everything as JSON.
Everything runs on loopback and stops by itself.

MongoDB is nx-27017 over the wire rather than mongomock: pymongo's real network
path and BSON decoding are measured, and the server's work stays out of the
exporter process's CPU and RSS. nx-27017 is SQLite-backed and slower than
MongoDB (at L about 1 s for the workspaces query, where MongoDB takes tens of
milliseconds), which lands in the upstream time.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from benchmarks import engines
from benchmarks.engines import ENGINES, timed
from benchmarks.fleet import TIERS, Fleet, make_fleet, true_cpu_seconds
from benchmarks.results import max_deviation, print_profile, summarise, table
from exporter.config import Config
from tests.harness.mongowire import MongoWireServer

ROOT = Path(__file__).resolve().parent.parent
PATHS = ("raw", "recording_rules", "old")
EPILOG = """\
examples (2-core machine; each waits a minute for Prometheus' compaction, --no-settle skips it):
  python -m benchmarks.scrape --tier S                  about 1.5 min (CI runs it as a smoke test)
  python -m benchmarks.scrape --tier M                  about 4 min, half of it the old way
  python -m benchmarks.scrape --tier L --json L.json    about 25 min (18 the old way: --old-runs 1
                                                        saves 15); 7 GB free in --workdir or /tmp
  python -m benchmarks.scrape --tier L --profile raw.pstats   cProfile of the raw path's scrapes
  python -m benchmarks.scrape --tier M --engine victoriametrics   the same against VictoriaMetrics

columns (medians over --runs scrapes after --warmup):
  requests  upstream requests per scrape: prometheus/mongodb/carbon_intensity
  scrape    wall time of a whole scrape as Prometheus asks for it (OpenMetrics, gzip):
            snapshot + collector + /metrics body + compression
  upstream  wall time with at least one upstream request in flight
  exporter  scrape - upstream: parsing, attribution, maths, exposition, gzip
  bytes     the body, and as sent (gzip)
  cpu       CPU seconds of the exporter process (all its threads) per scrape
  Prometheus CPU, MongoDB CPU   the servers' CPU seconds during each scrape (Prometheus:
            the engine's, whichever it is): on a shared machine, all three
            processes' CPU over the cores is a floor under the scrape
  rss       peak RSS of the exporter process
"""


def load_mongo(uri: str, fleet: Fleet) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=10000)
    client["ada"]["workspaces"].insert_many([dict(d) for d in fleet.workspaces])
    client["ada"]["users"].insert_many([dict(u) for u in fleet.users])
    client.close()


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run benchmarks.measure in a fresh interpreter and return its JSON."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.measure"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=3600,  # every upstream call has its own timeout; this is the backstop
    )
    if result.returncode != 0:
        raise RuntimeError(f"measuring {spec['path']} failed:\n{result.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _runs(path: str, runs: int, old_runs: int, profile: Path | None) -> dict[str, Any]:
    """How many runs a path gets, and where its profile goes (the raw path's only)."""
    return {
        "runs": old_runs if path == "old" else runs,
        "profile": str(profile) if profile and path == "raw" else None,
    }


def run(
    tier: str,
    runs: int = 5,
    warmup: int = 1,
    old_runs: int = 5,
    workdir: Path | None = None,
    settle: bool = True,
    profile: Path | None = None,
    seed: int = 1,
    engine: str = "prometheus",
    engine_flags: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Set up the tier on `engine`, measure the three paths, return the results as plain data."""
    fleet = make_fleet(TIERS[tier], seed)
    print(
        f"tier {tier}: {len(fleet.hosts):,} hosts, {fleet.series:,} series, "
        f"{fleet.samples:,} samples, {len(fleet.workspaces):,} workspaces, "
        f"{len(fleet.users):,} users",
        file=sys.stderr,
        flush=True,
    )
    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix=f"ada-bench-{tier}-")) if workdir is None else workdir
    timings: dict[str, float] = {}
    mongo = MongoWireServer(base / "nx-27017")
    upstream: engines.Engine | None = None
    try:
        upstream = engines.start(engine, fleet, base, timings, settle, engine_flags)
        mongo.start()
        timed("mongo_load_s", lambda: load_mongo(mongo.uri, fleet), timings)
        results, energies = {}, {}
        for path in [p for p in PATHS if p != "old" or old_runs > 0]:  # --old-runs 0: not run
            spec = {
                "path": path,
                "prometheus_url": upstream.url,
                "mongo_uri": mongo.uri,
                # As an operator sets prometheus.scrape_interval: the fleet's own.
                "scrape_interval": fleet.tier.scrape_interval,
                "warmup": warmup,
                "server_pids": {"prometheus": upstream.pid, "mongodb": mongo.pid},
                **_runs(path, runs, old_runs, profile),
            }
            raw = timed(f"measure_{path}_s", functools.partial(measure, spec), timings)
            energies[path] = raw["energy"]
            results[path] = summarise(raw)
    finally:
        mongo.stop()
        if upstream is not None:
            upstream.stop()
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)
    median = {p: r["median"]["scrape_s"] for p, r in results.items()}
    power = Config().power
    truth = {u: sum(power.joules(*cpu)) for u, cpu in true_cpu_seconds(fleet).items()}
    return {
        "tier": tier,
        "engine": engine,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "engine": engines.version(engine),
            "mongodb": "nx-27017 (SQLite-backed wire server)",
        },
        "fleet": {
            "hosts": len(fleet.hosts),
            "series": fleet.series,
            "samples": fleet.samples,
            "groups": fleet.tier.groups,
            "workspaces": len(fleet.workspaces),
            "users": len(fleet.users),
            "handovers": fleet.handovers,
            "scrape_interval_s": fleet.tier.scrape_interval,
        },
        "setup": timings,
        "paths": results,
        "agreement": {
            "users": len(energies["raw"]),
            "recording_rules_vs_raw": max_deviation(energies["recording_rules"], energies["raw"]),
            **({"old_vs_raw": max_deviation(energies["old"], energies["raw"])} if old_runs else {}),
            # How far each path is from what the generator actually put in.
            **{f"{p}_vs_truth": max_deviation(energies[p], truth) for p in energies},
        },
        "speedup": {
            f"old_over_{p}": median["old"] / median[p]
            for p in ("raw", "recording_rules")
            if "old" in median
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scrape",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--tier", choices=sorted(TIERS), required=True, help="S=200, M=2,000, L=10,000 hosts")
    add("--runs", type=int, default=5, help="measured scrapes per path (5)")
    add("--warmup", type=int, default=1, help="scrapes before measuring (1)")
    add("--old-runs", type=int, default=5, help="measured scrapes of the old way (5; 0 skips it)")
    add("--json", type=Path, metavar="FILE", help="also write the results here")
    add("--workdir", type=Path, help="keep the TSDB and logs here (default: a temporary dir)")
    add("--profile", type=Path, metavar="FILE", help="cProfile the raw path into FILE, print it")
    add("--no-settle", dest="settle", action="store_false",
        help="do not wait for Prometheus' first compaction before measuring")  # fmt: skip
    add("--seed", type=int, default=1, help="fleet generator seed (1)")
    add("--engine", choices=ENGINES, default="prometheus",
        help="the query engine holding the fleet's history (prometheus)")  # fmt: skip
    add("--engine-flag", dest="engine_flags", action="append", default=[], metavar="FLAG",
        help="an extra VictoriaMetrics flag, e.g. -search.maxQueryLen=1MB (repeated)")  # fmt: skip
    args = parser.parse_args(argv)
    # SIGTERM too unwinds through run()'s finally, so no server outlives the benchmark.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    result = run(
        args.tier, args.runs, args.warmup, args.old_runs, args.workdir, args.settle,
        args.profile, args.seed, args.engine, tuple(args.engine_flags),
    )  # fmt: skip
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.profile:
        print_profile(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
