"""Past windows as timestamped OpenMetrics for ``promtool tsdb create-blocks-from openmetrics``.

Each window is computed by :meth:`Engine.snapshot`, the code path of a scrape
and of ``snapshot --at``; its samples are stamped with the window's end. Only
the families that describe the platform are written (usage, energy, emissions,
grid intensity, workspaces), and the equivalency constants that dashboards divide
emissions by; the exporter's own health families describe a refresh, not history,
and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from exporter.collector import families
from exporter.model import Snapshot

HISTORY_FAMILIES = frozenset(
    {
        "ada_carbon_cpu_seconds",
        "ada_carbon_energy_joules",
        "ada_carbon_emissions_grams",
        "ada_carbon_window_seconds",
        "ada_carbon_grid_intensity_gco2_per_kwh",
        "ada_carbon_grid_intensity_window_mean_gco2_per_kwh",
        "ada_carbon_grid_intensity_source",
        "ada_carbon_grid_intensity_actual_ratio",
        "ada_carbon_workspaces",
        "ada_carbon_equivalency_grams",  # read at a panel's times, backfilled ones too
    }
)


def window_ends(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """The window ends start, start+step, … up to and including end."""
    if step.total_seconds() <= 0:
        raise ValueError("step must be positive")
    if end < start:
        raise ValueError("--to is before --from")
    out, t = [], start
    while t <= end:
        out.append(t)
        t += step
    return out


class _History(Collector):
    """One family per name, holding the samples of every snapshot with their timestamps."""

    def __init__(self, snapshots: Iterable[Snapshot]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for snap in self._snapshots:
            for family in families(snap):
                if family.name not in HISTORY_FAMILIES:
                    continue
                target = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                target.samples += [
                    Sample(s.name, s.labels, s.value, snap.end) for s in family.samples
                ]
        yield from merged.values()


def backfill(
    snapshots: Iterable[Snapshot], progress: Callable[[int], None] = lambda done: None
) -> bytes:
    """OpenMetrics text (ending in ``# EOF``) for these snapshots, stamped with their ends.

    ``snapshots`` is usually ``Engine.history(ends)``; ``progress`` hears the count done.
    """

    def counted() -> Iterator[Snapshot]:
        for done, snap in enumerate(snapshots, 1):
            yield snap
            progress(done)

    # prometheus_client's OpenMetrics encoder is untyped; it returns bytes.
    text: bytes = generate_latest(_History(counted()))  # type: ignore[no-untyped-call]
    return text
