"""`calculate`: the earlier service's worked examples, the configured model, both formats."""

import json

import pytest

from exporter.cli import main
from exporter.commands.calculate import as_json, as_table, calculate
from exporter.config import Config, IntensityConfig
from exporter.equivalencies import most_relatable
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
    assert "  grid intensity: 185 gCO2/kWh (--intensity)\n" in text
    assert "smartphone charges" in text


def test_table_ends_with_the_methodology_block_of_the_model_used():
    config = Config(machine_power={"Muon": PowerModel(15, 1.5, 1.2)})
    text = as_table(calculate(config, 100, 100, "Muon", 200))
    assert text.endswith(
        "Method: energy = CPU-seconds x W per core (busy or idle) x PUE, carbon = energy x "
        "intensity\n"
        "  power model: 15 W busy / 1.5 W idle per core, PUE 1.2: Muon\n"
        "  grid intensity: 200 gCO2/kWh (--intensity)\n"
    )
    text = as_table(calculate(config, 100, 100, "SANS", None))
    assert "  power model: 12 W busy / 1 W idle per core, PUE 1: SANS (no power.machines " in text
    assert "  grid intensity: 200 gCO2/kWh (no --intensity: the configured\n" in text
    assert "    carbon_intensity.default_gco2_per_kwh)\n" in text


def test_grams_prints_the_equivalents_easiest_to_picture_by_the_reports_rule(capsys):
    assert main(["calculate", "--grams", "18.89"]) == 0
    out = capsys.readouterr().out
    top = most_relatable(18.89)
    assert [q.equivalency.key for q in top] == [
        "smartphone_charge",
        "led_bulb_hour",
        "tablet_charge",
    ]
    assert out == (
        "Carbon     18.9 gCO2eq  (--grams)\n"
        "That is about 2.3 smartphone charges, or 2.1 hours of a 10 W LED bulb, or 0.994 "
        "tablet charges.\n"
    )


def test_kwh_is_priced_at_the_intensity_then_compared(capsys):
    assert main(["calculate", "--kwh", "2", "--intensity", "185", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["emissions_grams"] == 370 and doc["energy_joules"] == 7_200_000
    assert doc["top_equivalents"] == [q.equivalency.key for q in most_relatable(370)]
    assert doc["equivalents"]["smartphone_charge"]["count"] == pytest.approx(370 / 8.22)
    assert main(["calculate", "--kwh", "1"]) == 0  # the configured default, 200 g/kWh
    assert "Carbon     200 gCO2eq\n" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--busy-seconds", "1"], "give --idle-seconds (or --grams, or --kwh)"),
        ([], "give --busy-seconds and --idle-seconds (or --grams, or --kwh)"),
        (["--grams", "1", "--intensity", "3"], "--grams does not go with --intensity"),
        (["--kwh", "1", "--busy-seconds", "1"], "--kwh does not go with --busy-seconds"),
        (["--grams", "1", "--machine", "Muon"], "--grams does not go with --machine"),
    ],
)
def test_cpu_seconds_grams_and_kwh_are_alternatives(argv, message, capsys):
    assert main(["calculate", *argv]) == 2
    assert capsys.readouterr().err == f"ada-carbon-exporter calculate: {message}\n"


def test_grams_and_kwh_together_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["calculate", "--grams", "1", "--kwh", "1"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_json_stores_joules_and_grams():
    doc = json.loads(as_json(calculate(Config(), 1000, 5000, None, 185)))
    assert (doc["busy_joules"], doc["idle_joules"], doc["energy_joules"]) == (12000, 5000, 17000)
    assert doc["emissions_grams"] == pytest.approx(0.874, abs=5e-4)
    assert doc["top_equivalents"][0] == "smartphone_charge"
    assert doc["equivalents"]["miles_driven_car"]["count"] == pytest.approx(0.874 / 400, rel=1e-3)
    assert doc["methodology"]["power_models"] == [
        {"machine_name": "", "busy_watts_per_core": 12, "idle_watts_per_core": 1, "pue": 1}
    ]
    assert doc["methodology"]["intensity"] == "185 gCO2/kWh (--intensity)"


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
