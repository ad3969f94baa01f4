"""The window's accounts: every host attributed to its owners, priced, with its embodied share.

Pure: values in, values out. The refresh calls :func:`account` once the sources have
answered; the rules it applies live in :mod:`exporter.attribution` (who held what),
:mod:`exporter.pricing` (joules and grams) and :mod:`exporter.embodied` (the hardware).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from exporter import embodied
from exporter.attribution import attribute
from exporter.attribution.join import Measured, Owned
from exporter.attribution.workspaces import attribute_workspaces, price_workspaces
from exporter.config import Config
from exporter.model import GroupKey, IntensityReading, Usage, UsageStep, WorkspaceKey
from exporter.pricing import mean_intensity, price_shares

Steps = Mapping[tuple[str, str, str], Sequence[UsageStep]]


def account(
    config: Config,
    measured: Measured,
    owners: Owned,
    steps: Steps,
    reading: IntensityReading,
    span: tuple[float, float],
) -> tuple[dict[GroupKey, Usage], dict[WorkspaceKey, Usage] | None]:
    """Usage per (project, machine type, facility, user), and per workspace if configured."""

    def gco2_per_kwh(start: float, end: float) -> float:
        return mean_intensity(reading.slots, start, end, reading.fill).gco2_per_kwh

    timelines, models = owners.timelines, config.embodied
    shares = attribute(measured.usage, timelines, steps, *span)
    usage = price_shares(shares, config.power_for, config.facilities, gco2_per_kwh)
    held = embodied.held(measured.usage, measured.groups, timelines, steps, span, models)
    usage = embodied.with_embodied(usage, embodied.price_held(held, models, config.facilities))
    if not config.workspace_usage:
        return usage, None
    pieces = attribute_workspaces(measured.usage, timelines, steps)
    per_workspace = price_workspaces(pieces, config.power_for, config.facilities, gco2_per_kwh)
    return usage, embodied.per_workspace(per_workspace, timelines, models)


def finite(usage: Mapping[GroupKey, Usage]) -> bool:
    """Whether every number is finite: finite CPU-seconds near 1e308 can sum or price past it."""
    return all(math.isfinite(x) for u in usage.values() for x in u)
