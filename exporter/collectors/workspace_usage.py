"""CPU, energy and emissions per workspace, with ``workspace_usage: true`` (off by default).

Exposition produced (abridged)::

    # HELP ada_carbon_workspace_energy_joules Energy used by each Ada workspace over ...
    # TYPE ada_carbon_workspace_energy_joules gauge
    ada_carbon_workspace_energy_joules{cloud_project_name="IDAaaS",facility="ISIS",\
host="172.16.100.50",machine_name="Muon",mode="busy",user="aa123456",\
workspace_id="65a0..."} 43200.0

Off, the families are not written at all: not even their HELP lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from exporter.collectors.base import WINDOW, AreaCollector, FamilySpec
from exporter.collectors.usage import MODES, UNITS, rounded
from exporter.model import Snapshot, Usage, WorkspaceKey

LABELS = (*WorkspaceKey._fields, "mode")
SPLIT = (
    "Each user's share (see ada_carbon_cpu_seconds) split between the workspaces that held "
    "the host; time nobody held is no workspace's. Only with workspace_usage: true."
)


class WorkspaceUsageCollector(AreaCollector):
    """Usage over the window: two series (busy, idle) per workspace (and group) and family."""

    specs: ClassVar[dict[str, FamilySpec]] = {
        "workspace_cpu": FamilySpec(
            "ada_carbon_workspace_cpu_seconds",
            f"CPU-seconds of each Ada workspace that held a host, busy or idle, {WINDOW}. {SPLIT}",
            LABELS,
        ),
        "workspace_energy": FamilySpec(
            "ada_carbon_workspace_energy_joules",
            f"Energy used by each Ada workspace {WINDOW}, priced as ada_carbon_energy_joules. "
            f"{SPLIT}",
            LABELS,
        ),
        "workspace_emissions": FamilySpec(
            "ada_carbon_workspace_emissions_grams",
            f"Grams CO2-equivalent emitted by each Ada workspace {WINDOW}, priced as "
            f"ada_carbon_emissions_grams. {SPLIT}",
            LABELS,
        ),
    }

    def collect(self) -> Iterator[Metric]:
        if self.snapshot is not None and self.snapshot.workspace_usage is not None:
            yield from super().collect()

    def fill(self, families: dict[str, GaugeMetricFamily], snap: Snapshot | None) -> None:
        rows = list((snap.workspace_usage or {}).items()) if snap is not None else []
        labels = [dict(zip(LABELS, (*key, mode), strict=True)) for key, _ in rows for mode in MODES]
        for key, unit in UNITS.items():
            fields = [Usage._fields.index(f"{mode}_{unit}") for mode in MODES]
            values = [rounded(usage[i]) for _, usage in rows for i in fields]
            family = families[f"workspace_{key}"]
            family.samples.extend(map(Sample, [family.name] * len(labels), labels, values))
