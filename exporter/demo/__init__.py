"""A simulated Ada fleet for ``--demo``: stands in for Prometheus, MongoDB and the intensity API.

Only the three sources are simulated; attribution, energy, carbon and metrics
run the real code on what they return. Everything is a pure function of the seed
and the time asked about (no ``random`` state), so two scrapes a minute apart see
moving numbers while any single answer can be reproduced exactly.

The fleet itself lives in :mod:`exporter.demo.fleet`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from itertools import pairwise

from exporter.demo.fleet import DemoFleet, DemoHost, DemoTenure, stable_unit
from exporter.grid import FORECAST_SECONDS, SLOT_SECONDS, slot_starts
from exporter.model import HostUsage, IntensitySlot, UsageStep, Workspace, WorkspaceBatch

__all__ = ["DemoFleet", "DemoHost", "DemoIntensity", "DemoOwnership", "DemoTenure", "DemoUsage"]

# A UK-like grid day (hour UTC, gCO2/kWh): low overnight, solar dip, early-evening peak.
_GRID_DAY: tuple[tuple[float, float], ...] = (
    (0, 140),
    (4, 118),
    (7, 150),
    (9, 195),
    (12, 170),
    (15, 190),
    (17.5, 250),
    (20, 215),
    (22.5, 165),
    (24, 140),
)
_BANDS = ((50, "very low"), (100, "low"), (200, "moderate"), (300, "high"))


def _seconds(moment: datetime) -> float:
    if moment.tzinfo is None:  # a naive time would silently be read as local time
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return moment.timestamp()


def _integrate(shares: Sequence[float], first_minute: int, a: float, b: float) -> float:
    """Busy share times seconds over (a, b]; shares[i] holds for minute first_minute + i."""
    total = 0.0
    minute = int(a // 60)
    while minute * 60 < b:
        total += shares[minute - first_minute] * (min(b, minute * 60 + 60) - max(a, minute * 60))
        minute += 1
    return total


class DemoUsage:
    """UsageSource over the simulated fleet: what Prometheus would integrate from node_exporter."""

    def __init__(self, fleet: DemoFleet) -> None:
        self.fleet = fleet
        self.requests = 0
        self._count_lock = threading.Lock()  # its calls run in the refresh's pool

    def _count(self) -> None:
        with self._count_lock:
            self.requests += 1

    def window_fetches(
        self, end: datetime, window_seconds: float
    ) -> list[Callable[[], list[HostUsage]]]:
        """One call: the simulation answers busy and idle at once."""
        return [lambda: self.window_usage(end, window_seconds)]

    def window_usage_of(self, answers: Sequence[list[HostUsage]]) -> list[HostUsage]:
        return answers[0]

    def window_usage(self, end: datetime, window_seconds: float) -> list[HostUsage]:
        """CPU-seconds per host over (end - window, end], one HostUsage for every host."""
        self._count()
        b = _seconds(end)
        a = b - window_seconds
        first, stop = math.floor(a / 60), math.ceil(b / 60)
        out = []
        for host in self.fleet.hosts:
            busy = host.cores * _integrate(self.fleet.busy_shares(host, first, stop), first, a, b)
            out.append(
                HostUsage(
                    host.instance,
                    host.ip,
                    host.project,
                    host.machine,
                    busy,
                    host.cores * window_seconds - busy,
                )
            )
        return out

    def rule_evaluations(
        self, answers: Sequence[object], window_seconds: float
    ) -> tuple[int, int] | None:
        """As if recording rules ran every minute, none missed: the simulation is exact."""
        n = math.ceil(window_seconds / 60.0)
        return n, n

    def steps_fetches(
        self,
        instances: Sequence[str],
        end: datetime,
        window_seconds: float,
        step_seconds: float,
        handovers: Mapping[str, Sequence[float]] | None = None,
    ) -> list[Callable[[], dict[tuple[str, str, str], list[UsageStep]]]]:
        """One call: the simulation's slices are exact, handovers or not."""
        return [lambda: self.usage_steps(instances, end, window_seconds, step_seconds)]

    def usage_steps_of(
        self,
        answers: Sequence[dict[tuple[str, str, str], list[UsageStep]]],
        end: datetime,
        step_seconds: float,
    ) -> dict[tuple[str, str, str], list[UsageStep]]:
        return answers[0]

    def usage_steps(
        self, instances: Sequence[str], end: datetime, window_seconds: float, step_seconds: float
    ) -> dict[tuple[str, str, str], list[UsageStep]]:
        """Usage of these instances in ``step_seconds`` slices from the window's start.

        The last slice ends at ``end``, so the slices add up to :meth:`window_usage`.
        Instances the fleet does not have are left out.
        """
        if step_seconds <= 0:
            raise ValueError("step_seconds must be positive")
        self._count()
        b = _seconds(end)
        a = b - window_seconds
        first, stop = math.floor(a / 60), math.ceil(b / 60)
        out: dict[tuple[str, str, str], list[UsageStep]] = {}
        for instance in instances:
            host = self.fleet.by_instance.get(instance)
            if host is None:
                continue
            shares = self.fleet.busy_shares(host, first, stop)
            steps = []
            k = 0
            while a + k * step_seconds < b:
                s, e = a + k * step_seconds, min(b, a + (k + 1) * step_seconds)
                busy = host.cores * _integrate(shares, first, s, e)
                steps.append(UsageStep(s, e, busy, host.cores * (e - s) - busy))
                k += 1
            out[instance, host.project, host.machine] = steps
        return out


class DemoOwnership:
    """OwnershipSource over the simulated fleet: the records MongoDB would hold at ``end``."""

    def __init__(self, fleet: DemoFleet) -> None:
        self.fleet = fleet
        self.requests = 0

    def workspaces(self, start: datetime, end: datetime) -> WorkspaceBatch:
        """Every workspace alive at any moment of [start, end], as stored at ``end``."""
        self.requests += 1
        lo, now = _seconds(start), _seconds(end)
        out = [
            _stored(host, ten, now)
            for host in self.fleet.hosts
            for ten in self.fleet.tenures(host, lo, now)
        ]
        return WorkspaceBatch(tuple(out))


def _stored(host: DemoHost, ten: DemoTenure, now: float) -> Workspace:
    """A tenure's workspace record as MongoDB holds it at ``now``."""
    # A pool workspace looks unclaimed until its acquisition has happened.
    claimed = ten.owner is not None and (ten.acquired is None or ten.acquired <= now)
    deleted = ten.deleted if ten.deleted <= now else None
    state = "DELETED" if deleted is not None else "CLAIMED" if claimed else "READY"
    return Workspace(
        workspace_id=ten.workspace_id,
        host=host.ip,
        hostname=host.hostname,
        owner=ten.owner if claimed else None,
        state=state,
        tag=host.tag,
        created=ten.created,
        deleted=deleted,
        acquired=ten.acquired if claimed else None,
    )


class DemoIntensity:
    """IntensitySource with a UK-like daily curve; slots that have ended count as actuals."""

    region = "GB"

    def __init__(self, seed: int = 1, clock: Callable[[], float] = time.time) -> None:
        self.seed = seed
        self.requests = 0
        self._clock = clock
        self._forecast_from = -1

    def slots(self, start: datetime, end: datetime) -> list[IntensitySlot]:
        """The half-hour slots overlapping [start, end], oldest first, with no gaps."""
        self.requests += 1
        return self.cached(start, end)

    def cached(self, start: datetime, end: datetime) -> list[IntensitySlot]:
        """Same as :meth:`slots` but, like a cache hit, not counted as a request.

        The half hours are the real adapter's (:func:`exporter.grid.slot_starts`), so a
        window ending on a boundary also gets the slot starting there, its current one.
        """
        now = self._clock()
        return [self._slot(s, now) for s in slot_starts(start, end)]

    def forecast(self, at: datetime, window_start: datetime | None = None) -> list[IntensitySlot]:
        """The 48 h from the half hour containing ``at``; counted as one request per half hour."""
        first = slot_starts(at, at)[0]
        if first != self._forecast_from:  # like the real adapter's per-half-hour cache
            self._forecast_from = first
            self.requests += 1
        return self.cached_forecast(at)

    def cached_forecast(self, at: datetime) -> list[IntensitySlot]:
        """Same as :meth:`forecast`, never counted as a request."""
        first, now = slot_starts(at, at)[0], self._clock()
        return [self._slot(s, now) for s in range(first, first + FORECAST_SECONDS, SLOT_SECONDS)]

    def _slot(self, start: int, now: float) -> IntensitySlot:
        value = float(round(self._gco2(start + SLOT_SECONDS / 2, start)))
        index = next((name for top, name in _BANDS if value < top), "very high")
        end = start + SLOT_SECONDS
        return IntensitySlot(start, end, value, end <= now, index)

    def _gco2(self, t: float, slot: int) -> float:
        hour = (t % 86400) / 3600
        shape = float(_GRID_DAY[0][1])
        for (h0, v0), (h1, v1) in pairwise(_GRID_DAY):
            if h0 <= hour <= h1:
                shape = v0 + (v1 - v0) * (hour - h0) / (h1 - h0)
                break
        # Windy and calm days: a per-day level, blended across midnight so the curve stays smooth.
        day, frac = divmod(t / 86400, 1.0)
        levels = [0.75 + 0.5 * stable_unit(self.seed, 0x1CE, int(day) + d) for d in (0, 1)]
        level = levels[0] + (levels[1] - levels[0]) * frac
        weekend = 0.9 if (int(day) + 3) % 7 >= 5 else 1.0
        return shape * level * weekend * (1 + (stable_unit(self.seed, slot) - 0.5) * 0.08)
