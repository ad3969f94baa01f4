"""Embodied emissions by project, machine type, facility and user, and what had no model.

Exposition produced (abridged)::

    # HELP ada_carbon_embodied_grams Grams CO2-equivalent of the hardware's embodied ...
    # TYPE ada_carbon_embodied_grams gauge
    ada_carbon_embodied_grams{cloud_project_name="IDAaaS",facility="ISIS",\
machine_name="Muon",user="aa123456"} 2.14041095890
    ada_carbon_embodied_unconfigured_hosts{machine_name="Training"} 7.0
"""

from __future__ import annotations

from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily

from exporter.collectors.base import WINDOW, AreaCollector, FamilySpec
from exporter.collectors.usage import rounded
from exporter.model import Snapshot

EMBODIED_LABELS = ("cloud_project_name", "machine_name", "facility", "user")


class EmbodiedCollector(AreaCollector):
    """Embodied grams per (group, user) of the machine types with a model; the rest counted."""

    specs: ClassVar[dict[str, FamilySpec]] = {
        "embodied": FamilySpec(
            "ada_carbon_embodied_grams",
            f"Grams CO2-equivalent of the hardware's embodied (manufacturing) emissions {WINDOW}: "
            'the host-time each user held (busy or idle; user="unattributed" for the time '
            "nobody did while Prometheus measured the host) x the server's embodied kgCO2e x "
            "the host's share of its cores / its lifetime, from the embodied: models of "
            "exporter.yaml. Machine types with no model are left out.",
            EMBODIED_LABELS,
        ),
        "unconfigured": FamilySpec(
            "ada_carbon_embodied_unconfigured_hosts",
            f"Hosts Prometheus measured {WINDOW} whose machine type has no embodied model "
            "in exporter.yaml: their embodied emissions are not in ada_carbon_embodied_grams.",
            ("machine_name",),
        ),
    }

    def fill(self, families: dict[str, GaugeMetricFamily], snap: Snapshot | None) -> None:
        if snap is None or snap.usage is None:
            return
        left_out = snap.embodied_unconfigured
        for key, usage in snap.usage.items():
            if key[1] not in left_out:
                families["embodied"].add_metric(list(key), rounded(usage.embodied_grams))
        for machine, hosts in sorted(left_out.items()):
            families["unconfigured"].add_metric([machine], hosts)
