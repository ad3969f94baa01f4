"""A small Ada fleet with steady CPU rates, so every expected number can be worked out by hand.

Window: the hour ending at END. History: two hours of node_cpu_seconds_total,
scraped every 15 s (offset 7 s from the minute, as real scrapes are).

=====================  ==========================  =====  ===========================
instance               group                       cpus   owner(s) in the window
=====================  ==========================  =====  ===========================
172.16.100.50:9100     IDAaaS / Muon               4      alice until END-20m, then bob
172.16.100.5:9100      IDAaaS / Muon               2      carol (prefix look-alike of .50)
172.16.100.51:9100     IDAaaS / SANS               2      READY pool workspace: nobody
172.16.101.7:9100      CDAaaS / Tomography         2      dave (stored as host-172-16-101-7…)
172.16.100.52:9100     IDAaaS / Muon               1      no workspace at all
.*:9100                IDAaaS / Muon               1      hostile label: unparseable
=====================  ==========================  =====  ===========================

Plus MongoDB records the fleet does not measure (172.16.100.99) and malformed ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from tests.harness.prometheus import openmetrics_counter

END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
WINDOW = 3600.0
BUSY_W, IDLE_W = 12.0, 1.0
INTENSITY = 185.0


@dataclass(frozen=True)
class Host:
    instance: str
    project: str
    machine: str
    cpus: int
    rates: dict[str, float]  # CPU-seconds per second per CPU, by mode

    def per_second(self, modes: tuple[str, ...]) -> float:
        return self.cpus * sum(self.rates.get(m, 0.0) for m in modes)


BUSY_MODES = ("user", "nice", "system", "irq", "softirq")
IDLE_MODES = ("idle", "iowait")
HOSTS = [
    Host(
        "172.16.100.50:9100",
        "IDAaaS",
        "Muon",
        4,
        {"user": 0.30, "system": 0.10, "idle": 0.50, "iowait": 0.05, "steal": 0.05},
    ),
    Host("172.16.100.5:9100", "IDAaaS", "Muon", 2, {"user": 0.80, "idle": 0.20}),
    Host("172.16.100.51:9100", "IDAaaS", "SANS", 2, {"user": 0.10, "idle": 0.90}),
    Host(
        "172.16.101.7:9100",
        "CDAaaS",
        "Tomography",
        2,
        {"user": 0.5, "nice": 0.1, "irq": 0.05, "softirq": 0.05, "idle": 0.3},
    ),
    Host("172.16.100.52:9100", "IDAaaS", "Muon", 1, {"user": 0.05, "idle": 0.95}),
    Host(".*:9100", "IDAaaS", "Muon", 1, {"user": 0.5, "idle": 0.5}),
]


def openmetrics(
    hosts: list[Host] = HOSTS,
    history: float = 2 * WINDOW,
    interval: float = 15.0,
    offset: float = 7.0,
) -> str:
    """node_cpu_seconds_total for every host, cpu and mode, starting at large counter values."""
    t_end = END.timestamp()
    times = [t_end - history + offset + k * interval for k in range(int(history // interval))]
    samples = []
    for h in hosts:
        for cpu in range(h.cpus):
            for mode in ("idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"):
                rate = h.rates.get(mode, 0.0)
                labels = {
                    "instance": h.instance,
                    "cloud_project_name": h.project,
                    "machine_name": h.machine,
                    "cpu": str(cpu),
                    "mode": mode,
                    "job": "node",
                }
                samples += [(labels, 1e6 + rate * (t - t_end + history), t) for t in times]
    return openmetrics_counter("node_cpu_seconds", samples)


def _naive(dt: datetime) -> datetime:
    return dt.replace(tzinfo=None)


def workspaces() -> list[dict[str, object]]:
    day = timedelta(days=1)
    handover = END - timedelta(minutes=20)
    return [
        {
            "_id": "w-alice",
            "hostname": "172.16.100.50",
            "owner": "alice",
            "state": "DELETED",
            "tag": "ISIS",
            "created_time": _naive(END - day),
            "deleted_time": _naive(handover),
        },
        {
            "_id": "w-bob",
            "hostname": "172.16.100.50",
            "owner": "bob",
            "state": "CLAIMED",
            "tag": "ISIS",
            "created_time": _naive(handover),
            "deleted_time": None,
        },
        {
            "_id": "w-carol",
            "hostname": "172.16.100.5",
            "owner": "carol",
            "state": "CLAIMED",
            "tag": "ISIS",
            "created_time": _naive(END - day),
        },
        {
            "_id": "w-pool",
            "hostname": "172.16.100.51",
            "owner": None,
            "state": "READY",
            "tag": "ISIS",
            "created_time": _naive(END - day),
        },
        {
            "_id": "w-dave",
            "hostname": "host-172-16-101-7.nubes.stfc.ac.uk",
            "owner": "dave",
            "state": "CLAIMED",
            "tag": "CLF",
            "created_time": _naive(END - day),
        },
        {
            "_id": "w-unmeasured",
            "hostname": "172.16.100.99",
            "owner": "erin",
            "state": "CLAIMED",
            "tag": "ISIS",
            "created_time": _naive(END - day),
        },
        {
            "_id": "w-old",
            "hostname": "172.16.100.52",
            "owner": "frank",
            "state": "DELETED",
            "tag": "ISIS",
            "created_time": _naive(END - 3 * day),
            "deleted_time": _naive(END - day),
        },
        # Malformed: skipped and counted, never matched.
        {
            "_id": "w-regex",
            "hostname": ".*",
            "owner": "mallory",
            "state": "CLAIMED",
            "tag": "ISIS",
            "created_time": _naive(END - day),
        },
        {
            "_id": "w-string-date",
            "hostname": "172.16.100.52",
            "owner": "mallory",
            "state": "CLAIMED",
            "tag": "ISIS",
            "created_time": "2026-01-30",
        },
    ]


def users() -> list[dict[str, object]]:
    return [
        {
            "platform_name": n,
            "tag": "ISIS",
            "name": f"{n.title()} Example",
            "email": f"{n}@example.org",
        }
        for n in ("alice", "bob", "carol", "dave", "erin")
    ]


def expected_cpu_seconds() -> dict[tuple[str, str, str, str], float]:
    """(project, machine, user, mode) -> CPU-seconds over the window, worked out by hand."""
    h50, h5, h51, h7, h52, hostile = HOSTS
    out: dict[tuple[str, str, str, str], float] = {}

    def add(h: Host, user: str, fraction: float) -> None:
        for mode, modes in (("busy", BUSY_MODES), ("idle", IDLE_MODES)):
            key = (h.project, h.machine, user, mode)
            out[key] = out.get(key, 0.0) + h.per_second(modes) * WINDOW * fraction

    add(h50, "alice", 2 / 3)  # owned until 20 minutes before the end
    add(h50, "bob", 1 / 3)
    add(h5, "carol", 1.0)
    add(h51, "unattributed", 1.0)
    add(h7, "dave", 1.0)
    add(h52, "unattributed", 1.0)
    add(hostile, "unattributed", 1.0)
    return out


def expected_joules(key: tuple[str, str, str, str]) -> float:
    watts = BUSY_W if key[3] == "busy" else IDLE_W
    return expected_cpu_seconds()[key] * watts
