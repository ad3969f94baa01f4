"""A fleet where a third of the hosts change hands at odd moments, and the exact truth.

Every host's busy rate per CPU is a step function: constant during each tenure and
during each gap between owners (an idle pool workspace), stepping up or down at
every handover. Handovers fall at arbitrary times (milliseconds, never on the
minute), gaps last 1 to 10 minutes, and some hosts change hands twice in the
window. node_cpu_seconds_total is integrated from those rates exactly and
"scraped" every 15 s, each host at its own phase. The truth is the generator's own
integral of each tenure's rates over the window, never the exporter's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from exporter.model import UNATTRIBUTED, Workspace
from tests.harness.prometheus import openmetrics_counter
from tests.scenario import BUSY_W, END, IDLE_W, WINDOW

T = END.timestamp()
HISTORY = 2 * WINDOW
SCRAPE = 15.0
PROJECT = "IDAaaS"
Key = tuple[str, str, str]  # (project, machine, user)


@dataclass(frozen=True)
class Piece:
    """[start, end) of a host at ``busy`` CPU-seconds per second per CPU, held by ``user``."""

    start: float
    end: float
    user: str  # UNATTRIBUTED for a gap between owners
    busy: float


@dataclass(frozen=True)
class Host:
    instance: str
    machine: str
    cpus: int
    phase: float  # seconds after the minute of its first scrape
    pieces: tuple[Piece, ...]  # in time order, covering the whole history

    def busy_counter(self, t: float) -> float:
        """CPU-seconds busy per CPU since the start of the history, at ``t``."""
        return sum(p.busy * (min(t, p.end) - p.start) for p in self.pieces if p.start < t)


def _boundaries(rng: random.Random, kind: int) -> list[tuple[float, float]]:
    """(owner leaves, next owner arrives) per handover, at odd times inside the window."""
    out: list[tuple[float, float]] = []
    twice = kind >= 2
    at = rng.uniform(T - WINDOW + 120, T - (1500 if twice else 700))
    for k in range(1 + twice):
        at = round(at, 3)
        gap = 0.0 if (kind + k) % 2 else round(rng.uniform(60, 600), 3)
        out.append((at, at + gap))
        at = rng.uniform(at + gap + 60, T - 120)
    return out


def fleet(hosts: int = 48, changing: int = 16, seed: int = 19) -> list[Host]:
    """``hosts`` hosts, the first ``changing`` of which change hands once or twice."""
    rng = random.Random(seed)
    users = [f"u{k:02d}" for k in range(12)]
    out = []
    for i in range(hosts):
        pieces = []
        start, user = T - HISTORY, users[i % len(users)]
        for left, arrived in _boundaries(rng, i % 4) if i < changing else ():
            pieces.append(Piece(start, left, user, round(rng.uniform(0.05, 0.95), 3)))
            if arrived > left:
                pieces.append(Piece(left, arrived, UNATTRIBUTED, round(rng.uniform(0.0, 0.05), 3)))
            start, user = arrived, rng.choice([u for u in users if u != user])
        pieces.append(Piece(start, T + 1, user, round(rng.uniform(0.05, 0.95), 3)))
        instance = f"172.16.{110 + i // 200}.{i % 200 + 1}:9100"
        phase = round(rng.uniform(0, SCRAPE), 3)
        out.append(Host(instance, f"Type{i % 4}", 1 + i % 3, phase, tuple(pieces)))
    return out


def openmetrics(hosts: list[Host], scrape: float = SCRAPE) -> str:
    """Two hours of node_cpu_seconds_total (user and idle) for every host and CPU, scraped
    every ``scrape`` seconds."""
    samples = []
    for h in hosts:
        t = T - HISTORY + h.phase
        while t <= T:
            busy = h.busy_counter(t)
            for cpu in range(h.cpus):
                for mode, value in (("user", busy), ("idle", (t - T + HISTORY) - busy)):
                    labels = {"instance": h.instance, "cloud_project_name": PROJECT}
                    labels |= {"machine_name": h.machine, "job": "node"}
                    labels |= {"cpu": str(cpu), "mode": mode}
                    samples.append((labels, 1e6 + value, round(t, 3)))
            t += scrape
    return openmetrics_counter("node_cpu_seconds", samples)


def workspaces(hosts: list[Host]) -> list[Workspace]:
    """A claimed workspace per tenure; none for the gaps (the host idles in the pool)."""
    out = []
    for h in hosts:
        ip = h.instance.split(":")[0]
        for k, p in enumerate(h.pieces):
            if p.user == UNATTRIBUTED:
                continue
            created = p.start if k else T - 86400
            deleted = p.end if k < len(h.pieces) - 1 else None
            out.append(Workspace(f"{ip}-{k}", ip, ip, p.user, "CLAIMED", "ISIS", created, deleted))
    return out


def truth(hosts: list[Host]) -> tuple[dict[Key, float], dict[Key, float]]:
    """Per (project, machine, user): the true energy (J) over the window, and the
    tolerance of the issue's target: 2 % of it or one CPU-minute of its host's usage
    (a CPU of it for a minute at its mean over the window; summed over the hosts of a
    value that changed hands), whichever is larger."""
    joules: dict[Key, float] = {}
    minute: dict[Key, float] = {}
    for h in hosts:
        host_joules = 0.0
        keys = set()
        for p in h.pieces:
            seconds = max(0.0, min(p.end, T) - max(p.start, T - WINDOW))
            if seconds <= 0:
                continue
            key = (PROJECT, h.machine, p.user)
            keys.add(key)
            j = h.cpus * seconds * (BUSY_W * p.busy + IDLE_W * (1 - p.busy))
            joules[key] = joules.get(key, 0.0) + j
            host_joules += j
        for key in keys if len(keys) > 1 else ():
            minute[key] = minute.get(key, 0.0) + host_joules * 60 / WINDOW / h.cpus
    tolerance = {k: max(0.02 * j, minute.get(k, 0.0)) for k, j in joules.items()}
    return joules, tolerance
