"""Power and emission-rate families, the power model info, and the methodology block."""

import pytest
from prometheus_client import CollectorRegistry

from exporter.collectors import AdaCarbonCollector
from exporter.collectors.power import MODEL_LABELS
from exporter.config import Config, IntensityConfig
from exporter.embodied import EmbodiedModel
from exporter.methodology import Method, intensity_text, lines, method_of
from exporter.pricing import PowerModel
from exporter.refresh import Refresh
from tests.stubs import StubIntensity, StubOwnership, StubUsage, usage, ws
from tests.unit.test_collector import END, T, samples

MUON = {"cloud_project_name": "IDAaaS", "machine_name": "Muon", "facility": "ISIS"}


def registry_of(config, usage_src, owner_src, intensity=100.0, window=3600.0):
    cfg = Config(
        window_seconds=window,
        carbon_intensity=IntensityConfig(default_gco2_per_kwh=150.0),
        **config,
    )
    engine = Refresh(cfg, usage_src, owner_src, StubIntensity(intensity))
    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(lambda: engine.snapshot(END)))
    return registry


def by_labels(registry, name):
    return {tuple(v for _, v in key): value for key, value in samples(registry, name).items()}


def test_power_is_the_windows_energy_over_its_length_and_the_rate_its_grams():
    # One host, 8 cores: 3600 busy CPU-s and 25200 idle CPU-s over the hour, at 100 g/kWh.
    src = StubUsage([usage(busy=3600.0, idle=25200.0)])
    owners = StubOwnership([ws("w1", "alice", T - 86400)])
    registry = registry_of({}, src, owners)
    watts = samples(registry, "ada_carbon_power_watts")
    rate = samples(registry, "ada_carbon_emission_rate_grams_per_second")
    joules = samples(registry, "ada_carbon_energy_joules")
    grams = samples(registry, "ada_carbon_emissions_grams")
    busy = tuple(sorted({**MUON, "user": "alice", "mode": "busy"}.items()))
    idle = tuple(sorted({**MUON, "user": "alice", "mode": "idle"}.items()))
    # 3600 s x 12 W over 3600 s = 12 W; 25200 s x 1 W over 3600 s = 7 W.
    assert (watts[busy], watts[idle]) == pytest.approx((12.0, 7.0))
    # 12 W for an hour is 0.012 kWh, 1.2 g at 100 g/kWh: 1.2 / 3600 g/s.
    assert rate[busy] == pytest.approx(1.2 / 3600)
    assert set(watts) == set(joules) == set(rate) == set(grams)
    for key in joules:
        assert watts[key] == pytest.approx(joules[key] / 3600, rel=1e-11)
        assert rate[key] == pytest.approx(grams[key] / 3600, rel=1e-11)


def test_a_longer_window_divides_by_its_own_length():
    src = StubUsage([usage(busy=7200.0, idle=0.0)])
    registry = registry_of({}, src, StubOwnership([ws("w1", "alice", T - 86400)]), window=7200)
    watts = by_labels(registry, "ada_carbon_power_watts")
    assert watts[("IDAaaS", "ISIS", "Muon", "busy", "alice")] == pytest.approx(12.0)


def test_one_model_info_series_per_machine_type_priced_with_its_own_model():
    src = StubUsage(
        [
            usage(busy=100.0, idle=100.0),
            usage("172.16.100.51", machine="SANS", busy=100.0, idle=100.0),
        ]
    )
    config = {"machine_power": {"SANS": PowerModel(15, 1.5, 1.2), "Unused": PowerModel(1, 1)}}
    registry = registry_of(config, src, StubOwnership([]))
    info = samples(registry, "ada_carbon_power_model_info")
    assert {tuple(dict(k)[name] for name in MODEL_LABELS): v for k, v in info.items()} == {
        ("Muon", "12", "1", "1", "", "", "", ""): 1.0,
        ("SANS", "15", "1.5", "1.2", "", "", "", ""): 1.0,
    }


def test_the_model_info_names_the_embodied_model_of_a_machine_type_that_has_one():
    src = StubUsage(
        [
            usage(busy=100.0, idle=100.0),
            usage("172.16.100.51", machine="SANS", busy=100.0, idle=100.0),
        ]
    )
    model = EmbodiedModel(server_kgco2e=3504.0, cores=4, server_cores=16)
    registry = registry_of({"embodied": {"Muon": model}}, src, StubOwnership([]))
    info = samples(registry, "ada_carbon_power_model_info")
    assert {tuple(dict(k)[name] for name in MODEL_LABELS): v for k, v in info.items()} == {
        ("Muon", "12", "1", "1", "3504", "4", "16", "1460"): 1.0,
        ("SANS", "12", "1", "1", "", "", "", ""): 1.0,
    }


def test_no_usage_no_power_and_no_model():
    registry = registry_of({}, StubUsage([usage()], fail=True), StubOwnership([]))
    for name in (
        "ada_carbon_power_watts",
        "ada_carbon_emission_rate_grams_per_second",
        "ada_carbon_power_model_info",
    ):
        assert samples(registry, name) == {}, name


def test_the_methodology_block_groups_machine_types_by_model():
    method = method_of(
        [
            ("SANS", PowerModel()),
            ("Muon", PowerModel()),
            ("Laser", PowerModel(15, 1.5, 1.2)),
            ("Muon", PowerModel()),
        ],
        intensity_text("GB", {"api": 20, "cache": 1, "last_good": 3}),
    )
    block = lines(method)
    assert block[:3] == [
        "Method: energy = CPU-seconds x W per core (busy or idle) x PUE, carbon = energy x "
        "intensity",
        "  power model: 15 W busy / 1.5 W idle per core, PUE 1.2: Laser",
        "  power model: 12 W busy / 1 W idle per core, PUE 1: Muon, SANS",
    ]
    assert all(len(line) <= 88 for line in block[1:])
    # The sources, most windows first, wrapped under the line that names them.
    assert " ".join(line.strip() for line in block[3:]) == (
        "grid intensity: region GB: the Carbon Intensity API (NESO) for 20 windows; the last "
        "good value from the Carbon Intensity API for 3 windows; the Carbon Intensity API "
        "(NESO), cached for 1 window"
    )
    assert lines(Method()) == [block[0]]
