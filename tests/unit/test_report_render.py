"""Rendering with literals: the table for people, CSV and JSON for scripts."""

import csv
import io
import json
from dataclasses import replace

import pytest

from exporter.commands.report.compute import Report, grams, table
from exporter.commands.report.render import duration, render
from exporter.equivalencies import most_relatable
from exporter.methodology import FORMULA, lines, method_of
from exporter.model import Usage
from exporter.pricing import PowerModel

T = 1769846400.0  # 2026-01-31T08:00:00Z
GROUPS = {
    ("IDAaaS", "Muon"): Usage(36000, 72000, 432000, 72000, 25.9, 3.7),
    ("CDAaaS", "Laser"): Usage(7200, 7200, 86400, 7200, 4.5, 0.4),
    ("IDAaaS", "SANS"): Usage(3600, 3600, 43200, 3600, 2.2, 0.2),
}


def report(source="exporter", present=3, reason="", notes=("a note",), top=2, **kw):
    t = table(GROUPS, "group", top, **kw)
    return Report(
        start=T,
        end=T + 4 * 3600,
        by="group",
        source=source,
        origin="http://prom:9090",
        window_seconds=3600.0,
        windows_expected=4,
        windows_present=present,
        table=t,
        equivalents=tuple(most_relatable(grams(t.total))),
        reason=reason,
        notes=notes,
    )


TABLE = """\
Ada carbon report by group: 2026-01-31T08:00:00Z to 2026-01-31T12:00:00Z (4h)
Source: the exporter's series in Prometheus (http://prom:9090), 3 of 4 windows of 1h
  Missing windows count as nothing: backfill them, or use --source raw.

cloud_project_name  machine_name  CPU-h busy  CPU-h idle  kWh busy  kWh idle     kWh  gCO2eq  gCO2/kWh   share
IDAaaS              Muon               10.00       20.00    0.1200    0.0200  0.1400   29.60     211.4   80.2%
CDAaaS              Laser               2.00        2.00    0.0240    0.0020  0.0260    4.90     188.5   13.3%
other (1)                               1.00        1.00    0.0120    0.0010  0.0130    2.40     184.6    6.5%
------------------  ------------  ----------  ----------  --------  --------  ------  ------  --------  ------
total                                  13.00       23.00    0.1560    0.0230  0.1790   36.90     206.1  100.0%

The total is about as much CO2 as:
  4.49 smartphone charges
  1.94 tablet charges
  4.1 hours of a 10 W LED bulb

Note: a note
"""  # noqa: E501 - the table is wider than the code


def test_table_for_people_shows_kwh_grams_intensity_share_and_what_is_missing():
    assert render(report(), "table") == TABLE


def test_a_raw_computation_is_labelled_as_such_with_its_reason():
    text = render(report("raw", present=4, reason="the exporter's series are absent"), "table")
    lines = text.splitlines()
    assert lines[1].startswith("Source: COMPUTED FROM RAW DATA, 4 of 4 windows of 1h")
    assert "because the exporter's series are absent" in text
    assert "Missing windows" not in text


def test_large_totals_are_shown_in_kilograms():
    big = {
        k: Usage(busy_joules=u.busy_joules, busy_grams=u.busy_grams * 1000)
        for k, u in GROUPS.items()
    }
    t = table(big, "group", 0)
    r = Report(T, T + 3600, "group", "exporter", "x", 3600.0, 1, 1, t, ())
    text = render(r, "table")
    assert "kgCO2eq" in text and "32.60" in text


def test_csv_rows_sum_to_the_total_in_stored_units():
    rows = list(csv.DictReader(io.StringIO(render(report(), "csv"))))
    assert [(r["cloud_project_name"], r["machine_name"]) for r in rows] == [
        ("IDAaaS", "Muon"),
        ("CDAaaS", "Laser"),
        ("other", ""),
    ]
    assert sum(float(r["energy_joules"]) for r in rows) == 644400
    assert sum(float(r["emissions_grams"]) for r in rows) == pytest.approx(36.9)
    assert float(rows[0]["intensity_gco2_per_kwh"]) == pytest.approx(29.6 / 0.14)


def test_json_keeps_joules_grams_and_the_equivalents():
    doc = json.loads(render(report(unassigned=Usage(busy_grams=1.0)), "json"))
    assert (doc["from"], doc["to"], doc["by"]) == (
        "2026-01-31T08:00:00Z",
        "2026-01-31T12:00:00Z",
        "group",
    )
    assert doc["windows"] == {"expected": 4, "present": 3}
    assert doc["rows"][0]["key"] == {"cloud_project_name": "IDAaaS", "machine_name": "Muon"}
    assert doc["rows"][0]["energy_joules"] == 504000
    assert doc["other_count"] == 1 and doc["other"]["emissions_grams"] == pytest.approx(2.4)
    assert doc["unassigned"]["emissions_grams"] == 1.0
    assert doc["total"]["emissions_grams"] == pytest.approx(37.9)
    assert doc["equivalents"][0]["equivalent"] == "smartphone_charge"
    assert doc["notes"] == ["a note"]


@pytest.mark.parametrize(
    ("seconds", "text"), [(4 * 3600, "4h"), (31 * 86400, "31d"), (90061, "1d 1h"), (0, "0s")]
)
def test_durations_read_easily(seconds, text):
    assert duration(seconds) == text


def test_the_methodology_block_follows_the_source_and_is_in_the_json():
    method = method_of([("Muon", PowerModel()), ("Laser", PowerModel(15, 1.5, 1.2))], "x")
    r = replace(report(), method=method)
    text = render(r, "table")
    assert text.split("\n\n")[1] == "\n".join(lines(method))
    assert json.loads(render(r, "json"))["methodology"] == {
        "formula": FORMULA,
        "power_models": [
            {"machine_name": "Laser", "busy_watts_per_core": 15, "idle_watts_per_core": 1.5,
             "pue": 1.2},
            {"machine_name": "Muon", "busy_watts_per_core": 12, "idle_watts_per_core": 1,
             "pue": 1},
        ],
        "intensity": "x",
    }  # fmt: skip
    assert "Method:" not in render(report(), "table")  # nothing known, nothing said
