"""The Prometheus collector: one shared refresh per scrape, its families built fresh.

One collector per area (``usage``, ``grid``, ``workspaces``, ``workspace_usage``,
``health``, ``embodied``, ``power``), each
over the snapshot of one refresh; :class:`AdaCarbonCollector` serves them that snapshot,
shared by concurrent scrapes (``shared``), in this order on /metrics.
The monthly budgets of the configuration (``budgets``) follow: constants, needing no
refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.collectors.base import AreaCollector, FamilySpec
from exporter.collectors.budgets import BudgetCollector
from exporter.collectors.embodied import EmbodiedCollector
from exporter.collectors.grid import GridCollector
from exporter.collectors.health import HealthCollector
from exporter.collectors.power import PowerCollector
from exporter.collectors.shared import Served, SharedRefresh
from exporter.collectors.usage import UsageCollector
from exporter.collectors.workspace_usage import WorkspaceUsageCollector
from exporter.collectors.workspaces import WorkspacesCollector
from exporter.config import Budget
from exporter.model import Snapshot

AREAS: tuple[type[AreaCollector], ...] = (
    UsageCollector,
    GridCollector,
    WorkspacesCollector,
    WorkspaceUsageCollector,
    HealthCollector,
    EmbodiedCollector,
    PowerCollector,
)
SPECS: dict[str, FamilySpec] = {k: s for area in AREAS for k, s in area.specs.items()}


class AdaCarbonCollector(Collector):
    """Collects one Snapshot per scrape (shared by concurrent scrapes) into fresh families."""

    def __init__(
        self,
        refresh: Callable[[], Snapshot],
        min_interval_seconds: float = 0.0,
        budgets: Sequence[Budget] = (),
    ) -> None:
        self.shared = SharedRefresh(refresh, min_interval_seconds)
        self.budgets = BudgetCollector(budgets)  # constants: served after a failed refresh too

    def describe(self) -> Iterator[Metric]:
        """The family names, without querying anything (used at registration)."""
        for area in AREAS:
            yield from area().describe()
        yield from self.budgets.describe()

    def collect(self) -> Iterator[Metric]:
        yield from families(*self.shared.serve())
        yield from self.budgets.collect()


def families(snapshot: Snapshot | None, served_again: bool = False) -> list[Metric]:
    """Every family from a snapshot (None: a failed refresh's, the health families only)."""
    return [m for area in AREAS for m in area(snapshot, served_again).collect()]


__all__ = ["SPECS", "AdaCarbonCollector", "Served", "SharedRefresh", "families"]
