"""Usage per workspace: each user's share of a host, shared between the workspaces that held it.

The split is the one :mod:`exporter.attribution.split` makes per user, one level finer:

* A host's window usage is split between its tenures (users) as for the per-user
  families. A tenure held through one workspace (nearly always) gives it all of its
  share; a user who held the host through several workspaces in the window has the
  tenure's share split between them by the same steps (by duration without steps).
* Time nobody held (no workspace, a pool workspace, the gap between two owners) is
  ``unattributed``: it is no workspace's, and appears in no workspace's row.
* Each workspace's piece is priced at the mean intensity of its whole tenure, as the
  user's share is, so for every user and group the workspaces add up to the user's
  per-user usage (to rounding), grams included.

Embodied emissions per workspace (issue 18, part 2) are not computed here: they would
be each holding's host-seconds (``Holding.end - Holding.start``, busy or idle: a
workspace reserves its VM) times its machine type's amortised rate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

from exporter.attribution.split import split_fractions
from exporter.attribution.timelines import Holding, Tenure, Timelines
from exporter.model import (
    UNATTRIBUTED,
    UNKNOWN_FACILITY,
    HostUsage,
    Usage,
    UsageStep,
    WorkspaceKey,
)
from exporter.pricing import PowerModel, price


class WorkspaceShare(NamedTuple):
    """CPU-seconds of one group on one host held by one workspace, within its owner's
    tenure [start, end) (the span it is priced over)."""

    workspace_id: str
    host: str
    cloud_project_name: str
    machine_name: str
    user: str
    start: float
    end: float
    busy_seconds: float
    idle_seconds: float


def attribute_workspaces(
    usage: Iterable[HostUsage],
    timelines: Timelines,
    steps: Mapping[tuple[str, str, str], Sequence[UsageStep]],
) -> list[WorkspaceShare]:
    """Each held host's window usage split between the workspaces that held it.

    ``steps`` as for :func:`exporter.attribution.split.attribute`; hosts nobody held
    in the window give nothing.
    """
    shares: list[WorkspaceShare] = []
    for u in usage:
        timeline = timelines.by_host.get(u.host)
        if not timeline:
            continue
        held = timelines.holdings.get(u.host, ())
        host_steps = steps.get((u.instance, u.cloud_project_name, u.machine_name))
        for tenure, (fb, fi) in zip(timeline, split_fractions(timeline, host_steps), strict=True):
            if tenure.user == UNATTRIBUTED:
                continue
            inside = [h for h in held if tenure.start <= h.start and h.end <= tenure.end]
            for h, (pb, pi) in zip(inside, _within(inside, host_steps), strict=True):
                shares.append(
                    WorkspaceShare(
                        h.workspace_id,
                        u.host,
                        u.cloud_project_name,
                        u.machine_name,
                        tenure.user,
                        tenure.start,
                        tenure.end,
                        u.busy_seconds * fb * pb,
                        u.idle_seconds * fi * pi,
                    )
                )
    return shares


def _within(
    inside: Sequence[Holding], steps: Sequence[UsageStep] | None
) -> list[tuple[float, float]]:
    """Each holding's (busy, idle) fraction of its tenure's share."""
    if len(inside) == 1:
        return [(1.0, 1.0)]
    return split_fractions([Tenure(h.start, h.end, h.workspace_id) for h in inside], steps)


def price_workspaces(
    shares: Iterable[WorkspaceShare],
    power_for: Callable[[str], PowerModel],
    facilities: Mapping[str, str],
    gco2_per_kwh: Callable[[float, float], float],
) -> dict[WorkspaceKey, Usage]:
    """Usage per workspace (and group), each share priced at its tenure's mean intensity.

    Two workspaces whose ids differ only in type, on one host for one user, are one
    key: their labels are the same.
    """
    means: dict[tuple[float, float], float] = {}
    out: dict[WorkspaceKey, Usage] = {}
    for s in shares:
        if (s.start, s.end) not in means:
            means[s.start, s.end] = gco2_per_kwh(s.start, s.end)
        usage = price(
            s.busy_seconds, s.idle_seconds, power_for(s.machine_name), means[s.start, s.end]
        )
        facility = facilities.get(s.cloud_project_name, UNKNOWN_FACILITY)
        key = WorkspaceKey(
            s.workspace_id, s.host, s.cloud_project_name, s.machine_name, facility, s.user
        )
        was = out.get(key)
        out[key] = (
            usage if was is None else Usage(*(a + b for a, b in zip(was, usage, strict=True)))
        )
    return out
