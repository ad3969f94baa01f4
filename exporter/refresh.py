"""One refresh: fetch the three sources side by side, attribute, price, snapshot.

:meth:`Refresh.snapshot` is the single code path behind a scrape, ``snapshot
--at``, ``backfill``, ``report --source raw`` and the demo. It goes one way:
Prometheus' window totals, MongoDB's ownership and the grid intensity are asked
for together; once the totals and the ownership are in, the steps of the hosts
that changed hands in the window and a look at their handovers (one or two more
requests, a few on large fleets); then every host is
attributed, every share priced, and a :class:`~exporter.model.Snapshot`, a
plain value, returned. Nothing a refresh learns changes what the next fetches.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from exporter import embodied
from exporter.accounting import Steps, account, finite
from exporter.attribution import join
from exporter.attribution.join import Measured, Owned
from exporter.config import SOURCES, Config
from exporter.grid import IntensityState, outlook
from exporter.health import Calls, HealthTracker, side_by_side
from exporter.model import (
    GroupKey,
    IntensityReading,
    IntensitySlot,
    Snapshot,
    SourceError,
    SourceStatus,
    Usage,
    UsageStep,
    WorkspaceKey,
)
from exporter.sources import IntensitySource, OwnershipSource, UsageSource

# The forecast fetch has its own failure episodes in the log, but counts as carbon_intensity;
# so do the steps as prometheus, and their failure leaves the window totals standing.
FORECAST, STEPS = "carbon_intensity forecast", "prometheus steps"


class Refresh:
    """Wires the sources to the maths. Sources and clients are built once and injected."""

    def __init__(
        self,
        config: Config,
        usage: UsageSource,
        ownership: OwnershipSource,
        intensity: IntensitySource,
        intensity_label: str = "api",
        pool: cf.Executor | None = None,
    ) -> None:
        self.config = config
        self.usage_source = usage
        self.ownership_source = ownership
        self.intensity_source = intensity
        self.health = HealthTracker()
        self._intensity_state = IntensityState(config.carbon_intensity, intensity_label)
        # The one pool: enough workers that a call still hung from an earlier refresh
        # cannot starve this one, as Calls starts no second call of one while it runs.
        self._pool = pool or cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="source")
        self._calls = Calls(self._pool, self.health, config.scrape_budget_seconds)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

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
        """Compute the window ending at ``end`` (default: now less ``prometheus.query_offset``)."""
        offset = timedelta(seconds=self.config.prometheus.query_offset_seconds)
        end = end or datetime.now(timezone.utc) - offset
        window = self.config.window_seconds
        start = end - timedelta(seconds=window)
        deadline = time.monotonic() + self.config.scrape_budget_seconds
        status = {s: SourceStatus() for s in (*SOURCES, FORECAST, STEPS)}
        before = self._request_counts()
        f_totals, parts = self._start_totals(end)
        span = (start.timestamp(), end.timestamp())
        f_owner = self._calls.submit(  # each host's timeline, and the workspaces alive at the end
            status["mongodb"],
            "mongodb",
            lambda: join.owned(self.ownership_source.workspaces(start, end), *span),
        )
        f_slots = self._calls.submit(
            status["carbon_intensity"],
            "carbon_intensity",
            lambda: self.intensity_source.slots(start, end),
        )
        f_forecast = self._calls.submit(
            status[FORECAST],
            FORECAST,
            # Given the window, the API adapter fetches both in one request per half hour.
            lambda: self.intensity_source.forecast(end, start) if with_forecast else [],
        )
        measured, evaluations = self._measured(f_totals, parts, status["prometheus"], deadline)
        owners = self._calls.wait(f_owner, status["mongodb"], "mongodb", deadline)
        split = join.split_hosts(measured, owners)
        f_steps = self._start_steps(split, end)
        slots = self._calls.wait(f_slots, status["carbon_intensity"], "carbon_intensity", deadline)
        reading = self._intensity_state.read(
            slots, self.intensity_source, start, end, status["carbon_intensity"].up
        )
        forecast_slots = self._calls.wait(f_forecast, status[FORECAST], FORECAST, deadline)
        steps = self._steps(end, *f_steps, status, deadline)
        usage = per_workspace = None
        if measured is not None and owners is not None and steps is not None:
            usage, per_workspace = self._usage(
                measured, owners, steps, reading, span, status["prometheus"]
            )
        for source, count in self._request_counts().items():
            status[source].requests = count - before[source]
        self.health.settle(status)
        snap = self._snapshot(end, status, reading, forecast_slots, usage, measured, owners, split)
        unstepped = len(split.keys() - {key[0] for key in steps or {}})
        return replace(
            snap,
            workspace_usage=per_workspace,
            split_hosts_without_steps=unstepped,
            rule_evaluations=evaluations,
        )

    def _snapshot(
        self,
        end: datetime,
        status: Mapping[str, SourceStatus],
        reading: IntensityReading,
        forecast: Sequence[IntensitySlot] | None,
        usage: dict[GroupKey, Usage] | None,
        measured: Measured | None,
        owners: Owned | None,
        split: Mapping[str, Sequence[float]],
    ) -> Snapshot:
        ci = self.config.carbon_intensity
        info, unmatched = join.joined(owners, measured, self.config.workspace_info)
        machines = {k[1] for k in usage or {}}  # the machine types priced
        if forecast is None:
            forecast = self.intensity_source.cached_forecast(end)
        return Snapshot(
            end=end.timestamp(),
            window_seconds=self.config.window_seconds,
            # Copies: a hung call that returns later must not change a snapshot already served.
            sources={s: _served(s, status) for s in SOURCES},
            intensity=reading,
            usage=usage,
            workspace_info=info,
            unmatched_hosts=unmatched,
            **join.of_owners(owners),
            split_hosts=len(split),
            outlook=outlook(
                forecast, end.timestamp(), ci.greenest_window_seconds, ci.working_hours
            ),
            embodied_unconfigured=embodied.unconfigured(measured.usage, self.config.embodied)
            if measured is not None and usage is not None
            else {},
            power_models={m: self.config.power_for(m) for m in machines},
            embodied_models={
                m: self.config.embodied[m] for m in machines & self.config.embodied.keys()
            },
        )

    def _start_totals(self, end: datetime) -> tuple[list[cf.Future[Any]], list[SourceStatus]]:
        """Start Prometheus' window queries side by side, each with a status of its own."""
        fetches = self.usage_source.window_fetches(end, self.config.window_seconds)
        return self._side_by_side(fetches, "prometheus")

    def _measured(
        self,
        futures: Sequence[cf.Future[Any]],
        parts: Sequence[SourceStatus],
        status: SourceStatus,
        deadline: float,
    ) -> tuple[Measured | None, tuple[int, int] | None]:
        """Prometheus' window totals, from the answers of the queries that ran side by side,
        and the recording rules' evaluations in the window (seen, expected) if it reads them."""
        answers = [
            self._calls.wait(f, p, "prometheus", deadline)
            for f, p in zip(futures, parts, strict=True)
        ]
        side_by_side(status, *parts)
        if not status.up:
            return None, None
        window = self.config.window_seconds
        evaluations = self.health.call(
            status, "prometheus", lambda: self.usage_source.rule_evaluations(answers, window)
        )
        usage = self.usage_source.window_usage_of
        measured = self.health.call(status, "prometheus", lambda: join.measured(usage(answers)))
        return measured, evaluations

    def _start_steps(
        self, handovers: Mapping[str, Sequence[float]], end: datetime
    ) -> tuple[list[cf.Future[Any]], list[SourceStatus]]:
        """Start the requests for the steps of the hosts that changed hands and for a look at
        their handovers, side by side, each with a status of its own (none if no host did)."""
        if not handovers:
            return [], []
        window, step = self.config.window_seconds, self.config.prometheus.step_seconds
        fetches = self.usage_source.steps_fetches(list(handovers), end, window, step, handovers)
        return self._side_by_side(fetches, STEPS)

    def _side_by_side(
        self, fetches: Sequence[Callable[[], Any]], name: str
    ) -> tuple[list[cf.Future[Any]], list[SourceStatus]]:
        """Start Prometheus calls side by side, each with a status and call slot of its own."""
        parts = [SourceStatus() for _ in fetches]
        futures = [
            self._calls.submit(part, name, fetch, f"{name} {k}")
            for k, (part, fetch) in enumerate(zip(parts, fetches, strict=True))
        ]
        return futures, parts

    def _steps(
        self,
        end: datetime,
        futures: Sequence[cf.Future[Any]],
        parts: Sequence[SourceStatus],
        status: Mapping[str, SourceStatus],
        deadline: float,
    ) -> Mapping[tuple[str, str, str], Sequence[UsageStep]] | None:
        """The steps from the answers of the requests that ran side by side; None if they
        cannot be read. A request that failed leaves its hosts without steps, split by
        their tenures' durations: the window totals stand."""
        if not futures:
            return {}
        answers = [
            self._calls.wait(f, p, STEPS, deadline) for f, p in zip(futures, parts, strict=True)
        ]
        side_by_side(status[STEPS], *parts)
        status["prometheus"].duration_seconds += status[STEPS].duration_seconds
        step = self.config.prometheus.step_seconds
        got = [a for a in answers if a is not None]
        usage_of = self.usage_source.usage_steps_of
        return self.health.call(
            status["prometheus"], "prometheus", lambda: usage_of(got, end, step)
        )

    def _usage(
        self,
        measured: Measured,
        owners: Owned,
        steps: Steps,
        reading: IntensityReading,
        span: tuple[float, float],
        status: SourceStatus,
    ) -> tuple[dict[GroupKey, Usage] | None, dict[WorkspaceKey, Usage] | None]:
        """The window's accounts; none if a total is not finite (the source marked down)."""
        usage, per_workspace = account(self.config, measured, owners, steps, reading, span)
        if finite(usage):
            return usage, per_workspace
        # Finite values too large to add up or price (1e308 CPU-seconds): no number
        # served is better than +Inf or NaN served as if Prometheus had said so.
        reason = "its values are too large to add up and price: a total is not finite"
        self.health.mark_down(status, "prometheus", reason)
        return None, None

    def _request_counts(self) -> dict[str, int]:
        return {
            "prometheus": self.usage_source.requests,
            "mongodb": self.ownership_source.requests,
            "carbon_intensity": self.intensity_source.requests,
        }


def _served(source: str, status: Mapping[str, SourceStatus]) -> SourceStatus:
    """A copy of a source's status; the grid intensity's with its forecast's folded in."""
    served = replace(status[source])
    if source == "carbon_intensity":
        side_by_side(served, served, status[FORECAST])
    return served
