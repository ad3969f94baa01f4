"""What every area's collector shares: its families' specs, built fresh for each scrape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.model import Snapshot

WINDOW = "over the trailing window (see ada_carbon_window_seconds)"
# Said instead when a scrape within min_refresh_interval of a refresh is served its result.
SERVED_AGAIN = (
    "over the trailing window (see ada_carbon_window_seconds), served again: this result is "
    "from a refresh within min_refresh_interval, at ada_carbon_window_end_timestamp_seconds"
)


@dataclass(frozen=True)
class FamilySpec:
    """One exported family: its name, HELP text and label names (all are gauges)."""

    name: str
    help: str
    labels: tuple[str, ...] = ()


class AreaCollector(Collector):
    """The families of one area from one refresh's snapshot (None: the refresh failed).

    ``served_again``: the snapshot is an earlier refresh's, and the HELP texts say so.
    """

    specs: ClassVar[Mapping[str, FamilySpec]]

    def __init__(self, snapshot: Snapshot | None = None, served_again: bool = False) -> None:
        self.snapshot = snapshot
        self.served_again = served_again

    def describe(self) -> Iterator[Metric]:
        """The families without samples: registering the collector queries nothing."""
        for spec in self.specs.values():
            yield GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))

    def collect(self) -> Iterator[Metric]:
        families = {}
        for key, spec in self.specs.items():
            text = spec.help.replace(WINDOW, SERVED_AGAIN) if self.served_again else spec.help
            families[key] = GaugeMetricFamily(spec.name, text, labels=list(spec.labels))
        self.fill(families, self.snapshot)
        yield from families.values()

    def fill(self, families: dict[str, GaugeMetricFamily], snap: Snapshot | None) -> None:
        """Add the samples of ``snap`` to the area's (empty) families."""
        raise NotImplementedError
