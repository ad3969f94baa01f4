"""Equivalencies: the earlier service's full table, its pick rule, and the constant family."""

import math

import pytest

from exporter.collectors import AdaCarbonCollector
from exporter.equivalencies import TABLE, equivalents, format_count, most_relatable
from tests.unit.test_collector import make, samples

# ada-platform.md, "Equivalencies, gCO2eq per unit".
REFERENCE = {
    "miles_driven_car": 400,
    "km_driven_car": 251,
    "tree_year": 21772,
    "tree_day": 59.6,
    "smartphone_charge": 8.22,
    "laptop_charge": 47,
    "tablet_charge": 19,
    "led_bulb_hour": 9,
    "incandescent_hour": 45,
    "streaming_hour": 55,
    "kettle_boil": 70,
    "kg_coal_burned": 2419,
    "liter_gasoline": 2392,
    "gallon_gasoline": 8887,
    "kg_beef": 27000,
    "kg_chicken": 6900,
    "kg_cheese": 13500,
    "plastic_bottle": 82.8,
    "aluminum_can": 170,
}


def test_the_table_is_the_earlier_services_in_full_with_units_and_sources():
    assert {e.key: e.grams for e in TABLE} == REFERENCE
    assert all(e.unit and e.description and e.source for e in TABLE)
    assert {e.source for e in TABLE} >= {"EPA 2024", "Carbon Trust"}


def test_equivalents_are_grams_over_grams_per_unit():
    counts = {q.equivalency.key: q.count for q in equivalents(400.0)}
    assert counts["miles_driven_car"] == 1.0
    assert counts["smartphone_charge"] == pytest.approx(400 / 8.22)
    assert len(counts) == len(TABLE)


@pytest.mark.parametrize("grams", [0.0, -5.0, math.nan, math.inf])
def test_nothing_to_compare_gives_no_equivalents(grams):
    assert equivalents(grams) == []
    assert most_relatable(grams) == []


def test_counts_between_1_and_100_come_first_in_table_order():
    picked = most_relatable(1000.0)
    assert [q.equivalency.key for q in picked] == ["miles_driven_car", "tree_day", "laptop_charge"]
    assert all(1 <= q.count <= 100 for q in picked)


def test_otherwise_the_counts_closest_to_the_range_by_ratio():
    # 0.874 g (the worked example): nothing reaches 1; smartphone 0.106 is the closest.
    picked = most_relatable(0.874)
    assert [q.equivalency.key for q in picked] == [
        "smartphone_charge",
        "led_bulb_hour",
        "tablet_charge",
    ]
    # 10 t: every count is above 100; 370 kg of beef (3.7 times too many) beats 459 tree-years.
    assert [q.equivalency.key for q in most_relatable(1e7, n=2)] == ["kg_beef", "tree_year"]


def test_one_unit_per_kind_so_miles_and_km_never_both_appear():
    kinds = [q.equivalency.family for q in most_relatable(1000.0, n=len(TABLE))]
    assert len(kinds) == len(set(kinds))
    assert not {"miles_driven_car", "km_driven_car"} <= {
        q.equivalency.key for q in most_relatable(1000.0, n=len(TABLE))
    }


@pytest.mark.parametrize(
    ("count", "text"),
    [(0.10638, "0.106"), (2.5, "2.5"), (16.78, "16.8"), (121.6, "122"), (12345.6, "12,346")],
)
def test_counts_read_easily(count, text):
    assert format_count(count) == text


def test_str_reads_as_a_phrase():
    assert str(most_relatable(400.0, n=1)[0]) == "1 miles driven in an average car"


def test_the_constants_are_exported_for_dashboards_to_divide_by():
    registry, _ = make()
    exported = samples(registry, "ada_carbon_equivalency_grams")
    assert exported[(("equivalent", "smartphone_charge"), ("unit", "charge"))] == 8.22
    assert len(exported) == len(TABLE)


def test_describe_names_the_family_without_refreshing():
    def refresh():
        raise AssertionError("describe must not refresh")

    names = [m.name for m in AdaCarbonCollector(refresh).describe()]
    assert "ada_carbon_equivalency_grams" in names
