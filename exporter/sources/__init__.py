"""What the refresh asks of each upstream: the protocols its adapters (and the demo) meet.

The adapters live beside this module: ``prometheus/``, ``mongodb.py`` and
``carbon_intensity/``; :mod:`exporter.sources.build` builds them from the configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from exporter.model import HostUsage, IntensitySlot, UsageStep, WorkspaceBatch


class UsageSource(Protocol):
    """Where CPU-seconds come from (Prometheus, or the demo's simulation)."""

    @property
    def requests(self) -> int:
        """Upstream requests made so far; the refresh reports per-refresh deltas."""
        ...

    def window_fetches(self, end: datetime, window_seconds: float) -> list[Callable[[], Any]]:
        """The calls that fetch the window totals, for the refresh to run side by side."""
        ...

    def window_usage_of(self, answers: Sequence[Any]) -> list[HostUsage]:
        """CPU-seconds per host and group over (end - window, end], from those calls' answers."""
        ...

    def rule_evaluations(
        self, answers: Sequence[Any], window_seconds: float
    ) -> tuple[int, int] | None:
        """The recording rules' evaluations in the window, seen and expected, from those
        answers (None where the source reads no rules)."""
        ...

    def steps_fetches(
        self,
        instances: Sequence[str],
        end: datetime,
        window_seconds: float,
        step_seconds: float,
        handovers: Mapping[str, Sequence[float]] | None = None,
    ) -> list[Callable[[], Any]]:
        """The calls that fetch the fine-grained usage of just these instances (finer
        around the ``handovers``, instance -> times, where the source can), for the
        refresh to run side by side."""
        ...

    def usage_steps_of(
        self, answers: Sequence[Any], end: datetime, step_seconds: float
    ) -> dict[tuple[str, str, str], list[UsageStep]]:
        """That usage from those calls' answers, keyed by (instance, project, machine)."""
        ...


class OwnershipSource(Protocol):
    """Where workspace ownership comes from (MongoDB, or the demo's simulation)."""

    requests: int

    def workspaces(self, start: datetime, end: datetime) -> WorkspaceBatch:
        """Every workspace alive at any moment of [start, end]."""
        ...


class IntensitySource(Protocol):
    """Where grid carbon intensity comes from (the Carbon Intensity API, or fixed)."""

    requests: int
    region: str

    def slots(self, start: datetime, end: datetime) -> list[IntensitySlot]:
        """The half-hour slots overlapping [start, end], oldest first; may have gaps."""
        ...

    def cached(self, start: datetime, end: datetime) -> list[IntensitySlot]:
        """The slots already known for [start, end], without any I/O (used when it is down)."""
        ...

    def forecast(self, at: datetime, window_start: datetime | None = None) -> list[IntensitySlot]:
        """Forecast slots for 48 h from the half hour containing ``at``; may be empty.

        ``window_start``: the start of the window ending at ``at`` that :meth:`slots` is
        asked for beside this call, so that a source may fetch both in one request.
        """
        ...

    def cached_forecast(self, at: datetime) -> list[IntensitySlot]:
        """The forecast slots already known from the half hour containing ``at``, without I/O."""
        ...
