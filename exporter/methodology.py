"""The method behind a result, written the same way by ``calculate`` and ``report``.

A result names the power model that priced each machine type (watts per core busy
and idle, and the PUE) and where its grid intensity came from: the same facts
``ada_carbon_power_model_info`` and ``ada_carbon_grid_intensity_source`` export
beside the usage families (see docs/methodology.md).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.pricing import PowerModel

FORMULA = "energy = CPU-seconds x W per core (busy or idle) x PUE, carbon = energy x intensity"
# ada_carbon_grid_intensity_source's values, for people.
INTENSITY_SOURCE_NAMES = {
    "api": "the Carbon Intensity API (NESO)",
    "cache": "the Carbon Intensity API (NESO), cached",
    "last_good": "the last good value from the Carbon Intensity API",
    "default": "carbon_intensity.default_gco2_per_kwh",
    "fixed": "carbon_intensity.fixed_gco2_per_kwh",
    "demo": "the demo's simulated grid",
}
ANY_MACHINE = ""  # the machine name of the model calculate uses without --machine


@dataclass(frozen=True)
class Method:
    """The power models that priced a result, and where its grid intensity came from."""

    power: tuple[tuple[str, PowerModel], ...] = ()  # (machine_name, model), sorted
    intensity: str = ""  # for people: a value and its setting, or sources and windows


def power_text(model: PowerModel) -> str:
    """``12 W busy / 1 W idle per core, PUE 1``."""
    return (
        f"{model.busy_watts_per_core:g} W busy / {model.idle_watts_per_core:g} W idle per core, "
        f"PUE {model.pue:g}"
    )


def intensity_text(region: str, windows: Mapping[str, int]) -> str:
    """Where the intensity of a period came from: region, then each source and its windows."""
    used = "; ".join(
        f"{INTENSITY_SOURCE_NAMES.get(s, s)} for {n} window{'s' if n != 1 else ''}"
        for s, n in sorted(windows.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return f"region {region}: {used or 'no window'}"


def method_of(models: Iterable[tuple[str, PowerModel]], intensity: str) -> Method:
    return Method(tuple(sorted(set(models), key=lambda mm: (mm[0], power_text(mm[1])))), intensity)


def lines(method: Method) -> list[str]:
    """The block: the formula, one line per power model with its machine types, the intensity."""
    by_model: dict[PowerModel, list[str]] = {}
    for machine, model in method.power:
        by_model.setdefault(model, []).append(machine or "every machine type")
    out = [f"Method: {FORMULA}"]
    for model, machines in sorted(by_model.items(), key=lambda kv: kv[1]):
        out += _wrapped(f"  power model: {power_text(model)}: {', '.join(machines)}")
    if method.intensity:
        out += _wrapped(f"  grid intensity: {method.intensity}")
    return out


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, 88, subsequent_indent="    ", break_on_hyphens=False)


def as_dict(method: Method) -> dict[str, Any]:
    """The block for JSON: the models by machine type, and the intensity's origin."""
    return {
        "formula": FORMULA,
        "power_models": [
            {
                "machine_name": machine,
                "busy_watts_per_core": m.busy_watts_per_core,
                "idle_watts_per_core": m.idle_watts_per_core,
                "pue": m.pue,
            }
            for machine, m in method.power
        ],
        "intensity": method.intensity,
    }
