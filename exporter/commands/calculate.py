"""``ada-carbon-exporter calculate``: energy, carbon and equivalents of given CPU-seconds.

The earlier service's ``/carbon/calculate`` and ``/carbon/electricity/estimate``,
with the exporter's own power model (``power``, per machine type) and, unless
``--intensity`` is given, the configured intensity. No upstream is asked anything.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from exporter.commands import CommandError
from exporter.config import Config
from exporter.equivalencies import equivalents, format_count, most_relatable
from exporter.pricing import PowerModel, kwh
from exporter.pricing import grams as to_grams


@dataclass(frozen=True)
class Calculation:
    busy_seconds: float
    idle_seconds: float
    power: PowerModel
    power_from: str  # which setting the power model came from, for people
    gco2_per_kwh: float
    intensity_from: str  # which setting (or flag) the intensity came from
    busy_joules: float
    idle_joules: float

    @property
    def busy_grams(self) -> float:
        return to_grams(self.busy_joules, self.gco2_per_kwh)

    @property
    def idle_grams(self) -> float:
        return to_grams(self.idle_joules, self.gco2_per_kwh)


def calculate(
    config: Config, busy: float, idle: float, machine: str | None, intensity: float | None
) -> Calculation:
    """Energy and carbon of ``busy`` and ``idle`` CPU-seconds under the configured model."""
    power = config.power_for(machine or "")
    if machine is None:
        power_from = "the configured power model"
    elif machine in config.machine_power:
        power_from = f"the power.machines override for {machine!r}"
    else:
        power_from = f"the configured power model: no power.machines override for {machine!r}"
    ci = config.carbon_intensity
    if intensity is not None:
        g, intensity_from = intensity, "--intensity"
    elif ci.source == "fixed":
        g = ci.fixed_gco2_per_kwh
        intensity_from = "no --intensity: the configured carbon_intensity.fixed_gco2_per_kwh"
    else:
        g = ci.default_gco2_per_kwh
        intensity_from = "no --intensity: the configured carbon_intensity.default_gco2_per_kwh"
    busy_j, idle_j = power.joules(busy, idle)
    return Calculation(busy, idle, power, power_from, g, intensity_from, busy_j, idle_j)


def _g(x: float) -> str:
    return format_count(x) if x else "0"


def as_table(c: Calculation) -> str:
    p = c.power
    total_j = c.busy_joules + c.idle_joules
    lines = [
        f"CPU time   {c.busy_seconds:,.0f} s busy + {c.idle_seconds:,.0f} s idle",
        f"Power      {p.busy_watts_per_core:g} W busy, {p.idle_watts_per_core:g} W idle per core, "
        f"PUE {p.pue:g}  ({c.power_from})",
        f"Energy     {_g(kwh(total_j))} kWh = {_g(kwh(c.busy_joules))} busy + "
        f"{_g(kwh(c.idle_joules))} idle  ({total_j:,.0f} J)",
        f"Intensity  {c.gco2_per_kwh:g} gCO2/kWh  ({c.intensity_from})",
        f"Carbon     {_g(c.busy_grams + c.idle_grams)} gCO2eq = {_g(c.busy_grams)} busy + "
        f"{_g(c.idle_grams)} idle",
    ]
    top = most_relatable(c.busy_grams + c.idle_grams)
    if top:
        lines.append("That is about " + ", or ".join(str(q) for q in top) + ".")
    return "\n".join(lines) + "\n"


def as_json(c: Calculation) -> str:
    total = c.busy_grams + c.idle_grams
    doc = {
        "busy_cpu_seconds": c.busy_seconds,
        "idle_cpu_seconds": c.idle_seconds,
        "power": {
            "busy_watts_per_core": c.power.busy_watts_per_core,
            "idle_watts_per_core": c.power.idle_watts_per_core,
            "pue": c.power.pue,
            "from": c.power_from,
        },
        "busy_joules": c.busy_joules,
        "idle_joules": c.idle_joules,
        "energy_joules": c.busy_joules + c.idle_joules,
        "intensity_gco2_per_kwh": c.gco2_per_kwh,
        "intensity_from": c.intensity_from,
        "busy_grams": c.busy_grams,
        "idle_grams": c.idle_grams,
        "emissions_grams": total,
        "top_equivalents": [q.equivalency.key for q in most_relatable(total)],
        "equivalents": {
            q.equivalency.key: {"count": q.count, "unit": q.equivalency.unit}
            for q in equivalents(total)
        },
    }
    return json.dumps(doc, indent=2) + "\n"


def _amount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0: {text!r}")
    return value


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The ``calculate`` subcommand and its flags."""
    p = sub.add_parser(
        "calculate",
        help="energy, carbon and everyday equivalents of given CPU-seconds",
        description="Turn busy and idle CPU-seconds into energy (the configured watts per core, "
        "per machine type with --machine) and carbon (--intensity, else the configured "
        "intensity), with everyday equivalents: the earlier service's /carbon/calculate. "
        "Asks no upstream.",
        epilog="example: ada-carbon-exporter calculate --busy-seconds 1000 --idle-seconds 5000 "
        "--intensity 185 gives 0.00472 kWh and 0.874 gCO2eq (the earlier service's worked "
        "example).",
        allow_abbrev=False,
    )
    common(p)
    for mode in ("busy", "idle"):
        p.add_argument(
            f"--{mode}-seconds",
            type=_amount,
            required=True,
            metavar="N",
            help=f"CPU-seconds spent {mode} (summed over cores), e.g. from node_cpu_seconds_total",
        )
    p.add_argument(
        "--intensity",
        type=_amount,
        metavar="G",
        help="grid carbon intensity, gCO2/kWh (default: the configured fixed_gco2_per_kwh "
        "with carbon_intensity.source: fixed, else default_gco2_per_kwh)",
    )
    p.add_argument(
        "--machine", metavar="NAME", help="machine_name whose power.machines override to use"
    )
    p.add_argument("--format", choices=("table", "json"), default="table", help="default: table")


def run(args: argparse.Namespace, config: Config) -> str:
    """The command's output for parsed ``args``."""
    c = calculate(config, args.busy_seconds, args.idle_seconds, args.machine, args.intensity)
    if not math.isfinite(c.busy_grams + c.idle_grams + c.busy_joules + c.idle_joules):
        # finite inputs near 1e308 multiply past it: say so rather than print inf (or
        # "Infinity", which is not JSON)
        raise CommandError("the energy or carbon of these numbers is too large to compute", 2)
    return as_json(c) if args.format == "json" else as_table(c)
