"""The query engine a benchmark runs against: Prometheus 2 (the default) or VictoriaMetrics.

Either gets the fleet's history and the shipped recording rules evaluated over it,
each the way its users do it: Prometheus from TSDB blocks written by promtool (and
the rules by `promtool tsdb create-blocks-from rules`), VictoriaMetrics by
`/api/v1/import/prometheus` (and the rules by `vmalert` replay at their 1m interval).
"""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx

from benchmarks.fleet import END, HISTORY_SECONDS, Fleet, write_openmetrics
from tests.harness import victoria
from tests.harness.prometheus import PrometheusServer, backfill_rules, write_blocks_from_file
from tests.harness.victoria import VictoriaMetricsServer

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "prometheus" / "ada-carbon-rules.yml"
ENGINES = ("prometheus", "victoriametrics")


class Engine(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def pid(self) -> int | None: ...
    def stop(self) -> None: ...


def timed(label: str, fn: Callable[[], Any], timings: dict[str, float]) -> Any:
    started = time.perf_counter()
    result = fn()
    timings[label] = round(time.perf_counter() - started, 2)
    print(f"  {label}: {timings[label]:.1f} s", file=sys.stderr, flush=True)
    return result


def generate(fleet: Fleet, source: Path, timings: dict[str, float]) -> None:
    """Stream the fleet's OpenMetrics to a file."""
    source.parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        with source.open("w", encoding="utf-8", buffering=1 << 20) as out:
            write_openmetrics(fleet, out)

    timed("generate_openmetrics_s", write, timings)
    timings["openmetrics_gb"] = round(source.stat().st_size / 1e9, 2)


def wait_for_compaction(url: str, timeout: float = 180.0) -> bool:
    """Wait until Prometheus has merged the overlapping rule blocks (its first compaction).

    Otherwise the merge, a minute after start, would steal CPU from the measurements.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = {
            name: float(value)
            for name, _, value in (
                line.partition(" ")
                for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines()
            )
            if name.startswith("prometheus_tsdb_compactions_")
        }
        if metrics.get("prometheus_tsdb_compactions_total", 0) >= 1:
            return True
        time.sleep(2)
    return False


def start(
    engine: str,
    fleet: Fleet,
    base: Path,
    timings: dict[str, float],
    settle: bool = True,
    flags: tuple[str, ...] = (),
) -> Engine:
    """Load the fleet and its rules into a started `engine` under `base`; stop it when done.

    `flags` are extra command-line flags for VictoriaMetrics (its defaults otherwise).
    """
    source = base / "fleet.om"
    generate(fleet, source, timings)
    first_rule = END.timestamp() - HISTORY_SECONDS + 180  # rate()[2m] needs two samples
    if engine == "victoriametrics":
        vm = VictoriaMetricsServer(base / "victoria-metrics", flags)
        try:
            timed("victoriametrics_start_s", vm.start, timings)
            with source.open(encoding="utf-8") as lines:
                timed("victoriametrics_import_s", lambda: vm.load(lines), timings)
            source.unlink()
            replay = functools.partial(vm.replay_rules, RULES, first_rule, END.timestamp())
            timed("vmalert_replay_s", replay, timings)
        except BaseException:
            vm.stop()
            raise
        return vm
    data_dir = base / "prometheus" / "data"
    timed("promtool_openmetrics_s", lambda: write_blocks_from_file(source, data_dir), timings)
    source.unlink()
    prometheus = PrometheusServer(data_dir)
    try:
        timed("prometheus_start_s", prometheus.start, timings)
        rules = functools.partial(backfill_rules, prometheus, RULES, first_rule, END.timestamp())
        timed("promtool_rules_s", rules, timings)
        if settle:
            timed("compaction_wait_s", lambda: wait_for_compaction(prometheus.url), timings)
    except BaseException:
        prometheus.stop()
        raise
    return prometheus


def version(engine: str) -> str:
    if engine == "victoriametrics":
        return f"VictoriaMetrics {victoria.version()}"
    out = subprocess.run(["prometheus", "--version"], capture_output=True, text=True).stdout
    return "Prometheus " + out.split("\n", 1)[0].removeprefix("prometheus, version ")
