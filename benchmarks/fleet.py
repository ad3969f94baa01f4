"""A synthetic Ada fleet: hosts, owners, CPU counters as OpenMetrics, and MongoDB documents.

Deterministic for a seed. Every host has 4 CPUs and all 8 node_exporter modes,
scraped at its own phase within the scrape interval. How busy a host is depends
on who owns it (plus noise at every scrape), so a handover changes the load as
well as the owner: that is what makes splitting a host between owners matter.

Per tier: 5 % of hosts are READY pool workspaces, 10 % change hands inside the
window (half of the new owners claim the host 2 minutes after it is created),
the rest have one owner throughout; N/5 more workspaces were deleted days ago
(the MongoDB query must skip them), and N/2 users own all the others.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
WINDOW_SECONDS = 3600.0
START = END - timedelta(seconds=WINDOW_SECONDS)
HISTORY_SECONDS = 7200.0
CPUS = 4
MODES = ("idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user")
# How a CPU's busy and idle time divide between modes; steal is a constant sliver.
SHARES = {
    "user": 0.70,
    "system": 0.20,
    "nice": 0.03,
    "irq": 0.02,
    "softirq": 0.05,
    "idle": 0.95,
    "iowait": 0.05,
}
STEAL = 0.01
NOISE = 0.3  # each scrape interval's load is the owner's level x U(0.85, 1.15)
CPU_FACTORS = (1.3, 1.1, 0.9, 0.7)  # the CPUs of a host are not equally loaded
POOL_BUSY = 0.02
PROJECTS = (("IDAaaS", "ISIS"), ("CDAaaS", "CLF"), ("DDAaaS", "DEV"), ("TDAaaS", "TRAINING"))
MACHINES = (
    "Muon",
    "SANS",
    "Tomography",
    "Artemis (Matlab)",
    "Excitations",
    "Diffraction",
    "Reflectometry",
    "Imaging",
    "Laser",
    "Octopus",
    "Development",
    "Training",
)


@dataclass(frozen=True)
class Tier:
    name: str
    hosts: int
    scrape_interval: float  # seconds between samples of the 2 h history
    groups: int  # (cloud_project_name, machine_name) pairs: 780 at L, proportionally fewer


TIERS = {
    "S": Tier("S", 200, 15.0, 16),
    "M": Tier("M", 2_000, 60.0, 156),
    "L": Tier("L", 10_000, 60.0, 780),
}


@dataclass(frozen=True)
class Host:
    index: int
    address: str  # 172.16.x.y; node_exporter's instance is address:9100
    project: str
    machine: str
    phase: float  # offset of its scrapes within the interval, seconds
    levels: tuple[tuple[float, float], ...]  # (from unix s, busy fraction), oldest first
    owners: tuple[tuple[float, float, str], ...] = ()  # (from, until, user): the truth

    def busy_at(self, t: float) -> float:
        """The owner's busy fraction at ``t`` (before noise); the first level before it starts."""
        level = self.levels[0][1]
        for start, busy in self.levels:
            if start <= t:
                level = busy
        return level


@dataclass(frozen=True)
class Fleet:
    tier: Tier
    seed: int
    hosts: tuple[Host, ...]
    workspaces: tuple[dict[str, Any], ...]
    users: tuple[dict[str, Any], ...]
    handovers: int

    @property
    def series(self) -> int:
        return len(self.hosts) * CPUS * len(MODES)

    @property
    def samples(self) -> int:
        return self.series * samples_per_series(self.tier)


def samples_per_series(tier: Tier) -> int:
    """2 h of scrapes, and one more: the last interval then reaches past END, so the
    generator defines the load of the whole window (the truth ends nowhere short)."""
    return int(HISTORY_SECONDS // tier.scrape_interval) + 1


def groups(count: int) -> list[tuple[str, str, str]]:
    """``count`` distinct (cloud_project_name, tag, machine_name), spread over the projects."""
    out = []
    for k in range(count):
        project, tag = PROJECTS[k % len(PROJECTS)]
        j = k // len(PROJECTS)
        base, rnd = MACHINES[j % len(MACHINES)], j // len(MACHINES)
        out.append((project, tag, base if rnd == 0 else f"{base} {rnd + 1}"))
    return out


def _naive(t: float) -> datetime:
    """A BSON date as pymongo stores it: naive UTC."""
    return datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None)


def make_fleet(tier: Tier, seed: int = 1) -> Fleet:
    """The hosts, workspaces and users of a tier (deterministic for ``seed``)."""
    rng = random.Random(seed)
    t_end = END.timestamp()
    t_start, t_history = t_end - WINDOW_SECONDS, t_end - HISTORY_SECONDS
    day = 86400.0
    names = [
        f"{chr(97 + n % 26)}{chr(97 + n // 26 % 26)}{100000 + n}" for n in range(tier.hosts // 2)
    ]
    rng.shuffle(names)
    owners = itertools.cycle(names)
    hosts: list[Host] = []
    docs: list[dict[str, Any]] = []
    handovers = 0
    tenures: tuple[tuple[float, float, str], ...]

    def workspace(wid: str, host: int, owner: str | None, state: str, created: float,
                  deleted: float | None = None, acquired: float | None = None) -> None:  # fmt: skip
        address = hosts[host].address
        doc: dict[str, Any] = {
            "_id": wid,
            # Ada stores an address in either spelling; the exporter must match both.
            "hostname": address
            if host % 3
            else f"host-{address.replace('.', '-')}.nubes.stfc.ac.uk",
            "owner": owner,
            "state": state,
            "tag": tags[host],
            "created_time": _naive(created),
            "deleted_time": None if deleted is None else _naive(deleted),
        }
        if acquired is not None:
            doc["acquired_time"] = _naive(acquired)
        docs.append(doc)

    all_groups = groups(tier.groups)
    tags: list[str] = []
    for i in range(tier.hosts):
        project, tag, machine = all_groups[i % len(all_groups)]
        tags.append(tag)
        phase = rng.uniform(0.0, tier.scrape_interval)
        busy = rng.uniform(0.05, 0.9)
        since = t_end - rng.uniform(1, 30) * day
        address = f"172.16.{i // 250}.{i % 250 + 1}"
        if i % 20 == 5:  # a READY pool workspace: measured, owned by nobody
            hosts.append(Host(i, address, project, machine, phase, ((t_history, POOL_BUSY),)))
            workspace(f"ws-{i}", i, None, "READY", since)
        elif i % 10 == 1:  # handed over inside the window, load changing with the owner
            handovers += 1
            at = float(round(rng.uniform(t_start + 300, t_end - 300)))
            claimed = at + 120 if i % 20 == 11 else at  # half are claimed 2 min after creation
            old, new = next(owners), next(owners)
            levels = ((t_history, busy), (at, rng.uniform(0.05, 0.9)))
            tenures = ((since, at, old), (claimed, t_end, new))
            hosts.append(Host(i, address, project, machine, phase, levels, tenures))
            workspace(f"ws-{i}-a", i, old, "DELETED", since, deleted=at)
            workspace(
                f"ws-{i}-b", i, new, "CLAIMED", at, acquired=claimed if claimed > at else None
            )
        else:
            owner = next(owners)
            tenures = ((since, t_end, owner),)
            hosts.append(Host(i, address, project, machine, phase, ((t_history, busy),), tenures))
            workspace(f"ws-{i}", i, owner, "CLAIMED", since)
    for k in range(tier.hosts // 5):  # long gone: the query must not return these
        gone = t_end - rng.uniform(2, 20) * day
        workspace(f"ws-old-{k}", rng.randrange(tier.hosts), next(owners), "DELETED",
                  gone - 7 * day, deleted=gone)  # fmt: skip
    users = tuple(
        {
            "platform_name": name,
            "uid": 20000 + n,
            "gid": 20000 + n,
            "tag": PROJECTS[n % len(PROJECTS)][1],
            "name": f"Synthetic User {n}",
            "email": f"{name}@example.org",
            "auth_providers": ["fedid"],
            "parameters": {"last_login": _naive(t_end - n)},
        }
        for n, name in enumerate(sorted(names))
    )
    return Fleet(tier, seed, tuple(hosts), tuple(docs), users, handovers)


def cpu_loads(fleet: Fleet, host: Host) -> tuple[list[float], list[list[float]]]:
    """A host's scrape times and, per CPU, its busy fraction in the interval ending at each.

    Drawn from a generator of the host's own, so any host can be recomputed alone.
    """
    rng = random.Random(f"{fleet.seed}/load/{host.index}")
    interval = fleet.tier.scrape_interval
    t0 = END.timestamp() - HISTORY_SECONDS
    times = [t0 + host.phase + k * interval for k in range(samples_per_series(fleet.tier))]
    # Usage in (t - interval, t] follows the owner at the interval's middle.
    load = [host.busy_at(t - interval / 2) * (1 + NOISE * (rng.random() - 0.5)) for t in times]
    return times, [[min(0.97, b * factor) for b in load] for factor in CPU_FACTORS]


def write_openmetrics(fleet: Fleet, out: TextIO) -> None:
    """Stream the 2 h history of ``node_cpu_seconds_total`` for every host, cpu and mode.

    One host at a time, so memory stays flat whatever the fleet size. Counters
    start at a random value; each interval adds the mode's share of the load.
    """
    interval = fleet.tier.scrape_interval
    out.write("# TYPE node_cpu_seconds counter\n")
    for host in fleet.hosts:
        rng = random.Random(f"{fleet.seed}/counters/{host.index}")
        times, loads = cpu_loads(fleet, host)
        stamps = [f" {t:.3f}\n" for t in times]
        labels = (
            f'cloud_project_name="{host.project}",instance="{host.address}:9100",job="node",'
            f'machine_name="{host.machine}"'
        )
        for cpu, busy in enumerate(loads):
            for mode in MODES:
                if mode == "steal":
                    step = [STEAL * interval] * len(times)
                elif mode in ("idle", "iowait"):
                    step = [SHARES[mode] * (1 - STEAL - b) * interval for b in busy]
                else:
                    step = [SHARES[mode] * b * interval for b in busy]
                prefix = f'node_cpu_seconds_total{{{labels},cpu="{cpu}",mode="{mode}"}} '
                value = rng.uniform(1e4, 1e6)
                lines = []
                for k, stamp in enumerate(stamps):
                    value += step[k]
                    lines.append(f"{prefix}{value:.3f}{stamp}")
                out.write("".join(lines))
    out.write("# EOF\n")


def true_cpu_seconds(fleet: Fleet) -> dict[str, tuple[float, float]]:
    """Each user's busy and idle CPU-seconds over the window, straight from the generator.

    Load is uniform within each scrape interval, so an owner gets each interval
    in proportion to the part of it they owned: no sampling, no extrapolation.
    """
    interval = fleet.tier.scrape_interval
    t_end = END.timestamp()
    t_start = t_end - WINDOW_SECONDS
    truth: dict[str, list[float]] = {}
    for host in fleet.hosts:
        if not host.owners:
            continue
        times, loads = cpu_loads(fleet, host)
        for k, t in enumerate(times):
            busy = sum(cpu[k] for cpu in loads) * interval
            idle = sum(1 - STEAL - cpu[k] for cpu in loads) * interval
            for start, until, user in host.owners:
                owned = min(t, until, t_end) - max(t - interval, start, t_start)
                if owned > 0:
                    acc = truth.setdefault(user, [0.0, 0.0])
                    acc[0] += busy * owned / interval
                    acc[1] += idle * owned / interval
    return {user: (busy, idle) for user, (busy, idle) in truth.items()}
