"""`calculate`: the earlier service's worked examples, the configured model, both formats."""

import json

import pytest

from exporter.cli import main
from exporter.commands.calculate import as_json, as_table, calculate
from exporter.config import Config, IntensityConfig
from exporter.pricing import PowerModel, kwh


def test_worked_example_1000_busy_5000_idle_is_0_00472_kwh_and_0_874_g_at_185():
    c = calculate(Config(), 1000, 5000, None, 185)
    assert kwh(c.busy_joules) == pytest.approx(0.00333, abs=5e-6)
    assert kwh(c.idle_joules) == pytest.approx(0.00139, abs=5e-6)
    assert kwh(c.busy_joules + c.idle_joules) == pytest.approx(0.00472, abs=5e-6)
    assert c.busy_grams == pytest.approx(0.617, abs=5e-4)
    assert c.idle_grams == pytest.approx(0.257, abs=5e-4)
    assert c.busy_grams + c.idle_grams == pytest.approx(0.874, abs=5e-4)


def test_worked_example_1800_busy_1800_idle_is_0_0065_kwh():
    c = calculate(Config(), 1800, 1800, None, 185)
    assert kwh(c.busy_joules + c.idle_joules) == pytest.approx(0.0065)


def test_a_machine_override_is_used_and_named():
    config = Config(machine_power={"Muon": PowerModel(15, 1.5, 1.2)})
    c = calculate(config, 100, 100, "Muon", 200)
    assert (c.busy_joules, c.idle_joules) == pytest.approx((1800, 180))
    assert "override for 'Muon'" in c.power_from
    assert "no power.machines override for 'SANS'" in calculate(config, 1, 1, "SANS", 1).power_from


def test_without_intensity_the_configured_value_is_used_and_said():
    c = calculate(
        Config(carbon_intensity=IntensityConfig(default_gco2_per_kwh=150)), 0, 0, None, None
    )
    assert c.gco2_per_kwh == 150
    assert "no --intensity" in c.intensity_from and "default_gco2_per_kwh" in c.intensity_from
    fixed = Config(carbon_intensity=IntensityConfig(source="fixed", fixed_gco2_per_kwh=99))
    c = calculate(fixed, 0, 0, None, None)
    assert (c.gco2_per_kwh, "fixed_gco2_per_kwh" in c.intensity_from) == (99, True)


def test_table_shows_kwh_grams_and_equivalents():
    text = as_table(calculate(Config(), 1000, 5000, None, 185))
    assert "0.00472 kWh = 0.00333 busy + 0.00139 idle" in text
    assert "0.874 gCO2eq = 0.617 busy + 0.257 idle" in text
    assert "185 gCO2/kWh  (--intensity)" in text
    assert "smartphone charges" in text


def test_json_stores_joules_and_grams():
    doc = json.loads(as_json(calculate(Config(), 1000, 5000, None, 185)))
    assert (doc["busy_joules"], doc["idle_joules"], doc["energy_joules"]) == (12000, 5000, 17000)
    assert doc["emissions_grams"] == pytest.approx(0.874, abs=5e-4)
    assert doc["top_equivalents"][0] == "smartphone_charge"
    assert doc["equivalents"]["miles_driven_car"]["count"] == pytest.approx(0.874 / 400, rel=1e-3)


def test_the_command(capsys):
    args = ["calculate", "--busy-seconds", "1000", "--idle-seconds", "5000", "--intensity", "185"]
    assert main([*args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["energy_joules"] == 17000


@pytest.mark.parametrize("bad", ["-1", "nan", "lots"])
def test_negative_or_non_numbers_are_refused(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["calculate", "--busy-seconds", bad, "--idle-seconds", "0"])
    assert exit_.value.code == 2
    assert "--busy-seconds" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_finite_numbers_whose_energy_or_carbon_overflows_are_refused(fmt, capsys):
    args = ["calculate", "--busy-seconds=1e308", "--idle-seconds=1", "--intensity=1e308"]
    assert main([*args, f"--format={fmt}"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "too large to compute" in err


def test_help_explains_the_command(capsys):
    with pytest.raises(SystemExit):
        main(["calculate", "--help"])
    out = capsys.readouterr().out
    for text in [
        "--busy-seconds",
        "--idle-seconds",
        "--intensity",
        "--machine",
        "/carbon/calculate",
    ]:
        assert text in out
