"""One refresh: fetch from the three sources, attribute, compute energy and carbon.

:meth:`Engine.snapshot` is the single code path behind a scrape, ``snapshot
--at`` and the demo. It returns a :class:`Snapshot`, a plain value that the
collector turns into metric families.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import operator
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, TypeVar

from exporter import energy
from exporter.attribution import Share, Timelines, attribute, join
from exporter.attribution.join import Measured, Owned
from exporter.config import SOURCES, Config
from exporter.grid import IntensityReading, IntensityState, Outlook, outlook
from exporter.health import HealthTracker, SourceStatus
from exporter.model import (
    IntensitySource,
    OwnershipSource,
    SourceError,
    UsageSource,
    UsageStep,
    WorkspaceInfo,
)

T = TypeVar("T")
# The forecast fetch has its own failure episodes in the log, but counts as carbon_intensity.
FORECAST = "carbon_intensity forecast"
GroupKey = tuple[str, str, str, str]  # cloud_project_name, machine_name, facility, user
UNKNOWN_FACILITY = "unknown"  # the facility of a project not in the ``facilities`` map
StepsByKey = dict[tuple[str, str, str], list[UsageStep]]  # (instance, project, machine)


class Usage(NamedTuple):
    """Attributed totals of one (project, machine type, facility, user) over the window.

    A NamedTuple, as WorkspaceInfo is: a scrape at 10,000 hosts builds 10,000 of each,
    after the last upstream answer, and a frozen dataclass costs several times more.
    """

    busy_seconds: float = 0.0
    idle_seconds: float = 0.0
    busy_joules: float = 0.0
    idle_joules: float = 0.0
    busy_grams: float = 0.0
    idle_grams: float = 0.0


@dataclass(frozen=True)
class Snapshot:
    """Everything one refresh learnt. ``usage`` is None when it could not be computed truthfully."""

    end: float
    window_seconds: float
    sources: Mapping[str, SourceStatus]
    intensity: IntensityReading
    usage: Mapping[GroupKey, Usage] | None
    workspaces: Mapping[tuple[str, str], int] | None  # (tag, state) -> alive at end
    workspace_info: tuple[WorkspaceInfo, ...]
    skipped: Mapping[tuple[str, str], int]  # (collection, reason) -> documents
    unmatched_hosts: Mapping[str, int]  # side -> hosts
    conflicted_hosts: int
    split_hosts: int
    outlook: Outlook = field(default_factory=Outlook)  # forecast and greenest windows from `end`


class Engine:
    """Wires the sources to the maths. Sources and clients are built once and injected."""

    def __init__(
        self,
        config: Config,
        usage: UsageSource,
        ownership: OwnershipSource,
        intensity: IntensitySource,
        intensity_label: str = "api",
    ) -> None:
        self.config = config
        self.usage_source = usage
        self.ownership_source = ownership
        self.intensity_source = intensity
        self.health = HealthTracker()
        self._intensity_state = IntensityState(config.carbon_intensity, intensity_label)
        # Enough workers that a call still hung from a previous refresh cannot starve this
        # one: _submit starts no second call of a source while its last one still runs.
        self._pool = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="source")
        self._running: dict[str, cf.Future[Any]] = {}
        self._running_lock = threading.Lock()
        # The instances split between owners at the last refresh: their steps are asked
        # for at the start of the next, beside the totals (most still need splitting).
        self._split_instances: frozenset[str] = frozenset()
        # The last refresh's snapshot and its digests' working state, freed by the next
        # refresh while the sources answer: at 10,000 hosts freeing them took 8 ms, and
        # after the last answer (the snapshot when the collector replaced it, the digest
        # before MongoDB's answer could be joined).
        self._leftovers: list[object] = []

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        close_source = getattr(self.usage_source, "close", None)
        if callable(close_source):
            close_source()

    def history(self, ends: Sequence[datetime]) -> Iterator[Snapshot]:
        """Snapshots of past windows, for ``backfill`` and reports computed from raw data.

        The grid intensity of the whole period is fetched first, in as few requests as
        the API allows (14 days each), and no forecast is fetched: a past window's
        forecast is never written. Without this, each window would cost two API calls.
        """
        if not ends:
            return
        first = min(ends) - timedelta(seconds=self.config.window_seconds)
        # On failure each window tries again, and reports its own failure.
        with contextlib.suppress(SourceError):
            self.intensity_source.slots(first, max(ends))
        for end in ends:
            yield self.snapshot(end, with_forecast=False)

    def snapshot(self, end: datetime | None = None, with_forecast: bool = True) -> Snapshot:
        """Compute the window ending at ``end`` (default: now)."""
        end = end or datetime.now(timezone.utc)
        window = self.config.window_seconds
        start = end - timedelta(seconds=window)
        deadline = time.monotonic() + self.config.scrape_budget_seconds
        status = {s: SourceStatus() for s in SOURCES}
        before = self._request_counts()

        f_usage = self._submit(
            status,
            "prometheus",
            lambda: join.measured(self.usage_source.window_usage(end, window)),
        )
        # Let the worker just woken send Prometheus' request (the longest) before this
        # thread prepares the others: it would otherwise wait for the GIL until they
        # are all submitted, 2-5 ms at 2,000 hosts, all of it before any request.
        time.sleep(0)
        early = self._early_steps(end, window)
        f_owner = self._submit(status, "mongodb", lambda: self._ownership(start, end))
        f_slots = self._submit(
            status, "carbon_intensity", lambda: self.intensity_source.slots(start, end)
        )
        forecast_status = {FORECAST: SourceStatus()}
        f_forecast = self._submit(
            forecast_status,
            FORECAST,
            # Given the window, the API adapter fetches both in one request per half hour.
            lambda: self.intensity_source.forecast(end, start) if with_forecast else [],
        )
        self._leftovers.clear()  # every request is out: free what the last refresh left
        measured = self._wait(f_usage, status, "prometheus", deadline)
        slots = self._wait(f_slots, status, "carbon_intensity", deadline)
        forecast = self._wait(f_forecast, forecast_status, FORECAST, deadline)

        t1 = end.timestamp()
        reading = self._intensity_state.read(
            slots,
            self.intensity_source,
            start,
            end,
            status["carbon_intensity"].up,  # the window's own fetch, before the forecast's
        )
        window_ci = replace(status["carbon_intensity"])  # its own episode, as the forecast's
        _merge_parallel(status["carbon_intensity"], forecast_status[FORECAST])
        ci = self.config.carbon_intensity
        grid_outlook = outlook(
            forecast if forecast is not None else self.intensity_source.cached_forecast(end),
            end.timestamp(),
            ci.greenest_window_seconds,
            ci.working_hours,
        )
        owners = self._wait(f_owner, status, "mongodb", deadline)
        totals: dict[GroupKey, Usage] | None = None
        info: tuple[WorkspaceInfo, ...] = ()
        unmatched: dict[str, int] = {}
        split = 0
        if owners is not None and measured is not None:
            # Each workspace's group is Prometheus': without it the series would be wrong.
            if self.config.workspace_info:
                info = join.workspace_info(owners, measured)
            unmatched = join.unmatched(owners, measured)
            totals, split = self._attribute(
                measured, owners.timelines, reading, end, status, early, deadline
            )
        if early[0] is not None and (owners is None or measured is None):
            # The steps were asked for, but are not needed: the call must still end with
            # this refresh, not outlive it and hold up the next one.
            self._wait(early[0], early[1], "prometheus", deadline)
        after = self._request_counts()
        for s in SOURCES:
            status[s].requests = after[s] - before[s]
        self.health.settle(
            {**status, "carbon_intensity": window_ci, FORECAST: forecast_status[FORECAST]}
        )
        snapshot = Snapshot(
            end=t1,
            window_seconds=window,
            # Copies: a hung call that returns later must not change a snapshot already served.
            sources={s: replace(st) for s, st in status.items()},
            intensity=reading,
            usage=totals,
            workspaces=owners.by_tag_state if owners is not None else None,
            workspace_info=info,
            skipped={("workspaces", r): n for r, n in owners.batch.skipped.items()}
            if owners is not None
            else {},
            unmatched_hosts=unmatched,
            conflicted_hosts=len(owners.timelines.conflicted_hosts) if owners is not None else 0,
            split_hosts=split,
            outlook=grid_outlook,
        )
        self._leftovers.append(snapshot)
        return snapshot

    def _attribute(
        self,
        measured: Measured,
        timelines: Timelines,
        reading: IntensityReading,
        end: datetime,
        status: dict[str, SourceStatus],
        early_call: _Early,
        deadline: float,
    ) -> tuple[dict[GroupKey, Usage] | None, int]:
        """Attribute every host; (totals, hosts split). Totals are None without the steps.

        The steps of split hosts not asked for early (split since the last refresh) are
        asked for here; both calls are waited for.
        """
        window = self.config.window_seconds
        t0, t1 = (end - timedelta(seconds=window)).timestamp(), end.timestamp()
        early, early_status, asked = early_call
        acc = _Totals(self.config, reading)
        parted = [u for u in measured.usage if len(timelines.by_host.get(u.host, ())) > 1]
        to_split = sorted({u.instance for u in parted})
        missing = [i for i in to_split if i not in asked]  # all, unless asked early
        fetching = (
            self._submit(
                status,
                "prometheus",
                lambda: self.usage_source.usage_steps(
                    missing, end, window, self.config.prometheus.step_seconds
                ),
            )
            if missing
            else None
        )
        steps: StepsByKey = {}
        if early is not None:
            got = self._wait(early, early_status, "prometheus", deadline)
            steps.update(got or {})
            _merge_parallel(status["prometheus"], early_status["prometheus"])
        if fetching is not None:
            late = self._wait(fetching, status, "prometheus", deadline)
            steps.update(late or {})
        if not status["prometheus"].up:
            return None, len(to_split)
        acc.add(attribute(measured.usage, timelines, steps, t0, t1))
        self._split_instances = frozenset(to_split)
        return acc.result(), len(to_split)

    def _early_steps(self, end: datetime, window: float) -> _Early:
        """Ask for the steps of the hosts split at the last refresh, beside the totals.

        Which hosts changed hands is MongoDB's answer, which takes a while; the set
        changes little from one refresh to the next (a handover stays in a trailing
        window for its whole length), so the last one's is asked for at once. Hosts
        split since then are asked for once MongoDB has answered; the steps of hosts no
        longer split go unused.
        """
        early_status = {"prometheus": SourceStatus()}
        asked = self._split_instances
        if not asked:
            return None, early_status, asked
        step = self.config.prometheus.step_seconds
        future = self._submit(
            early_status,
            "prometheus",
            # Made ready for splitting here, while MongoDB is still answering.
            lambda: self.usage_source.usage_steps(sorted(asked), end, window, step),
            slot="prometheus_steps",
        )
        return future, early_status, asked

    def _ownership(self, start: datetime, end: datetime) -> Owned:
        """Workspaces, each host's timeline and those alive at the end, worked out as they come."""
        batch = self.ownership_source.workspaces(start, end)
        return join.owned(batch, start.timestamp(), end.timestamp())

    def _submit(
        self,
        status: dict[str, SourceStatus],
        source: str,
        fn: Callable[[], T],
        slot: str | None = None,
    ) -> cf.Future[T | None]:
        """Start ``fn`` in the pool, unless this source's previous call is still hung.

        A hung upstream then holds one worker, not one more per scrape, so it can
        never starve the healthy sources; it stays down until that call returns.
        A ``slot`` other than the source's lets a second call run beside the first.
        """
        key = slot or source
        with self._running_lock:
            previous = self._running.get(key)
            if previous is None or previous.done():
                future = self._pool.submit(self.health.call, status[source], source, fn)
                self._running[key] = future
                return future
        self.health.mark_down(status[source], source, "the previous call has not returned yet")
        skipped: cf.Future[T | None] = cf.Future()
        skipped.set_result(None)
        return skipped

    def _wait(
        self,
        future: cf.Future[T | None],
        status: dict[str, SourceStatus],
        source: str,
        deadline: float,
    ) -> T | None:
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except cf.TimeoutError:
            # The call's own timing ends only when it returns: the refresh waited this long.
            waited = self.config.scrape_budget_seconds - (deadline - time.monotonic())
            st = status[source]
            st.duration_seconds = max(st.duration_seconds, waited)
            self.health.mark_down(st, source, "no answer within the scrape budget")
            return None

    def _request_counts(self) -> dict[str, int]:
        return {
            "prometheus": self.usage_source.requests,
            "mongodb": self.ownership_source.requests,
            "carbon_intensity": self.intensity_source.requests,
        }


_Early = tuple[cf.Future[StepsByKey | None] | None, dict[str, SourceStatus], frozenset[str]]


class _Totals:
    """Attributed usage summed per (project, machine, facility, user): CPU-seconds, joules, grams.

    Energy is linear in CPU-seconds and emissions in energy, so each machine type's
    joules per CPU-second and each span's grams per joule are worked out once, and the
    hosts with one owner all window are priced per (group, user), not per host: at
    10,000 hosts this runs after the last upstream answer.
    """

    def __init__(self, config: Config, reading: IntensityReading) -> None:
        self._config = config
        self._reading = reading
        self._per_joule: dict[tuple[float, float], float] = {}  # (start, end) -> gCO2 per J
        self._per_second: dict[str, tuple[float, float]] = {}  # machine -> J per CPU-s
        self._whole: list[tuple[Mapping[tuple[str, str, str], Sequence[float]], float]] = []
        self._acc: dict[GroupKey, list[float]] = {}

    def add(self, shares: Iterable[Share]) -> None:
        """Shares of hosts split between owners, each over its own piece of the window."""
        facilities, acc, per_second = self._config.facilities, self._acc, self._per_second
        per_joule = self._grams_per_joule
        for s in shares:
            project, machine, user, start, end, busy, idle = s
            key = (project, machine, facilities.get(project, UNKNOWN_FACILITY), user)
            kb, ki = per_second.get(machine) or self._joules_per_second(machine)
            busy_j, idle_j = busy * kb, idle * ki
            k = per_joule(start, end)
            row = acc.get(key)
            if row is None:
                acc[key] = [busy, idle, busy_j, idle_j, busy_j * k, idle_j * k]
            else:
                row[0] += busy
                row[1] += idle
                row[2] += busy_j
                row[3] += idle_j
                row[4] += busy_j * k
                row[5] += idle_j * k

    def add_whole(
        self, cpu: Mapping[tuple[str, str, str], Sequence[float]], t0: float, t1: float
    ) -> None:
        """[busy, idle] CPU-seconds per (project, machine, user) of hosts whole over the window."""
        self._whole.append((cpu, self._grams_per_joule(t0, t1)))

    def _grams_per_joule(self, start: float, end: float) -> float:
        k = self._per_joule.get((start, end))
        if k is None:
            r = self._reading
            g = energy.mean_gco2_per_kwh(r.slots, start, end, r.fill)
            k = self._per_joule[(start, end)] = energy.grams(1.0, g)
        return k

    def _joules_per_second(self, machine: str) -> tuple[float, float]:
        k = self._per_second.get(machine)
        if k is None:
            k = self._per_second[machine] = self._config.power_for(machine).joules(1.0, 1.0)
        return k

    def result(self) -> dict[GroupKey, Usage]:
        """Every group and user's totals: the whole hosts' sums priced, the shares added."""
        facilities, per_second = self._config.facilities, self._per_second
        new = tuple.__new__  # Usage(...) without a Python call each
        out: dict[GroupKey, Usage] = {}
        for cpu, k in self._whole:
            for (project, machine, user), (busy, idle) in cpu.items():
                kb, ki = per_second.get(machine) or self._joules_per_second(machine)
                busy_j, idle_j = busy * kb, idle * ki
                key = (project, machine, facilities.get(project, UNKNOWN_FACILITY), user)
                usage = (busy, idle, busy_j, idle_j, busy_j * k, idle_j * k)
                was = out.get(key)
                out[key] = new(Usage, usage if was is None else map(operator.add, was, usage))
        for key, row in self._acc.items():
            was = out.get(key)
            out[key] = new(Usage, row if was is None else map(operator.add, was, row))
        return out


def _merge_parallel(status: SourceStatus, other: SourceStatus) -> None:
    """Fold a call that ran beside ``status``'s into it: down if either was, the longer wait."""
    status.up = status.up and other.up
    status.error = status.error or other.error
    status.duration_seconds = max(status.duration_seconds, other.duration_seconds)
