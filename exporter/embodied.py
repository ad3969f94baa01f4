"""Embodied emissions: the hardware's manufacturing carbon, shared by the time each user held it.

For a host (a workspace VM) of a machine type with a model::

    grams per second = server kgCO2e x 1000 x (cores / server cores) / lifetime seconds
    embodied grams   = seconds held x grams per second

the Software Carbon Intensity formula Cloud Carbon Footprint uses (M = TE x TR/EL x
RR/TR), with its default life of 4 years. A user holds a host for the whole of their
tenure, busy or idle: a workspace reserves its VM. Time nobody held it counts as
``unattributed``, but only as long as Prometheus measured the host then (its
CPU-seconds over its cores): a VM that did not exist reserved nothing. Machine types
with no model are priced nothing and counted (:func:`unconfigured`), never guessed.

Pure: values in, values out, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from exporter.attribution.split import split_fractions
from exporter.attribution.timelines import Tenure, Timelines
from exporter.model import (
    UNATTRIBUTED,
    UNKNOWN_FACILITY,
    GroupKey,
    HostUsage,
    Usage,
    UsageStep,
    WorkspaceKey,
)

DEFAULT_LIFETIME_SECONDS = 4 * 365 * 86400.0  # Cloud Carbon Footprint's 4 years (Teads, Dell)


@dataclass(frozen=True)
class EmbodiedModel:
    """The physical server a host of one machine type runs on, and the host's share of it."""

    server_kgco2e: float  # embodied emissions of the whole server, kgCO2e
    cores: float  # CPUs of one host of this type, as node_exporter counts them
    server_cores: float  # CPUs the server offers its hosts (cores: a bare-metal host)
    lifetime_seconds: float = DEFAULT_LIFETIME_SECONDS

    @property
    def grams_per_second(self) -> float:
        """One host's amortised embodied emissions, gCO2e per second held."""
        share = self.cores / self.server_cores
        return self.server_kgco2e * 1000.0 * share / self.lifetime_seconds


class Held(NamedTuple):
    """Seconds one user held one host of a group in the window."""

    cloud_project_name: str
    machine_name: str
    user: str
    seconds: float


def held(
    usage: Iterable[HostUsage],
    groups: Mapping[str, tuple[str, str]],
    timelines: Timelines,
    steps: Mapping[tuple[str, str, str], Sequence[UsageStep]],
    span: tuple[float, float],
    models: Mapping[str, EmbodiedModel],
) -> list[Held]:
    """The host-time each user held, for every measured host of a machine type with a model.

    ``groups``: each host's one group (a host relabelled in the window counts once, in
    its group of :func:`exporter.attribution.join.measured`). The time nobody held a
    host is what Prometheus measured of it: the CPU-seconds of those pieces, shared
    out as :mod:`exporter.attribution.split` shares them, over the host's cores.
    """
    cpu: dict[str, list[float]] = {}
    for u in usage:
        model = models.get(groups.get(u.host, ("", ""))[1])
        if model is None:
            continue
        timeline = _timeline(timelines, u.host, span)
        pieces = cpu.setdefault(u.host, [0.0] * len(timeline))
        if len(timeline) == 1:  # most hosts: one tenure takes all
            pieces[0] += u.busy_seconds + u.idle_seconds
            continue
        fractions = split_fractions(timeline, steps.get((u.instance, *u.group)))
        for k, (fb, fi) in enumerate(fractions):
            pieces[k] += u.busy_seconds * fb + u.idle_seconds * fi
    out: list[Held] = []
    for host, seconds in cpu.items():
        project, machine = groups[host]
        cores = models[machine].cores
        for piece, used in zip(_timeline(timelines, host, span), seconds, strict=True):
            width = piece.end - piece.start
            if piece.user != UNATTRIBUTED:
                out.append(Held(project, machine, piece.user, width))
            else:
                out.append(Held(project, machine, piece.user, min(width, used / cores)))
    return out


def _timeline(timelines: Timelines, host: str, span: tuple[float, float]) -> Sequence[Tenure]:
    return timelines.by_host.get(host) or (Tenure(*span, UNATTRIBUTED),)


def price_held(
    pieces: Iterable[Held], models: Mapping[str, EmbodiedModel], facilities: Mapping[str, str]
) -> dict[GroupKey, float]:
    """Embodied grams per (project, machine type, facility, user) of the time held."""
    out: dict[GroupKey, float] = {}
    for project, machine, user, seconds in pieces:
        key = (project, machine, facilities.get(project, UNKNOWN_FACILITY), user)
        out[key] = out.get(key, 0.0) + seconds * models[machine].grams_per_second
    return out


def with_embodied(
    usage: Mapping[GroupKey, Usage], grams: Mapping[GroupKey, float]
) -> dict[GroupKey, Usage]:
    """The usage with each group's embodied grams in it."""
    out = dict(usage)
    for key, g in grams.items():
        out[key] = out.get(key, Usage())._replace(embodied_grams=g)
    return out


def unconfigured(usage: Iterable[HostUsage], models: Mapping[str, EmbodiedModel]) -> dict[str, int]:
    """Measured hosts per machine type that has no embodied model (priced nothing)."""
    hosts = {(u.machine_name, u.host) for u in usage if u.machine_name not in models}
    out: dict[str, int] = {}
    for machine, _ in hosts:
        out[machine] = out.get(machine, 0) + 1
    return out


def per_workspace(
    usage: Mapping[WorkspaceKey, Usage], timelines: Timelines, models: Mapping[str, EmbodiedModel]
) -> dict[WorkspaceKey, Usage]:
    """The usage per workspace with its embodied grams: the seconds it held its host.

    A workspace's holdings make up its user's tenure, so per user and group these add
    up to :func:`price_held`'s grams of the users' held time.
    """
    seconds: dict[tuple[str, str], float] = {}
    for host, holdings in timelines.holdings.items():
        for h in holdings:
            seconds[h.workspace_id, host] = (
                seconds.get((h.workspace_id, host), 0.0) + h.end - h.start
            )
    out: dict[WorkspaceKey, Usage] = {}
    for key, u in usage.items():
        model = models.get(key.machine_name)
        held_seconds = seconds.get((key.workspace_id, key.host), 0.0)
        out[key] = u._replace(embodied_grams=held_seconds * model.grams_per_second) if model else u
    return out
