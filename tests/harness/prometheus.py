"""Real Prometheus for tests: backfill OpenMetrics into TSDB blocks and serve them on loopback.

Also holds the process helpers (`free_port`, `spawn_logged`, `wait_ready`, `wait_answers`,
`stop_process`) that `tests.harness.mongowire` and `tests.harness.victoria` reuse, so the
harnesses run servers the same way.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import httpx

READY_TIMEOUT_S = 20.0
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# OpenMetrics label values escape exactly these three characters.
_LABEL_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
# OpenMetrics spellings of the floats whose Python repr differs.
_SPECIAL_FLOATS = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}
# No scrape jobs: the server must only ever hold the backfilled data the test wrote.
_CONFIG = "global:\n  scrape_interval: 15s\nscrape_configs: []\n"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (racy, but fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binaries_available() -> bool:
    """Return True when both `prometheus` and `promtool` are on PATH."""
    return all(shutil.which(name) for name in ("prometheus", "promtool"))


def stop_process(proc: subprocess.Popen[bytes] | None, grace_s: float = 5.0) -> None:
    """Terminate a child process, kill it if it ignores SIGTERM, and reap it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def spawn_logged(
    command: list[str], log_path: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` with stdout and stderr appended to `log_path`, never to the test's."""
    with log_path.open("ab") as log:
        # A marker per start makes restarts visible when reading the log after a failure.
        log.write(f"--- harness start {time.strftime('%H:%M:%S')} ---\n".encode())
        log.flush()
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)


def wait_ready(
    proc: subprocess.Popen[bytes], probe: Callable[[], bool], name: str, log_path: Path
) -> None:
    """Poll `probe()` until True; on early exit or timeout stop `proc`, raise with the log tail."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        if probe():
            return
        time.sleep(0.05)
    exit_code = proc.poll()
    stop_process(proc)
    state = f"exited with {exit_code}" if exit_code is not None else "not ready in time"
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
    raise RuntimeError(f"{name} {state}; last lines of {log_path}:\n{tail}")


def wait_answers(proc: subprocess.Popen[bytes], url: str, name: str, log_path: Path) -> None:
    """:func:`wait_ready` until a GET of `url` answers 200 (a server's readiness endpoint)."""
    with httpx.Client(timeout=1.0) as client:

        def ready() -> bool:
            try:
                return client.get(url).status_code == 200
            except httpx.TransportError:
                return False  # not listening yet

        wait_ready(proc, ready, name, log_path)


def _format_number(value: float) -> str:
    text = repr(float(value))
    return _SPECIAL_FLOATS.get(text, text)


def openmetrics_counter(
    name: str, samples: Iterable[tuple[Mapping[str, str], float, float]]
) -> str:
    """Render one counter family as OpenMetrics text for `write_blocks`, without `# EOF`.

    `name` is the family name without `_total`; each sample is (labels, value, unix
    seconds). Families from several calls may be concatenated. Samples are grouped per
    series and sorted by time, because promtool 2.42 silently drops out-of-order samples;
    duplicate timestamps in a series raise ValueError, as promtool would silently drop one.
    """
    if not _METRIC_NAME.fullmatch(name) or name.endswith("_total"):
        raise ValueError(f"bad counter family name {name!r} (give it without _total)")
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for labels, value, timestamp in samples:
        for label in labels:
            if not _LABEL_NAME.fullmatch(label) or label == "__name__":
                raise ValueError(f"bad label name {label!r}")
        series.setdefault(tuple(sorted(labels.items())), []).append((timestamp, value))
    lines = [f"# TYPE {name} counter"]
    for key, points in series.items():
        points.sort()
        times = [t for t, _ in points]
        if len(set(times)) != len(times):
            raise ValueError(f"duplicate timestamps in series {name}{dict(key)}")
        rendered = ",".join(f'{k}="{v.translate(_LABEL_ESCAPES)}"' for k, v in key)
        selector = f"{name}_total{{{rendered}}}" if rendered else f"{name}_total"
        lines += [f"{selector} {_format_number(v)} {_format_number(t)}" for t, v in points]
    return "\n".join(lines) + "\n"


def write_blocks(openmetrics_text: str, data_dir: Path, max_block_duration: str = "") -> None:
    """Backfill OpenMetrics text (timestamps in seconds) into TSDB blocks under `data_dir`.

    Appends the mandatory `# EOF` if missing. Raises RuntimeError with promtool's output.
    """
    if not openmetrics_text.rstrip().endswith("# EOF"):
        openmetrics_text = openmetrics_text.rstrip("\n") + "\n# EOF\n"
    with tempfile.TemporaryDirectory(prefix="openmetrics-") as tmp:
        source = Path(tmp) / "input.om"
        source.write_text(openmetrics_text)
        write_blocks_from_file(source, data_dir, max_block_duration)


def write_blocks_from_file(
    openmetrics_file: Path, data_dir: Path, max_block_duration: str = ""
) -> None:
    """Backfill an OpenMetrics file (ending in `# EOF`) into TSDB blocks under `data_dir`.

    For data too large to hold as one string. Raises RuntimeError with promtool's output.
    promtool writes 2-hour blocks unless `max_block_duration` (e.g. "168h") allows longer
    ones, and each block costs it a pass over the file: weeks of data want longer blocks.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    command = ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(openmetrics_file)]
    if max_block_duration:
        command.insert(4, f"--max-block-duration={max_block_duration}")
    _promtool([*command, str(data_dir)])


def backfill_rules(
    server: PrometheusServer, rule_file: Path, start: float, end: float, *, file_name: str = ""
) -> None:
    """Evaluate recording rules over [start, end] (unix s) of `server`'s data, as Prometheus would.

    Prometheus only evaluates rules going forward, so history needs
    `promtool tsdb create-blocks-from rules`: it range-queries the running server at
    each rule group's interval and alignment and writes blocks, which are moved into
    the server's data directory; the server is restarted to load them. Prometheus
    then merges the overlapping blocks in its first compaction, about a minute later.

    The alignment (the evaluations' phase within the interval) is a hash of the group
    name and the rule file's path as given, so promtool runs on a copy named
    `file_name` (default: `rule_file`'s name), relative to its directory: the phase is
    then the same on every checkout, and a test can pick it by picking the name.
    promtool 2.42 also skips an evaluation falling less than a second before a 2-hour
    block boundary, so an `end` on such a boundary may lose the newest evaluation.
    """
    with tempfile.TemporaryDirectory(prefix="rules-", dir=server.workdir) as tmp:
        rules_dir, blocks_dir = Path(tmp) / "rules", Path(tmp) / "blocks"
        rules_dir.mkdir()
        blocks_dir.mkdir()
        name = file_name or rule_file.name
        shutil.copyfile(rule_file, rules_dir / name)
        command = [
            "promtool", "tsdb", "create-blocks-from", "rules", f"--url={server.url}",
            f"--start={start:.0f}", f"--end={end:.0f}", f"--output-dir={blocks_dir}", name,
        ]  # fmt: skip
        _promtool(command, cwd=rules_dir)
        server.stop()
        for block in blocks_dir.iterdir():
            shutil.move(block, server.data_dir / block.name)
    server.start()


def _promtool(command: list[str], cwd: Path | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:4])} failed (exit {result.returncode}):\n"
            f"{result.stderr.strip()}\n{result.stdout.strip()}"
        )


class PrometheusServer:
    """A real `prometheus` on 127.0.0.1 serving an existing TSDB directory.

    The config file and `prometheus.log` go to `workdir` (default: the parent of
    `data_dir`, so give every server its own parent). The port is fixed at construction,
    so `restart()` comes back at the same `url`.
    """

    def __init__(self, data_dir: Path, workdir: Path | None = None, port: int | None = None):
        self.data_dir = data_dir
        self.workdir = workdir if workdir is not None else data_dir.parent
        self.port = port if port is not None else free_port()
        self.log_path = self.workdir / "prometheus.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the benchmark reads its CPU time)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:40123`."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Launch Prometheus and block until /-/ready answers 200 (RuntimeError otherwise)."""
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError("PrometheusServer already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(_CONFIG)
        command = [
            "prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-admin-api",
            # Backfilled samples lie in the past; the default 15d retention would delete them.
            "--storage.tsdb.retention.time=100y",
        ]  # fmt: skip
        self._proc = spawn_logged(command, self.log_path)
        wait_answers(self._proc, f"{self.url}/-/ready", "prometheus", self.log_path)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s); safe to call repeatedly."""
        stop_process(self._proc)
        self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same port and data directory."""
        self.stop()
        self.start()

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
