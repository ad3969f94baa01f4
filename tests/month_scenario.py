"""Five weeks of a small fleet whose every hour can be worked out by hand, for history tests.

The period is (FIRST, LAST]: 2025-12-29 to 2026-02-02 UTC, 840 windows of an hour, so a
report over all of it is longer than one 31-day query. Every host's CPU load is steady
within a UTC day and changes at midnight (quieter at weekends), so daily totals differ
from one day to the next and ``increase()`` over any hour is exact; node_exporter is scraped every
5 minutes (7 s past), and workspaces change hands only on that 5-minute grid. Dave's host
also has 5 % steal, which counts as neither busy nor idle.

==================  ===================  ====  ===============================================
instance            group                cpus  owner
==================  ===================  ====  ===============================================
172.16.100.50:9100  IDAaaS / Muon        2     alice, then bob from 2026-01-10T14:20 (mid-hour)
172.16.100.5:9100   IDAaaS / SANS        1     carol
172.16.101.7:9100   CDAaaS / Laser       1     dave 2026-01-05T09:00 to 2026-01-25T17:30
172.16.100.51:9100  IDAaaS / Tomography  1     nobody
172.16.101.8:9100   CDAaaS / Laser       1     erin for the two hours around each edge below
==================  ===================  ====  ===============================================

Erin holds her host only across the month's start and end and the 31-day point of the
period (2026-01-29T00:00, where a report over the whole period is cut in two queries):
one window either side of each. A report that took a window too many or too few at an
edge or a cut is then off by a sixth or more of her total, not by a tenth of a percent.

Energy: 12 W busy and 1 W idle per core, 20 W and 2 W on Laser, PUE 1.2; carbon at a
fixed 185 gCO2/kWh. :func:`truth` sums the hours by hand, without the exporter's code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from tests.harness.prometheus import openmetrics_counter

FIRST = datetime(2025, 12, 29, tzinfo=timezone.utc)
LAST = datetime(2026, 2, 2, tzinfo=timezone.utc)
JANUARY = (datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc))
CUT = FIRST + timedelta(days=31)  # where a report over (FIRST, LAST] is split
HOUR = 3600
SCRAPE_INTERVAL = 300
SCRAPE_OFFSET = 7
INTENSITY = 185.0
PUE = 1.2
WATTS = {"Laser": (20.0, 2.0)}  # machine -> (busy, idle) watts per core
DEFAULT_WATTS = (12.0, 1.0)
FACILITY = {"IDAaaS": "ISIS", "CDAaaS": "CLF"}
UNATTRIBUTED = "unattributed"
FIELDS = (  # a report's numbers, as its JSON names them
    "busy_cpu_seconds",
    "idle_cpu_seconds",
    "busy_joules",
    "idle_joules",
    "energy_joules",
    "busy_grams",
    "idle_grams",
    "emissions_grams",
)
CONFIG = f"""\
prometheus:
  url: {{prometheus}}
  split_step: 5m
mongodb:
  uri: {{mongodb}}
carbon_intensity:
  source: fixed
  fixed_gco2_per_kwh: {INTENSITY}
power:
  pue: {PUE}
  machines:
    Laser:
      busy_watts_per_core: {WATTS["Laser"][0]}
      idle_watts_per_core: {WATTS["Laser"][1]}
"""


def at(text: str) -> float:
    """Unix seconds of a UTC time written without its zone, as in the table above."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True)
class Tenure:
    owner: str
    created: float
    deleted: float | None = None


@dataclass(frozen=True)
class Host:
    instance: str
    project: str
    machine: str
    cpus: int
    load: float  # the busy share of each core on a full working day
    steal: float = 0.0  # counted neither busy nor idle
    tenures: tuple[Tenure, ...] = ()

    def busy_share(self, day: int) -> float:
        """The busy share of each core on a UTC day (days since 1970-01-01, a Thursday)."""
        level = 0.25 + 0.25 * ((3 * day + len(self.instance)) % 4)
        weekend = 0.3 if (day + 3) % 7 >= 5 else 1.0
        return self.load * level * weekend

    def shares(self, day: int) -> dict[str, float]:
        """Each node_exporter mode's share of a core on that day."""
        busy = self.busy_share(day)
        out = {"user": 0.75 * busy, "system": 0.25 * busy, "idle": 1 - busy - self.steal}
        return out | ({"steal": self.steal} if self.steal else {})


EDGES = ("2026-01-01T00:00", "2026-01-29T00:00", "2026-02-01T00:00")
HOSTS = (
    Host(
        "172.16.100.50:9100",
        "IDAaaS",
        "Muon",
        2,
        0.9,
        tenures=(
            Tenure("alice", at("2025-12-01T00:00"), at("2026-01-10T14:20")),
            Tenure("bob", at("2026-01-10T14:20")),
        ),
    ),
    Host(
        "172.16.100.5:9100",
        "IDAaaS",
        "SANS",
        1,
        0.6,
        tenures=(Tenure("carol", at("2025-12-01T00:00")),),
    ),
    Host(
        "172.16.101.7:9100",
        "CDAaaS",
        "Laser",
        1,
        0.8,
        steal=0.05,
        tenures=(Tenure("dave", at("2026-01-05T09:00"), at("2026-01-25T17:30")),),
    ),
    Host("172.16.100.51:9100", "IDAaaS", "Tomography", 1, 0.3),
    Host(
        "172.16.101.8:9100",
        "CDAaaS",
        "Laser",
        1,
        0.7,
        tenures=tuple(Tenure("erin", at(e) - HOUR, at(e) + HOUR) for e in EDGES),
    ),
)


def owners(host: Host, start: float, end: float) -> dict[str, float]:
    """Who held ``host`` over (start, end], as shares of that time; nobody is unattributed."""
    out: dict[str, float] = {}
    for t in host.tenures:
        held = min(end, t.deleted if t.deleted is not None else end) - max(start, t.created)
        if held > 0:
            out[t.owner] = out.get(t.owner, 0.0) + held / (end - start)
    rest = 1.0 - sum(out.values())
    return out | ({UNATTRIBUTED: rest} if rest > 1e-12 else {})


KEYS: dict[str, Callable[[Host, str], tuple[str, ...]]] = {
    "facility": lambda host, user: (FACILITY[host.project],),
    "group": lambda host, user: (host.project, host.machine),
    "user": lambda host, user: (user,),
}


def truth(after: datetime, until: datetime, by: str) -> dict[tuple[str, ...], dict[str, float]]:
    """The report's numbers for the windows ending in (after, until], worked out hour by hour.

    Keyed like a report's rows (``by``: facility, group or user), in its JSON's names.
    """
    rows: dict[tuple[str, ...], dict[str, float]] = {}
    first, last = int(after.timestamp()) + HOUR, int(until.timestamp())
    for end in range(first, last + 1, HOUR):
        day = (end - HOUR) // 86400  # an hour never crosses midnight
        for host in HOSTS:
            busy_w, idle_w = WATTS.get(host.machine, DEFAULT_WATTS)
            busy = host.cpus * host.busy_share(day) * HOUR
            idle = host.cpus * host.shares(day)["idle"] * HOUR
            for user, share in owners(host, end - HOUR, end).items():
                row = rows.setdefault(KEYS[by](host, user), dict.fromkeys(FIELDS, 0.0))
                row["busy_cpu_seconds"] += busy * share
                row["idle_cpu_seconds"] += idle * share
                row["busy_joules"] += busy * share * busy_w * PUE
                row["idle_joules"] += idle * share * idle_w * PUE
    for row in rows.values():
        row["energy_joules"] = row["busy_joules"] + row["idle_joules"]
        for mode in ("busy", "idle"):
            row[f"{mode}_grams"] = row[f"{mode}_joules"] / 3.6e6 * INTENSITY
        row["emissions_grams"] = row["busy_grams"] + row["idle_grams"]
    return rows


def scrape_times() -> Iterator[float]:
    """node_exporter's scrapes, from an hour before FIRST (for the first windows) to LAST."""
    t = FIRST.timestamp() - HOUR + SCRAPE_OFFSET
    while t <= LAST.timestamp():
        yield t
        t += SCRAPE_INTERVAL


def openmetrics() -> str:
    """node_cpu_seconds_total of every host, cpu and mode over the whole period."""
    times = list(scrape_times())
    first_day = int(times[0] // 86400)
    samples = []
    for host in HOSTS:
        for mode in host.shares(first_day):
            # The counter at each midnight, from 1e6 at the first one.
            at_midnight, total = {}, 1e6
            for day in range(first_day, int(times[-1] // 86400) + 1):
                at_midnight[day] = total
                total += host.shares(day)[mode] * 86400
            for cpu in range(host.cpus):
                labels = {
                    "instance": host.instance,
                    "cloud_project_name": host.project,
                    "machine_name": host.machine,
                    "cpu": str(cpu),
                    "mode": mode,
                    "job": "node",
                }
                for t in times:
                    day = int(t // 86400)
                    value = at_midnight[day] + host.shares(day)[mode] * (t - day * 86400)
                    samples.append((labels, value, t))
    return openmetrics_counter("node_cpu_seconds", samples)


def _naive(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None)


def workspaces() -> list[dict[str, object]]:
    """The MongoDB records of every tenure, as Ada stores them (naive UTC dates)."""
    return [
        {
            "_id": f"w-{host.instance.split(':')[0]}-{k}",
            "hostname": host.instance.split(":")[0],
            "owner": t.owner,
            "state": "CLAIMED" if t.deleted is None else "DELETED",
            "tag": FACILITY[host.project],
            "created_time": _naive(t.created),
            "deleted_time": _naive(t.deleted),
        }
        for host in HOSTS
        for k, t in enumerate(host.tenures)
    ]
