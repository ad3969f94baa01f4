"""Experiments: records parsed and skipped by reason, the attribution rule, its configuration."""

import itertools
from datetime import datetime, timezone

import mongomock
import pytest

from exporter.attribution.experiments import Experiment, Matcher, parse_experiments
from exporter.commands.report.compute import Interval, by_experiment, by_labels, grams
from exporter.config import ConfigError, load
from exporter.model import Usage
from exporter.sources.mongodb import MongoOwnership

DAY = 86400.0
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


def group(name="RB2024001", members=("aa123456", "bb234567"), **parameters):
    params = {"title": "Neutron Diffraction Study", "pi": "aa123456", "instrument": "WISH"}
    params.update(parameters)
    return {"name": name, "type": "experiment", "members": list(members), "parameters": params}


def test_the_seed_record_parses_without_dates():
    [e] = parse_experiments([group()]).experiments
    assert e == Experiment("RB2024001", frozenset({"aa123456", "bb234567"}), "WISH", "aa123456")
    assert (e.start, e.end) == (None, None)


def test_dates_from_parameters_or_top_level_fields_and_a_bare_end_date_is_included():
    a = group("A", start_date="2026-01-01", end_date="2026-01-02")
    b = group("B") | {"start_time": datetime(2026, 1, 1, 6), "end_time": "2026-01-01T18:00:00Z"}
    batch = parse_experiments([a, b])
    by_name = {e.name: e for e in batch.experiments}
    assert (by_name["A"].start, by_name["A"].end) == (T0, T0 + 2 * DAY)
    assert (by_name["B"].start, by_name["B"].end) == (T0 + 6 * 3600, T0 + 18 * 3600)


def test_malformed_records_are_skipped_and_counted_by_reason():
    docs = [
        group("ok"),
        group("ok"),  # the same name again
        "not a document",
        group(""),
        {"name": "m", "members": "aa123456", "parameters": {"instrument": "WISH"}},
        {"name": "p", "members": [], "parameters": None},
        group("i", instrument=""),
        group("pi", pi=42),
        group("d", start_date="someday"),
        group("e", start_date="2026-01-02", end_date="2026-01-01"),
    ]
    batch = parse_experiments(docs)
    assert [e.name for e in batch.experiments] == ["ok"]
    assert batch.skipped == {
        "duplicate": 1,
        "not_a_document": 1,
        "bad_name": 1,
        "bad_members": 1,
        "bad_parameters": 1,
        "no_instrument": 1,
        "bad_pi": 1,
        "bad_date": 1,
        "end_before_start": 1,
    }


def test_a_pi_that_is_an_e_mail_address_is_skipped_and_counted():
    """A report by PI would print it: no e-mail address becomes a report's key or a label."""
    batch = parse_experiments([group("RB1", pi=" carol@example.org "), group("RB2")])
    assert [e.name for e in batch.experiments] == ["RB2"]
    assert batch.skipped == {"email_pi": 1}


def test_the_adapter_reads_experiment_groups_in_one_query_and_counts_bad_ones():
    client = mongomock.MongoClient()
    client["ada"]["groups"].insert_many(
        [group("RB1"), group("RB2") | {"members": "x"}, {"name": "admins", "type": "unix"}]
    )
    source = MongoOwnership(client, "ada", timeout=2.0)
    batch = source.experiments()
    assert [e.name for e in batch.experiments] == ["RB1"]
    assert batch.skipped == {"bad_members": 1}
    assert source.requests == 1


def exp(name, members, instrument="WISH", start=None, end=None, pi=""):
    return Experiment(name, frozenset(members), instrument, pi, start, end)


def test_usage_counts_for_members_on_the_instruments_machine_types_only():
    m = Matcher([exp("A", {"u1"})], {"wish": ["Diffraction"]})  # instruments match any case
    assert m.fractions("u1", "Diffraction", T0, T0 + 3600) == {"A": 1.0}
    assert m.fractions("u1", "Muon", T0, T0 + 3600) == {}
    assert m.fractions("u2", "Diffraction", T0, T0 + 3600) == {}


def test_only_the_part_within_the_dates_counts():
    m = Matcher([exp("A", {"u1"}, start=T0 + 900, end=T0 + 2700)], {"WISH": ["Diffraction"]})
    assert m.fractions("u1", "Diffraction", T0, T0 + 3600) == {"A": 0.5}
    assert m.fractions("u1", "Diffraction", T0 + 3600, T0 + 7200) == {}


def test_usage_matching_two_experiments_is_split_equally():
    m = Matcher(
        [exp("A", {"u1"}), exp("B", {"u1"}, "LOQ", start=T0 + 1800)],
        {"WISH": ["Diffraction"], "LOQ": ["Diffraction", "SANS"]},
    )
    assert m.fractions("u1", "Diffraction", T0, T0 + 3600) == {"A": 0.75, "B": 0.25}


def test_an_unmapped_instrument_matches_nothing_and_is_named():
    m = Matcher([exp("A", {"u1"}, "MARI")], {"WISH": ["Diffraction"]})
    assert m.fractions("u1", "Diffraction", T0, T0 + 3600) == {}
    assert m.unmapped_instruments == ("MARI",)


def test_a_machine_listed_twice_for_an_instrument_is_not_counted_twice():
    m = Matcher([exp("A", {"u1"})], {"WISH": ["Diffraction", "Diffraction"]})
    assert m.fractions("u1", "Diffraction", T0, T0 + 3600) == {"A": 1.0}


def usage(g):
    return Usage(g, g, g, g, g, g)


def test_the_sum_over_experiments_never_exceeds_the_sum_over_users():
    users = ["u1", "u2", "u3"]
    machines = ["Diffraction", "SANS", "Muon"]
    intervals = [
        Interval(
            T0 + k * 3600,
            T0 + (k + 1) * 3600,
            {
                ("IDAaaS", m, "ISIS", u): usage(1 + k + i)
                for i, (u, m) in enumerate(itertools.product(users, machines))
            },
        )
        for k in range(6)
    ]
    experiments = [
        exp("A", {"u1", "u2"}),
        exp("B", {"u1"}, "LOQ", start=T0 + 5400),
        exp("C", {"u1", "u3"}, "LOQ", end=T0 + 4 * 3600),
        exp("D", {"u2", "u3"}, "MuSR", start=T0 + 1000, end=T0 + 9000, pi="p"),
    ]
    instruments = {"WISH": ["Diffraction", "SANS"], "LOQ": ["SANS"], "MuSR": ["Muon"]}
    matcher = Matcher(experiments, instruments)
    every_user = sum(grams(u) for u in by_labels(intervals, "user").values())
    for by in ("experiment", "pi"):
        rows, rest = by_experiment(intervals, experiments, matcher, by)
        assigned = sum(grams(u) for u in rows.values())
        assert assigned <= every_user
        assert assigned + grams(rest) == pytest.approx(every_user)
        assert grams(rest) > 0  # u3 on Diffraction belongs to no experiment


def test_config_maps_instruments_to_machine_types(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "experiments:\n  instruments:\n    WISH: [Diffraction]\n    LOQ: [SANS, Muon]\n"
    )
    assert dict(load(path, env={}).experiments.instruments) == {
        "WISH": ("Diffraction",),
        "LOQ": ("SANS", "Muon"),
    }


@pytest.mark.parametrize(
    "text",
    [
        "experiments:\n  instruments: [WISH]\n",
        "experiments:\n  instruments:\n    WISH: Diffraction\n",
        "experiments:\n  instruments:\n    WISH: ['']\n",
        "experiments:\n  instrumnets: {}\n",
    ],
)
def test_bad_experiment_config_is_reported_by_key(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"experiments\.instrum"):
        load(path, env={})
