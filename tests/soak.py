"""Soak: scrape the demo exporter over HTTP many times; compare its RSS, threads and fds.

    .venv/bin/python -m tests.soak                    # 2,000 scrapes, about two minutes
    .venv/bin/python -m tests.soak --scrapes 500 --warmup 100

The exporter runs as a user runs it (``python -m exporter --demo``) on a loopback port
it picks itself; scrapes come one after another from this process. Its resources are
read from /proc after a warm-up and again at the end, each once its threads settle.
Everything is bounded: each scrape has a timeout, and the exporter is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"listening on https?://[^/]*:(\d+)/metrics")


@dataclass(frozen=True)
class Usage:
    """What the exporter process holds at one moment."""

    rss_kib: int
    threads: int
    fds: int


@dataclass(frozen=True)
class SoakResult:
    scrapes: int
    seconds: float
    after_warmup: Usage
    at_end: Usage

    @property
    def rss_growth(self) -> float:
        return self.at_end.rss_kib / self.after_warmup.rss_kib - 1

    def summary(self) -> str:
        w, e = self.after_warmup, self.at_end
        return (
            f"{self.scrapes} scrapes in {self.seconds:.1f}s "
            f"({1000 * self.seconds / self.scrapes:.1f} ms each): "
            f"RSS {w.rss_kib / 1024:.1f} -> {e.rss_kib / 1024:.1f} MiB "
            f"({100 * self.rss_growth:+.1f} %), threads {w.threads} -> {e.threads}, "
            f"fds {w.fds} -> {e.fds}"
        )


def usage(pid: int) -> Usage:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return Usage(
        rss_kib=int(fields["VmRSS"].split()[0]),
        threads=int(fields["Threads"]),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
    )


def settled(pid: int, seconds: float = 1.0) -> Usage:
    """The fewest threads and fds seen over a short while: the last scrape's thread ends."""
    seen = [usage(pid)]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        seen.append(usage(pid))
    return Usage(
        rss_kib=seen[-1].rss_kib,
        threads=min(u.threads for u in seen),
        fds=min(u.fds for u in seen),
    )


def listening_port(log: Path, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """The port the exporter logged it listens on (it was started with port 0)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        match = _LISTENING.search(log.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        time.sleep(0.05)
    raise RuntimeError(f"the exporter did not start:\n{log.read_text(errors='replace')[-2000:]}")


def scrape(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or b"ada_carbon_energy_joules{" not in body:
            raise RuntimeError(f"scrape answered {response.status}: {body[:200]!r}")
    finally:
        conn.close()


def run(scrapes: int = 2000, warmup: int = 200) -> SoakResult:
    """Start the demo exporter, scrape it ``scrapes`` times, and stop it."""
    if not 0 < warmup < scrapes:
        raise ValueError("need 0 < warmup < scrapes")
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        log = Path(tmp) / "exporter.log"
        command = [sys.executable, "-m", "exporter", "--demo", "--web.listen-address=127.0.0.1:0"]
        with log.open("wb") as out:
            proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            port = listening_port(log, proc)
            started = time.monotonic()
            for _ in range(warmup):
                scrape(port)
            after_warmup = settled(proc.pid)
            for _ in range(scrapes - warmup):
                scrape(port)
            seconds = time.monotonic() - started
            at_end = settled(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return SoakResult(scrapes, seconds, after_warmup, at_end)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args(argv)
    result = run(args.scrapes, args.warmup)
    print(result.summary())
    ok = (
        result.rss_growth <= 0.10
        and result.at_end.threads <= result.after_warmup.threads
        and result.at_end.fds <= result.after_warmup.fds
    )
    print("OK" if ok else "FAILED: RSS grew over 10 %, or threads or fds grew")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
