"""``ada-carbon-exporter calculate``: energy, carbon and equivalents of given CPU-seconds.

The earlier service's ``/carbon/calculate`` and ``/carbon/electricity/estimate``,
with the exporter's own power model (``power``, per machine type) and, unless
``--intensity`` is given, the configured intensity; and its
``/carbon/equivalencies/{gco2eq}``: the everyday equivalents of given grams
(``--grams``) or kWh (``--kwh``). No upstream is asked anything.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exporter.commands import CommandError
from exporter.config import Config
from exporter.equivalencies import equivalents, format_count, most_relatable
from exporter.methodology import ANY_MACHINE, Method, as_dict, lines
from exporter.pricing import JOULES_PER_KWH, PowerModel, kwh
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
    machine: str = ANY_MACHINE  # for people: the machine type, and whether it has an override

    @property
    def method(self) -> Method:
        """The block ``report`` prints too: the power model and the intensity used."""
        intensity = f"{self.gco2_per_kwh:g} gCO2/kWh ({self.intensity_from})"
        return Method(((self.machine, self.power),), intensity)

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
    label = machine or ANY_MACHINE
    if machine is None:
        power_from = "the configured power model"
    elif machine in config.machine_power:
        power_from = f"the power.machines override for {machine!r}"
    else:
        power_from = f"the configured power model: no power.machines override for {machine!r}"
        label = f"{machine} (no power.machines override)"
    g, intensity_from = _intensity(config, intensity)
    busy_j, idle_j = power.joules(busy, idle)
    return Calculation(busy, idle, power, power_from, g, intensity_from, busy_j, idle_j, label)


def _intensity(config: Config, intensity: float | None) -> tuple[float, str]:
    """The intensity to price at, gCO2/kWh, and where it came from."""
    ci = config.carbon_intensity
    if intensity is not None:
        return intensity, "--intensity"
    if ci.source == "fixed":
        return ci.fixed_gco2_per_kwh, (
            "no --intensity: the configured carbon_intensity.fixed_gco2_per_kwh"
        )
    return ci.default_gco2_per_kwh, (
        "no --intensity: the configured carbon_intensity.default_gco2_per_kwh"
    )


@dataclass(frozen=True)
class Amount:
    """A given amount of carbon (``--grams``), or of energy (``--kwh``) and its carbon."""

    grams: float
    kwh: float | None = None
    gco2_per_kwh: float = 0.0
    intensity_from: str = ""


def amount(
    config: Config, grams: float | None, energy_kwh: float | None, g: float | None
) -> Amount:
    """``grams`` as given, or the carbon of ``energy_kwh`` at the intensity calculate uses."""
    if grams is not None:
        return Amount(grams)
    assert energy_kwh is not None
    gco2, intensity_from = _intensity(config, g)
    return Amount(energy_kwh * gco2, energy_kwh, gco2, intensity_from)


def _g(x: float) -> str:
    return format_count(x) if x else "0"


def as_table(c: Calculation) -> str:
    total_j = c.busy_joules + c.idle_joules
    out = [
        f"CPU time   {c.busy_seconds:,.0f} s busy + {c.idle_seconds:,.0f} s idle",
        f"Energy     {_g(kwh(total_j))} kWh = {_g(kwh(c.busy_joules))} busy + "
        f"{_g(kwh(c.idle_joules))} idle  ({total_j:,.0f} J)",
        f"Carbon     {_g(c.busy_grams + c.idle_grams)} gCO2eq = {_g(c.busy_grams)} busy + "
        f"{_g(c.idle_grams)} idle",
        *_that_is_about(c.busy_grams + c.idle_grams),
        "",
        *lines(c.method),
    ]
    return "\n".join(out) + "\n"


def _that_is_about(grams: float) -> list[str]:
    """The equivalents easiest to picture, by the reports' rule, as one sentence (or none)."""
    top = most_relatable(grams)
    return ["That is about " + ", or ".join(str(q) for q in top) + "."] if top else []


def _equivalents(total: float) -> dict[str, Any]:
    return {
        "top_equivalents": [q.equivalency.key for q in most_relatable(total)],
        "equivalents": {
            q.equivalency.key: {"count": q.count, "unit": q.equivalency.unit}
            for q in equivalents(total)
        },
    }


def amount_table(a: Amount) -> str:
    out = []
    if a.kwh is not None:
        out += [
            f"Energy     {_g(a.kwh)} kWh  (--kwh)",
            f"Intensity  {a.gco2_per_kwh:g} gCO2/kWh  ({a.intensity_from})",
        ]
    out.append(f"Carbon     {_g(a.grams)} gCO2eq" + ("  (--grams)" if a.kwh is None else ""))
    out += _that_is_about(a.grams) or ["Nothing to compare: no carbon."]
    return "\n".join(out) + "\n"


def amount_json(a: Amount) -> str:
    doc: dict[str, Any] = {"emissions_grams": a.grams}
    if a.kwh is not None:
        doc = {
            "energy_joules": a.kwh * JOULES_PER_KWH,
            "intensity_gco2_per_kwh": a.gco2_per_kwh,
            "intensity_from": a.intensity_from,
            **doc,
        }
    return json.dumps({**doc, **_equivalents(a.grams)}, indent=2) + "\n"


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
        **_equivalents(total),
        "methodology": as_dict(c.method),
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
        help="energy, carbon and everyday equivalents of given CPU-seconds, grams or kWh",
        description="Turn busy and idle CPU-seconds into energy (the configured watts per core, "
        "per machine type with --machine) and carbon (--intensity, else the configured "
        "intensity), with everyday equivalents: the earlier service's /carbon/calculate. "
        "With --grams or --kwh instead, the everyday equivalents of that amount (its "
        "/carbon/equivalencies). Asks no upstream.",
        epilog="examples: ada-carbon-exporter calculate --busy-seconds 1000 --idle-seconds 5000 "
        "--intensity 185 gives 0.00472 kWh and 0.874 gCO2eq (the earlier service's worked "
        "example); ada-carbon-exporter calculate --grams 18.89 gives about 2.3 smartphone "
        "charges.",
        allow_abbrev=False,
    )
    common(p)
    for mode in ("busy", "idle"):
        p.add_argument(
            f"--{mode}-seconds",
            type=_amount,
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
    given = p.add_mutually_exclusive_group()
    given.add_argument(
        "--grams",
        type=_amount,
        metavar="G",
        help="instead of CPU-seconds: the everyday equivalents of G gCO2eq",
    )
    given.add_argument(
        "--kwh",
        type=_amount,
        metavar="E",
        help="instead of CPU-seconds: the carbon of E kWh (at --intensity, else the configured "
        "intensity) and its everyday equivalents",
    )
    p.add_argument("--format", choices=("table", "json"), default="table", help="default: table")


def _check(args: argparse.Namespace) -> None:
    """Either both CPU-seconds, or --grams, or --kwh; and no flag the chosen form ignores."""
    given = "--grams" if args.grams is not None else "--kwh" if args.kwh is not None else ""
    why = _ignored(args, given) if given else _missing(args)
    if why:
        raise CommandError(why, 2)


def _seconds(args: argparse.Namespace) -> dict[str, bool]:
    return {f"--{m}-seconds": getattr(args, f"{m}_seconds") is not None for m in ("busy", "idle")}


def _missing(args: argparse.Namespace) -> str:
    missing = [flag for flag, there in _seconds(args).items() if not there]
    return f"give {' and '.join(missing)} (or --grams, or --kwh)" if missing else ""


def _ignored(args: argparse.Namespace, given: str) -> str:
    unused = {
        **_seconds(args),
        "--machine": args.machine is not None,
        "--intensity": given == "--grams" and args.intensity is not None,
    }
    ignored = [flag for flag, there in unused.items() if there]
    return f"{given} does not go with {', '.join(ignored)}" if ignored else ""


def run(args: argparse.Namespace, config: Config) -> str:
    """The command's output for parsed ``args`` (CommandError for a bad combination)."""
    _check(args)
    if args.grams is not None or args.kwh is not None:
        a = amount(config, args.grams, args.kwh, args.intensity)
        return amount_json(a) if args.format == "json" else amount_table(a)
    c = calculate(config, args.busy_seconds, args.idle_seconds, args.machine, args.intensity)
    if not math.isfinite(c.busy_grams + c.idle_grams + c.busy_joules + c.idle_joules):
        # finite inputs near 1e308 multiply past it: say so rather than print inf (or
        # "Infinity", which is not JSON)
        raise CommandError("the energy or carbon of these numbers is too large to compute", 2)
    return as_json(c) if args.format == "json" else as_table(c)
