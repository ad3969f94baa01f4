"""Region parsing and the carbon_intensity keys of the config: values, paths, errors by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import ConfigError, load
from exporter.grid import WorkingHours
from exporter.sources.carbon_intensity.regions import NATIONAL, Region, parse_region


@pytest.mark.parametrize(
    ("value", "region", "label"),
    [
        ("national", NATIONAL, "GB"),
        ("National", NATIONAL, "GB"),
        ("GB", NATIONAL, "GB"),  # the label national data carries
        (12, Region("regionid", "12"), "South England"),
        ("12", Region("regionid", "12"), "South England"),
        (1, Region("regionid", "1"), "North Scotland"),
        (17, Region("regionid", "17"), "Wales"),
        ("OX11", Region("postcode", "OX11"), "OX11"),
        ("ox11", Region("postcode", "OX11"), "OX11"),
        ("M1", Region("postcode", "M1"), "M1"),
        ("EC1A", Region("postcode", "EC1A"), "EC1A"),
    ],
)
def test_region_values(value: object, region: Region, label: str) -> None:
    assert parse_region(value) == region
    assert region.label == label


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "region id must be 1-17, got 0"),
        (18, "region id must be 1-17, got 18"),
        ("OX11 0QX", "give only the outward code"),
        ("Harwell", "outward postcode like OX11"),
        ("11OX", "outward postcode like OX11"),
        (True, "expected national"),
        (12.5, "expected national"),
    ],
)
def test_bad_regions_are_refused_with_a_reason(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_region(value)


def test_api_paths_per_region_kind() -> None:
    assert NATIONAL.range_path("A", "B") == "/intensity/A/B"
    assert NATIONAL.forecast_path("A") == "/intensity/A/fw48h"
    assert Region("regionid", "12").range_path("A", "B") == "/regional/intensity/A/B/regionid/12"
    assert (
        Region("postcode", "OX11").forecast_path("A") == "/regional/intensity/A/fw48h/postcode/OX11"
    )
    assert NATIONAL.has_actuals and not Region("postcode", "OX11").has_actuals


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_carbon_intensity_keys_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "carbon_intensity:\n  region: OX11\n  greenest_window: 90m\n"
        '  working_hours: "09:30-16:00"\n',
    )
    ci = load(path, env={}).carbon_intensity
    assert ci.region == Region("postcode", "OX11")
    assert ci.greenest_window_seconds == 5400
    assert ci.working_hours == WorkingHours(570, 960)


def test_defaults_are_national_a_3h_window_and_office_hours(tmp_path: Path) -> None:
    ci = load(write(tmp_path, "carbon_intensity: {}\n"), env={}).carbon_intensity
    assert (ci.region, ci.greenest_window_seconds, ci.working_hours) == (
        NATIONAL,
        10800,
        WorkingHours(480, 1020),
    )


def test_every_bad_carbon_intensity_key_is_reported_with_its_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "carbon_intensity:\n  region: 42\n  greenest_window: 45m\n  working_hours: 5pm-9am\n",
    )
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    problems = err.value.problems
    assert any(p.startswith("carbon_intensity.region: region id must be 1-17") for p in problems)
    assert any(
        p.startswith("carbon_intensity.greenest_window: must be a multiple of 30m")
        for p in problems
    )
    assert any(p.startswith("carbon_intensity.working_hours: expected") for p in problems)
    assert len(problems) == 3


@pytest.mark.parametrize("window", ["0s", "25h", "100m"])
def test_greenest_window_must_be_whole_half_hours_up_to_a_day(tmp_path: Path, window: str) -> None:
    with pytest.raises(ConfigError, match=r"carbon_intensity\.greenest_window"):
        load(write(tmp_path, f"carbon_intensity:\n  greenest_window: {window}\n"), env={})


def test_a_full_postcode_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"carbon_intensity\.region: give only the outward code"):
        load(write(tmp_path, 'carbon_intensity:\n  region: "OX11 0QX"\n'), env={})
