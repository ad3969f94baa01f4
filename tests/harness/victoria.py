"""Real VictoriaMetrics for tests: a single node on loopback, loaded by import, rules by vmalert.

The Debian package `victoria-metrics` (1.79) ships both `victoria-metrics` and `vmalert`.
Data goes in through `/api/v1/import/prometheus` (the text format, timestamps in
milliseconds), converted from the OpenMetrics the Prometheus harness writes
(`tests.harness.prometheus.openmetrics_counter`, `ada-carbon-exporter backfill`).
Recording rules over the loaded history come from `vmalert` in replay mode, the way
VictoriaMetrics users backfill them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx

from tests.harness.prometheus import free_port, spawn_logged, stop_process, wait_answers

BINARIES = ("victoria-metrics", "vmalert")
# Lines per chunk of the streamed import body.
_CHUNK_LINES = 2_000


def binaries_available() -> bool:
    """Return True when both `victoria-metrics` and `vmalert` are on PATH."""
    return all(shutil.which(name) for name in BINARIES)


def import_lines(openmetrics: Iterable[str]) -> Iterator[str]:
    """OpenMetrics sample lines as the Prometheus text format VictoriaMetrics imports.

    Comments (`# TYPE`, `# HELP`, `# EOF`) are dropped: the import needs none. Each
    line's last two fields are its value and its time in seconds, written here in
    milliseconds; a line without a time raises ValueError, as it would be stamped now.
    """
    for line in openmetrics:
        if not line.strip() or line.startswith("#"):
            continue
        head, value, seconds = line.rstrip("\n").rsplit(" ", 2)
        if "{" in head and not head.endswith("}"):
            raise ValueError(f"sample without a timestamp: {line!r}")
        yield f"{head} {value} {round(float(seconds) * 1000)}\n"


def version() -> str:
    """The installed version (Debian's build of 1.79 prints none itself: ask dpkg)."""
    if shutil.which("dpkg-query") is None:
        return "unknown"
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "victoria-metrics"], capture_output=True, text=True
    )
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def rfc3339(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class VictoriaMetricsServer:
    """A real single-node `victoria-metrics` on 127.0.0.1 with its own storage directory.

    Default flags but two that every test needs: a retention long enough for
    backfilled samples (VictoriaMetrics drops samples older than its retention at
    import), and loopback. `flags` adds others, e.g. `-search.maxStalenessInterval=5m`.
    """

    def __init__(self, workdir: Path, flags: Iterable[str] = (), port: int | None = None):
        self.workdir = workdir
        self.flags = tuple(flags)
        self.port = port if port is not None else free_port()
        self.data_dir = workdir / "data"
        self.log_path = workdir / "victoria-metrics.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the benchmark reads its CPU time)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:40123` (the Prometheus API is under /api/v1)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Launch VictoriaMetrics and block until /health answers 200 (RuntimeError otherwise)."""
        if self.pid is not None:
            raise RuntimeError("VictoriaMetricsServer already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            "victoria-metrics", f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr=127.0.0.1:{self.port}", "-retentionPeriod=100y", *self.flags,
        ]  # fmt: skip
        self._proc = spawn_logged(command, self.log_path)
        wait_answers(self._proc, f"{self.url}/health", "victoria-metrics", self.log_path)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s); safe to call repeatedly."""
        stop_process(self._proc)
        self._proc = None

    def load(self, openmetrics: str | Iterable[str]) -> int:
        """Import OpenMetrics text (or its lines, e.g. an open file); return the samples sent.

        Streamed in one request, so a file of any size costs little memory. Then makes
        the samples visible to queries at once and drops any cached query results.
        """
        lines = openmetrics.splitlines() if isinstance(openmetrics, str) else openmetrics
        sent = 0

        def chunks() -> Iterator[bytes]:
            nonlocal sent
            batch: list[str] = []
            for line in import_lines(lines):
                batch.append(line)
                if len(batch) == _CHUNK_LINES:
                    sent += len(batch)
                    yield "".join(batch).encode()
                    batch.clear()
            sent += len(batch)
            yield "".join(batch).encode()

        with httpx.Client(timeout=600.0) as client:
            url = f"{self.url}/api/v1/import/prometheus"
            client.post(url, content=chunks()).raise_for_status()
        self.settle()
        return sent

    def settle(self) -> None:
        """Make every sample received so far searchable and forget cached query results."""
        with httpx.Client(timeout=60.0) as client:
            client.get(f"{self.url}/internal/force_flush").raise_for_status()
            client.get(f"{self.url}/internal/resetRollupResultCache").raise_for_status()

    def replay_rules(self, rule_file: Path, start: float, end: float, step: str = "1m") -> None:
        """Evaluate recording rules over [start, end] (unix s) with `vmalert` replay mode.

        vmalert range-queries this server and writes the results back by remote write.
        `step` is `-datasource.queryStep`, the spacing of the evaluations written: it
        must be the rule group's interval (1m); vmalert's own default, 5m, writes one
        evaluation every 5 minutes, which is what a misconfigured deployment gets.
        """
        command = [
            "vmalert", f"-rule={rule_file}", f"-datasource.url={self.url}",
            f"-remoteWrite.url={self.url}", f"-replay.timeFrom={rfc3339(start)}",
            f"-replay.timeTo={rfc3339(end)}", "-replay.disableProgressBar",
            # The rules read raw counters only, never one another: no wait between them.
            "-replay.rulesDelay=0", "-httpListenAddr=127.0.0.1:0",
        ]  # fmt: skip
        if step:
            command.append(f"-datasource.queryStep={step}")
        log = self.workdir / "vmalert.log"
        with log.open("ab") as out:
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=600)
        if result.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"vmalert replay failed (exit {result.returncode}):\n{tail}")
        self.settle()

    def __enter__(self) -> VictoriaMetricsServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
