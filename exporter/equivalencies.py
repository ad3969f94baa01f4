"""Everyday equivalents of an amount of CO2: the earlier service's table, and its pick rule.

The table is constant data (gCO2eq per unit, with the source the earlier service
cited for it). :func:`equivalents` turns grams into counts of every unit;
:func:`most_relatable` picks the few easiest to picture, by the earlier service's
rule: a count between 1 and 100 first, then the counts closest to that range
(by ratio: 0.5 is as close as 200). It adds one rule of its own: at most one unit
of a kind, so "2.5 miles" and "4.0 km" never both appear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EPA = "EPA 2024"
# The earlier service cited these three for its table as a whole, not per row.
AS_CITED = "EPA 2024 / UK DEFRA / Carbon Trust (as cited)"


@dataclass(frozen=True)
class Equivalency:
    """One everyday unit and the grams CO2-equivalent it stands for."""

    key: str  # the earlier service's name, and the `equivalent` label
    grams: float  # gCO2eq per unit
    unit: str
    description: str  # what a count of units means, plural: "miles driven in ..."
    source: str
    kind: str = ""  # units of one kind (car, tree, petrol) are alternatives to each other

    @property
    def family(self) -> str:
        return self.kind or self.key


TABLE: tuple[Equivalency, ...] = (
    Equivalency("miles_driven_car", 400.0, "mile", "miles driven in an average car", EPA, "car"),
    Equivalency("km_driven_car", 251.0, "km", "km driven in an average car", EPA, "car"),
    Equivalency("tree_year", 21772.0, "tree-year", "trees absorbing for a year", AS_CITED, "tree"),
    Equivalency("tree_day", 59.6, "tree-day", "trees absorbing for a day", AS_CITED, "tree"),
    Equivalency("smartphone_charge", 8.22, "charge", "smartphone charges", EPA),
    Equivalency("laptop_charge", 47.0, "charge", "laptop charges (50 Wh battery)", AS_CITED),
    Equivalency("tablet_charge", 19.0, "charge", "tablet charges", AS_CITED),
    Equivalency("led_bulb_hour", 9.0, "hour", "hours of a 10 W LED bulb", AS_CITED),
    Equivalency("incandescent_hour", 45.0, "hour", "hours of a 60 W incandescent bulb", AS_CITED),
    Equivalency("streaming_hour", 55.0, "hour", "hours of HD video streaming", "Carbon Trust"),
    Equivalency(
        "kettle_boil", 70.0, "litre", "litres boiled in an electric kettle", "Carbon Footprint Ltd"
    ),
    Equivalency("kg_coal_burned", 2419.0, "kg", "kg of coal burned", AS_CITED),
    Equivalency("liter_gasoline", 2392.0, "litre", "litres of petrol burned", AS_CITED, "petrol"),
    Equivalency("gallon_gasoline", 8887.0, "gallon", "US gallons of petrol burned", EPA, "petrol"),
    Equivalency("kg_beef", 27000.0, "kg", "kg of beef", AS_CITED),
    Equivalency("kg_chicken", 6900.0, "kg", "kg of chicken", AS_CITED),
    Equivalency("kg_cheese", 13500.0, "kg", "kg of cheese", AS_CITED),
    Equivalency("plastic_bottle", 82.8, "bottle", "plastic bottles made (500 ml)", AS_CITED),
    Equivalency("aluminum_can", 170.0, "can", "aluminium cans made (330 ml)", AS_CITED),
)


@dataclass(frozen=True)
class Equivalent:
    """An amount of CO2 expressed as a count of one everyday unit."""

    equivalency: Equivalency
    count: float

    def __str__(self) -> str:
        return f"{format_count(self.count)} {self.equivalency.description}"


def equivalents(grams: float) -> list[Equivalent]:
    """``grams`` of CO2eq as a count of every unit in the table; empty for nothing (or less)."""
    if not math.isfinite(grams) or grams <= 0:
        return []
    return [Equivalent(e, grams / e.grams) for e in TABLE]


def _distance(count: float) -> float:
    """1 inside [1, 100]; outside, how many times too small or too large the count is."""
    if count < 1:
        return 1 / count
    return max(1.0, count / 100)


def most_relatable(grams: float, n: int = 3) -> list[Equivalent]:
    """The ``n`` equivalents easiest to picture, at most one per kind, closest first.

    Counts between 1 and 100 come first, in table order; then the others by how far
    (as a ratio) they are from that range.
    """
    picked: list[Equivalent] = []
    kinds: set[str] = set()
    for q in sorted(equivalents(grams), key=lambda q: _distance(q.count)):  # stable sort
        if q.equivalency.family not in kinds and len(picked) < n:
            picked.append(q)
            kinds.add(q.equivalency.family)
    return picked


def format_count(count: float) -> str:
    """A count for people: whole above 100 (thousands separated), else three significant figures."""
    if count >= 100:
        return f"{count:,.0f}"
    return f"{count:.3g}" if count >= 1e-3 else f"{count:.1e}"
