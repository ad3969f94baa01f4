"""Mean power and emission rate over the window, and the power model that priced them.

Exposition produced (abridged)::

    # HELP ada_carbon_power_watts Mean power drawn by Ada workspaces over the trailing ...
    # TYPE ada_carbon_power_watts gauge
    ada_carbon_power_watts{cloud_project_name="IDAaaS",facility="ISIS",\
machine_name="Muon",mode="busy",user="aa123456"} 12.0
    ada_carbon_power_model_info{busy_watts_per_core="12",embodied_cores="4",\
embodied_lifetime_days="1460",embodied_server_cores="16",embodied_server_kgco2e="3504",\
idle_watts_per_core="1",machine_name="Muon",pue="1"} 1.0

The power is the energy of the window over its length, so a series that is exported
throughout a range gives its joules as ``avg_over_time(ada_carbon_power_watts[R]) * R``
(see docs/methodology.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.samples import Sample

from exporter.collectors.base import WINDOW, AreaCollector, FamilySpec
from exporter.collectors.usage import MODES, USAGE_LABELS, rounded
from exporter.embodied import EmbodiedModel
from exporter.model import GroupKey, Snapshot, Usage
from exporter.pricing import PowerModel

# The info family's labels: the machine type, its power model's parameters, then its
# embodied model's (empty for a machine type without one: never a guess).
MODEL_LABELS = (
    "machine_name",
    *("busy_watts_per_core", "idle_watts_per_core", "pue"),
    *("embodied_server_kgco2e", "embodied_cores", "embodied_server_cores"),
    "embodied_lifetime_days",
)


def model_labels(machine: str, model: PowerModel, embodied: EmbodiedModel | None) -> list[str]:
    """The info series' label values for a machine type priced with these models."""
    power = (model.busy_watts_per_core, model.idle_watts_per_core, model.pue)
    if embodied is None:
        return [machine, *(f"{x:g}" for x in power), "", "", "", ""]
    days = embodied.lifetime_seconds / 86400
    parts = (embodied.server_kgco2e, embodied.cores, embodied.server_cores, days)
    return [machine, *(f"{x:g}" for x in (*power, *parts))]


class PowerCollector(AreaCollector):
    """Energy and emissions over the window as rates, and the model of each machine type."""

    specs: ClassVar[dict[str, FamilySpec]] = {
        "power": FamilySpec(
            "ada_carbon_power_watts",
            f"Mean power drawn by Ada workspaces {WINDOW}: ada_carbon_energy_joules over "
            "ada_carbon_window_seconds. avg_over_time of it over a range it is exported "
            "throughout, times the range in seconds, is the range's joules.",
            USAGE_LABELS,
        ),
        "emission_rate": FamilySpec(
            "ada_carbon_emission_rate_grams_per_second",
            f"Mean rate of emission of Ada workspaces, gCO2eq per second, {WINDOW}: "
            "ada_carbon_emissions_grams over ada_carbon_window_seconds.",
            USAGE_LABELS,
        ),
        "model": FamilySpec(
            "ada_carbon_power_model_info",
            "The power model that priced each machine type's usage in the window: watts per "
            "CPU core busy and idle, and the PUE (power.* and power.machines in exporter.yaml); "
            "the embodied model's server kgCO2e, cores, server cores and lifetime in days "
            "(embodied.machines; empty without one). Always 1; one series per machine type in "
            "the usage families.",
            MODEL_LABELS,
        ),
    }

    def fill(self, families: dict[str, GaugeMetricFamily], snap: Snapshot | None) -> None:
        if snap is None or snap.usage is None:
            return
        for machine, model in snap.power_models.items():
            embodied = snap.embodied_models.get(machine)
            families["model"].add_metric(model_labels(machine, model, embodied), 1.0)
        _rates(families, snap.usage, snap.window_seconds)


def _rates(
    families: dict[str, GaugeMetricFamily], usage: Mapping[GroupKey, Usage], window: float
) -> None:
    """The power and emission-rate samples: each usage value over the window's length."""
    rows = list(usage.items())
    # One label dict per series, shared by the two families, as in the usage families.
    labels = [
        dict(zip(USAGE_LABELS, (*key, mode), strict=True)) for key, _ in rows for mode in MODES
    ]
    for key, unit in (("power", "joules"), ("emission_rate", "grams")):
        fields = [Usage._fields.index(f"{mode}_{unit}") for mode in MODES]
        values = [rounded(u[i] / window) for _, u in rows for i in fields]
        name = families[key].name
        families[key].samples.extend(map(Sample, [name] * len(labels), labels, values))
