"""Carbon budgets per facility and per cloud project, per calendar month (``budgets:``).

::

    budgets:
      facility:
        ISIS: {grams: 40000, kwh: 350}
      cloud_project_name:
        CDAaaS: {grams: 60000}

Each budget has ``grams`` (gCO2e) or ``kwh`` or both, positive numbers. The exporter
exports them as ``ada_carbon_budget_grams{scope, name}`` and ``ada_carbon_budget_kwh``;
``prometheus/ada-carbon-budgets.yml`` compares them with what was emitted this month.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import exporter.config.values as v

SCOPES = ("facility", "cloud_project_name")  # the usage label each scope's names are in
UNITS = ("grams", "kwh")


@dataclass(frozen=True)
class Budget:
    """What one facility or cloud project may emit (and use) in a calendar month."""

    scope: str  # facility or cloud_project_name
    name: str  # its value of that label
    grams: float | None = None
    kwh: float | None = None


# Shown by `--demo` when exporter.yaml sets none. The demo fleet emits about 55 kg a
# month at ISIS (400 kWh) and 25 kg at CLF: ISIS's month would overrun its budget (the
# slow burn), CLF's and IDAaaS's stay inside.
DEMO_BUDGETS = (
    Budget("facility", "ISIS", grams=4.0e4, kwh=350.0),
    Budget("facility", "CLF", grams=1.0e5),
    Budget("cloud_project_name", "IDAaaS", grams=6.0e4, kwh=500.0),
)

_AMOUNT = v.number(-math.inf)  # finite; "above 0" is said below


def _mapping(data: Any, key: str, problems: list[str]) -> dict[Any, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"{key}: expected a mapping, got {type(data).__name__}")
        return {}
    return data


def _budget(scope: str, name: str, data: Any, key: str, problems: list[str]) -> Budget | None:
    amounts: dict[str, float] = {}
    given = _mapping(data, key, problems)
    for unit, raw in given.items():
        if unit not in UNITS:
            problems.append(f"{key}: unknown key {v.shown(unit)} (expected grams or kwh)")
            continue
        try:
            amount = _AMOUNT(raw)
        except ValueError as exc:
            problems.append(f"{key}.{unit}: {exc}")
            continue
        if amount <= 0:
            problems.append(f"{key}.{unit}: must be above 0, got {raw!r}")
            continue
        amounts[unit] = amount
    if isinstance(data, dict) and not given:
        problems.append(f"{key}: give grams or kwh (or both)")
    if not amounts:
        return None
    return Budget(scope, name, amounts.get("grams"), amounts.get("kwh"))


def parse_budgets(data: Any, problems: list[str]) -> tuple[Budget, ...]:
    """The ``budgets:`` section; each problem is appended with its key path."""
    budgets = []
    for scope, names in _mapping(data, "budgets", problems).items():
        if scope not in SCOPES:
            expected = "expected facility or cloud_project_name"
            problems.append(f"budgets: unknown scope {v.shown(scope)} ({expected})")
            continue
        key = f"budgets.{scope}"
        for name, amounts in _mapping(names, key, problems).items():
            if not isinstance(name, str) or not name:
                problems.append(f"{key}: expected a non-empty name, got {v.shown(name)}")
                continue
            budget = _budget(scope, name, amounts, f"{key}.{name}", problems)
            if budget is not None:
                budgets.append(budget)
    return tuple(budgets)
