"""The simulated Ada fleet behind ``--demo``: hosts, users, ownership and CPU load over time.

Everything is a pure function of the seed and the time asked about (no ``random``
state), so two scrapes a minute apart see moving numbers while any single answer
can be reproduced exactly. :mod:`exporter.demo` turns this into the three sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exporter.embodied import EmbodiedModel
from exporter.model import User

_MASK = (1 << 64) - 1
_BLOCK = 12 * 3600  # a host's timeline is planned in 12 h blocks, so any moment is cheap to find
_POOL_BUSY = 0.02  # a READY workspace still runs its agents

# (OpenStack project, workspace tag, machine type, cores, hosts)
_MACHINES = (
    ("IDAaaS", "ISIS", "Muon", 4, 6),
    ("IDAaaS", "ISIS", "SANS", 4, 5),
    ("IDAaaS", "ISIS", "Tomography", 16, 4),
    ("IDAaaS", "ISIS", "Excitations", 8, 6),
    ("IDAaaS", "ISIS", "Diffraction", 8, 5),
    ("IDAaaS", "ISIS", "Reflectometry", 4, 4),
    ("IDAaaS", "ISIS", "Imaging", 8, 5),
    ("CDAaaS", "CLF", "Artemis (Matlab)", 8, 5),
    ("CDAaaS", "CLF", "Laser", 4, 5),
    ("CDAaaS", "CLF", "Octopus", 8, 4),
    ("DDAaaS", "DEV", "Development", 2, 5),
    ("DDAaaS", "DEV", "Development (Large)", 16, 3),
    ("TDAaaS", "TRAINING", "Training", 2, 7),
)
# The demo's embodied models (illustrative figures, not Ada's): every machine type a share
# of a 64-core server of 1.5 tCO2e, the 16-core types of a GPU server of 4 t; Training
# has none, to show a machine type priced nothing (ada_carbon_embodied_unconfigured_hosts).
_SERVER_KGCO2E = {2: 1500.0, 4: 1500.0, 8: 1500.0, 16: 4000.0}
_SUBNET = {"IDAaaS": 100, "CDAaaS": 101, "DDAaaS": 102, "TDAaaS": 103}
_USERS_PER_TAG = {"ISIS": 16, "CLF": 7, "DEV": 4, "TRAINING": 5}


def embodied_models() -> dict[str, EmbodiedModel]:
    """The embodied model of each demo machine type but Training."""
    return {
        machine: EmbodiedModel(_SERVER_KGCO2E[cores], cores, 64)
        for _, _, machine, cores, _ in _MACHINES
        if machine != "Training"
    }


def stable_hash(*parts: int) -> int:
    """A 64-bit hash of integers (splitmix64 rounds): unlike hash(), stable across runs."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & _MASK)) * 0xBF58476D1CE4E5B9) & _MASK
        h = ((h ^ (h >> 31)) * 0x94D049BB133111EB) & _MASK
        h ^= h >> 29
    return h


def stable_unit(*parts: int) -> float:
    """A number in [0, 1) fixed by the integers."""
    return stable_hash(*parts) / 2.0**64


@dataclass(frozen=True)
class DemoHost:
    """One simulated workspace VM and how node_exporter labels it."""

    index: int
    ip: str
    hostname: str  # as the workspace record stores it: the IP, or host-a-b-c-d.nubes...
    project: str
    tag: str
    machine: str
    cores: int

    @property
    def instance(self) -> str:
        return f"{self.ip}:9100"


@dataclass(frozen=True)
class DemoTenure:
    """One workspace's life on a host; times are whole minutes in unix seconds."""

    workspace_id: str
    created: int
    deleted: int
    owner: str | None  # None: a pool workspace nobody claimed
    acquired: int | None  # when a pool workspace was claimed; None if claimed at creation
    effort: float  # how hard this owner works the machine, 0.4-1.3


class DemoFleet:
    """The simulated fleet: hosts, users, and who holds each host at any time."""

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed
        self.users = self._make_users()
        by_tag: dict[str, list[str]] = {}
        for user in self.users:
            by_tag.setdefault(user.tag, []).append(user.platform_name)
        self._owners = {tag: tuple(names) for tag, names in by_tag.items()}
        self.hosts = self._make_hosts()
        self.by_instance = {host.instance: host for host in self.hosts}
        self._blocks: dict[tuple[int, int], tuple[DemoTenure, ...]] = {}

    def _make_users(self) -> tuple[User, ...]:
        users: dict[str, User] = {}
        for tag, count in _USERS_PER_TAG.items():
            n = 0
            while sum(u.tag == tag for u in users.values()) < count:
                r = stable_hash(self.seed, 0x05E7, len(tag), ord(tag[0]), n)
                name = f"{chr(97 + r % 26)}{chr(97 + (r >> 8) % 26)}{(r >> 16) % 1_000_000:06d}"
                users.setdefault(name, User(platform_name=name, tag=tag))
                n += 1
        return tuple(users.values())

    def _make_hosts(self) -> tuple[DemoHost, ...]:
        hosts: list[DemoHost] = []
        for project, tag, machine, cores, count in _MACHINES:
            third = _SUBNET[project]
            taken = {h.ip for h in hosts}
            # Seed-shuffled last octets, so prefixes like .5 and .50 share a subnet, as in Ada.
            octets = sorted(range(2, 255), key=lambda y: stable_hash(self.seed, third, y))
            for last in [y for y in octets if f"172.16.{third}.{y}" not in taken][:count]:
                ip = f"172.16.{third}.{last}"
                index = len(hosts)
                dashed = index % 9 == 4  # a few records use the OpenStack DNS name
                hostname = f"host-{ip.replace('.', '-')}.nubes.stfc.ac.uk" if dashed else ip
                hosts.append(DemoHost(index, ip, hostname, project, tag, machine, cores))
        return tuple(hosts)

    def tenures(self, host: DemoHost, start: float, end: float) -> list[DemoTenure]:
        """The workspaces on ``host`` alive at any moment of [start, end], oldest first."""
        offset = (stable_hash(self.seed, host.index, 0xB10C) % 720) * 60
        first, last = int((start - offset) // _BLOCK), int((end - offset) // _BLOCK)
        return [
            t
            for k in range(first, last + 1)
            for t in self._block(host, k, offset)
            if t.created <= end and t.deleted > start
        ]

    def _block(self, host: DemoHost, k: int, offset: int) -> tuple[DemoTenure, ...]:
        cached = self._blocks.get((host.index, k))
        if cached is not None:
            return cached
        if len(self._blocks) > 20_000:  # long history queries must not grow this for ever
            self._blocks.clear()
        owners = self._owners[host.tag]
        block_end = k * _BLOCK + offset + _BLOCK
        cursor = block_end - _BLOCK + (stable_hash(self.seed, host.index, k) % 30) * 60
        out: list[DemoTenure] = []
        while cursor + 1800 <= block_end:
            r = stable_hash(self.seed, host.index, k, len(out))
            end = min(cursor + (60 + r % 241) * 60, block_end)  # tenures of 1-5 h
            kind = (r >> 16) % 20  # 3 in 20 pool-only, 6 in 20 pool-then-claimed
            delay = (10 + (r >> 24) % 50) * 60
            acquired = min(cursor + delay, end - 600) if 3 <= kind < 9 else None
            owner = None if kind < 3 else owners[(r >> 32) % len(owners)]
            wid = f"{r >> 8:014x}{stable_hash(r, 1) >> 24:010x}"  # 24 hex digits, like an ObjectId
            effort = 0.4 + 0.9 * stable_unit(r, 2)
            out.append(DemoTenure(wid, cursor, end, owner, acquired, effort))
            cursor = end + (5 + (r >> 40) % 41) * 60  # 5-45 min with no workspace
        self._blocks[host.index, k] = result = tuple(out)
        return result

    def busy_shares(self, host: DemoHost, first_minute: int, stop_minute: int) -> list[float]:
        """The share of ``host``'s cores busy in each unix minute of [first, stop)."""
        tenures = self.tenures(host, first_minute * 60, stop_minute * 60)
        phase = (stable_unit(self.seed, host.index, 1) - 0.5) * 3.0  # hours
        period = 2400 + 3000 * stable_unit(self.seed, host.index, 2)  # a 40-90 min work rhythm
        wave0 = 2 * math.pi * stable_unit(self.seed, host.index, 3)
        shares: list[float] = []
        i = 0
        for minute in range(first_minute, stop_minute):
            t = minute * 60
            while i < len(tenures) and tenures[i].deleted <= t:
                i += 1
            ten = tenures[i] if i < len(tenures) and tenures[i].created <= t else None
            if ten is None:
                shares.append(0.0)
            elif ten.owner is None or (ten.acquired is not None and t < ten.acquired):
                shares.append(_POOL_BUSY)
            else:
                wave = 0.1 * math.sin(2 * math.pi * t / period + wave0)
                noise = (stable_unit(self.seed, host.index, minute) - 0.5) * 0.1
                busy = ten.effort * (0.05 + 0.7 * _work(t, phase)) + wave + noise
                shares.append(min(1.0, max(0.0, busy)))
        return shares


def _work(t: int, phase: float) -> float:
    """How hard people work at unix time ``t`` (0-1), for a host ``phase`` hours off."""
    hour = ((t % 86400) / 3600 + phase) % 24
    # Working hours peak early afternoon; nights are quiet but not dead.
    work = 0.5 - 0.5 * math.cos(2 * math.pi * (hour - 7) / 12) if 7 <= hour <= 19 else 0
    if (t // 86400 + 3) % 7 >= 5:  # 1970-01-01 was a Thursday; weekends are quiet
        work *= 0.3
    return work
