"""CPU, energy and emissions by project, machine type, facility, user and mode.

Exposition produced (abridged)::

    # HELP ada_carbon_energy_joules Energy used by Ada workspaces over the trailing ...
    # TYPE ada_carbon_energy_joules gauge
    ada_carbon_energy_joules{cloud_project_name="IDAaaS",facility="ISIS",\
machine_name="Muon",mode="busy",user="aa123456"} 43200.0
    ada_carbon_window_seconds 3600.0
"""

from __future__ import annotations

from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.samples import Sample

from exporter.collectors.base import WINDOW, AreaCollector, FamilySpec
from exporter.model import Snapshot, Usage

USAGE_LABELS = ("cloud_project_name", "machine_name", "facility", "user", "mode")
MODES = ("busy", "idle")
# The values are estimates (a power model of watts per core), written to 12 significant
# digits: a millionth of a CPU-second in an hour of a 100-host group, and conservation
# (the users of a group sum to what Prometheus measured) to 1e-12.
USAGE_DIGITS = 12
_ROUNDED = f"%.{USAGE_DIGITS}g"
# Each usage family, and the unit of its Usage fields (busy_seconds, idle_seconds, ...).
UNITS = {"cpu": "seconds", "energy": "joules", "emissions": "grams"}


class UsageCollector(AreaCollector):
    """Usage over the window: two series (busy, idle) per (group, user) and family."""

    specs: ClassVar[dict[str, FamilySpec]] = {
        "cpu": FamilySpec(
            "ada_carbon_cpu_seconds",
            f"CPU-seconds of Ada workspaces, busy or idle, {WINDOW}, attributed to the user who "
            'owned the host at the time (user="unattributed" when nobody did). '
            "From Prometheus node_cpu_seconds_total and MongoDB workspaces.",
            USAGE_LABELS,
        ),
        "energy": FamilySpec(
            "ada_carbon_energy_joules",
            f"Energy used by Ada workspaces {WINDOW}: CPU-seconds x watts per core "
            "(busy or idle, per machine type) x PUE.",
            USAGE_LABELS,
        ),
        "emissions": FamilySpec(
            "ada_carbon_emissions_grams",
            f"Grams CO2-equivalent emitted by Ada workspaces {WINDOW}: energy x the "
            "time-weighted grid carbon intensity of the half hours the usage fell in.",
            USAGE_LABELS,
        ),
        "window": FamilySpec(
            "ada_carbon_window_seconds",
            "Length of the trailing window the cpu, energy and emissions families cover.",
        ),
        "window_end": FamilySpec(
            "ada_carbon_window_end_timestamp_seconds",
            "Unix time of the end of the window the cpu, energy and emissions families cover, "
            "which is when the refresh ran: within min_refresh_interval of a refresh its "
            "result is served again, and time() minus this is its age.",
        ),
    }

    def fill(self, families: dict[str, GaugeMetricFamily], snap: Snapshot | None) -> None:
        if snap is None:
            return
        families["window"].add_metric([], snap.window_seconds)
        families["window_end"].add_metric([], snap.end)
        if snap.usage is None:
            return
        # In the refresh's order (as deterministic as its answers), not sorted: Prometheus
        # does not mind. One label dict per series, shared by the three families: a third
        # of the dicts.
        rows = list(snap.usage.items())
        labels = [
            dict(zip(USAGE_LABELS, (*key, mode), strict=True)) for key, _ in rows for mode in MODES
        ]
        for key, unit in UNITS.items():
            fields = [Usage._fields.index(f"{mode}_{unit}") for mode in MODES]
            values = [float(_ROUNDED % usage[i]) for _, usage in rows for i in fields]
            name = families[key].name
            families[key].samples.extend(map(Sample, [name] * len(labels), labels, values))


def rounded(value: float) -> float:
    """``value`` to USAGE_DIGITS significant digits (NaN and infinities as they are)."""
    return float(_ROUNDED % value)
