"""The report's arithmetic with literals: sums by key, ranking, top N, windows and pieces."""

import pytest

from exporter.commands import window_ends
from exporter.commands.report.compute import (
    Interval,
    by_labels,
    covered,
    intensity,
    kwh,
    pieces,
    plus,
    table,
)
from exporter.model import Usage

H = 3600.0
MUON = ("IDAaaS", "Muon", "ISIS")
SANS = ("IDAaaS", "SANS", "ISIS")
LASER = ("CDAaaS", "Laser", "CLF")


def u(grams, seconds=3600.0, joules=36_000.0):
    """Busy usage only, with the given grams."""
    return Usage(seconds, 0.0, joules, 0.0, grams, 0.0)


INTERVALS = [
    Interval(0, H, {(*MUON, "alice"): u(5), (*SANS, "alice"): u(2), (*LASER, "bob"): u(1)}),
    Interval(H, 2 * H, {(*MUON, "alice"): u(5), (*MUON, "carol"): u(4)}),
]


def test_plus_adds_field_by_field_with_a_weight():
    assert plus(Usage(1, 2, 3, 4, 5, 6), Usage(1, 1, 1, 1, 1, 1), 0.5) == Usage(
        1.5, 2.5, 3.5, 4.5, 5.5, 6.5
    )


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("facility", {("ISIS",): 16, ("CLF",): 1}),
        ("project", {("IDAaaS",): 16, ("CDAaaS",): 1}),
        ("group", {("IDAaaS", "Muon"): 14, ("IDAaaS", "SANS"): 2, ("CDAaaS", "Laser"): 1}),
        ("user", {("alice",): 12, ("carol",): 4, ("bob",): 1}),
    ],
)
def test_usage_is_summed_by_the_chosen_labels_over_every_interval(by, expected):
    assert {k: v.busy_grams for k, v in by_labels(INTERVALS, by).items()} == expected


def test_rows_are_ranked_by_emissions_and_the_rest_summed_as_other():
    t = table(by_labels(INTERVALS, "user"), "user", top=1)
    assert [(r.key, r.usage.busy_grams) for r in t.rows] == [(("alice",), 12)]
    assert t.other is not None and (t.other.usage.busy_grams, t.other_count) == (5, 2)
    assert t.total.busy_grams == 17 and t.unassigned is None
    assert table(by_labels(INTERVALS, "user"), "user", top=0).other is None


def test_ties_rank_by_key_and_the_unassigned_row_counts_in_the_total():
    t = table({("b",): u(1), ("a",): u(1)}, "experiment", top=0, unassigned=u(3))
    assert [r.key for r in t.rows] == [("a",), ("b",)]
    assert t.unassigned is not None and t.unassigned.key == ("(no experiment)",)
    assert t.total.busy_grams == 5


def test_effective_intensity_is_grams_per_kwh():
    assert kwh(Usage(busy_joules=3.6e6, idle_joules=7.2e6)) == (1.0, 2.0, 3.0)
    assert intensity(Usage(busy_joules=3.6e6, busy_grams=185.0)) == pytest.approx(185.0)
    assert intensity(Usage()) is None


def test_a_period_holds_the_windows_ending_after_its_start_up_to_its_end():
    assert window_ends(0, 4 * H, H) == [H, 2 * H, 3 * H, 4 * H]
    assert window_ends(0.5 * H, 2.5 * H, H) == [H, 2 * H]
    assert window_ends(10, 20, H) == []


def test_pieces_cut_on_both_sides_of_the_window_holding_an_experiment_boundary():
    assert pieces(0, 10 * H, H, [2.5 * H, 5 * H, 99 * H], 100 * H) == [
        (0, 2 * H),
        (2 * H, 3 * H),
        (3 * H, 5 * H),
        (5 * H, 10 * H),
    ]


def test_pieces_are_never_longer_than_asked_and_stay_on_the_window_grid():
    assert pieces(0.5 * H, 10 * H, H, [], 4 * H) == [
        (0.5 * H, 4 * H),
        (4 * H, 8 * H),
        (8 * H, 10 * H),
    ]
    assert sum(len(window_ends(a, b, H)) for a, b in pieces(0.5 * H, 10 * H, H, [], 4 * H)) == 10


def test_a_piece_covers_the_time_of_its_windows():
    assert covered((0.5 * H, 4 * H), H) == (0, 4 * H)
    assert covered((2 * H, 3 * H), H) == (2 * H, 3 * H)
