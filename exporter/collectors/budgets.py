"""The monthly carbon budgets of ``exporter.yaml``, for the burn-rate alerts to compare with.

Exposition produced (the demo's budgets)::

    # HELP ada_carbon_budget_grams Carbon budget per calendar month, gCO2eq, of a facility ...
    # TYPE ada_carbon_budget_grams gauge
    ada_carbon_budget_grams{name="ISIS",scope="facility"} 40000.0
    ada_carbon_budget_grams{name="CLF",scope="facility"} 100000.0
    ada_carbon_budget_grams{name="IDAaaS",scope="cloud_project_name"} 60000.0
    # HELP ada_carbon_budget_kwh Energy budget per calendar month, kWh, of a facility ...
    # TYPE ada_carbon_budget_kwh gauge
    ada_carbon_budget_kwh{name="ISIS",scope="facility"} 350.0
    ada_carbon_budget_kwh{name="IDAaaS",scope="cloud_project_name"} 500.0

Constants of the configuration: they need no source, so they are served even when a
refresh fails. Without budgets configured, neither family is exported.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.config import Budget

LABELS = ["scope", "name"]
_WHOSE = (
    "of a facility (scope=facility) or cloud project (scope=cloud_project_name), from "
    "budgets: in exporter.yaml; prometheus/ada-carbon-budgets.yml compares it with this "
    "month's usage."
)
GRAMS_HELP = f"Carbon budget per calendar month, gCO2eq, {_WHOSE}"
KWH_HELP = f"Energy budget per calendar month, kWh, {_WHOSE}"


class BudgetCollector(Collector):
    """``ada_carbon_budget_grams`` and ``_kwh``, one series per configured budget."""

    def __init__(self, budgets: Sequence[Budget] = ()) -> None:
        self.budgets = tuple(budgets)

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("ada_carbon_budget_grams", GRAMS_HELP, labels=LABELS)
        yield GaugeMetricFamily("ada_carbon_budget_kwh", KWH_HELP, labels=LABELS)

    def collect(self) -> Iterator[Metric]:
        grams = GaugeMetricFamily("ada_carbon_budget_grams", GRAMS_HELP, labels=LABELS)
        kwh = GaugeMetricFamily("ada_carbon_budget_kwh", KWH_HELP, labels=LABELS)
        for b in self.budgets:
            if b.grams is not None:
                grams.add_metric([b.scope, b.name], b.grams)
            if b.kwh is not None:
                kwh.add_metric([b.scope, b.name], b.kwh)
        yield from (family for family in (grams, kwh) if family.samples)
