"""The workspaces MongoDB knows of at the window's end.

Exposition produced (abridged)::

    # HELP ada_carbon_workspaces Workspaces alive at the end of the window, by tag and ...
    # TYPE ada_carbon_workspaces gauge
    ada_carbon_workspaces{state="CLAIMED",tag="ISIS"} 12.0
    ada_carbon_workspace_info{cloud_project_name="IDAaaS",host="172.16.100.50",\
machine_name="Muon",state="CLAIMED",user="aa123456",workspace_id="65a0..."} 1.0
"""

from __future__ import annotations

from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.samples import Sample

from exporter.collectors.base import AreaCollector, FamilySpec
from exporter.model import Snapshot, WorkspaceInfo


class WorkspacesCollector(AreaCollector):
    """Workspaces by tag and state, and one info series per workspace (owners for joins)."""

    specs: ClassVar[dict[str, FamilySpec]] = {
        "workspaces": FamilySpec(
            "ada_carbon_workspaces",
            "Workspaces alive at the end of the window, by tag and state (MongoDB workspaces).",
            ("tag", "state"),
        ),
        "workspace_info": FamilySpec(
            "ada_carbon_workspace_info",
            "One series per workspace alive at the end of the window, value 1, to join node "
            "metrics to owners. Turned off with workspace_info: false.",
            WorkspaceInfo._fields,  # its rows are WorkspaceInfo tuples
        ),
    }

    def fill(self, families: dict[str, GaugeMetricFamily], snap: Snapshot | None) -> None:
        if snap is None:
            return
        for (tag, state), n in sorted((snap.workspaces or {}).items()):
            families["workspaces"].add_metric([tag, state], n)
        name = families["workspace_info"].name
        families["workspace_info"].samples.extend(
            Sample(name, dict(zip(WorkspaceInfo._fields, w, strict=True)), 1.0)
            for w in snap.workspace_info
        )
