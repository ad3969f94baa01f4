"""The join of Prometheus' hosts with MongoDB's: which measured host is whose.

Prometheus names a host by its ``instance``, MongoDB by a workspace's ``hostname``;
both become one key (:mod:`exporter.attribution.hosts`). What the join needs of each
answer is :class:`Measured` and :class:`Owned`; the join gives each alive workspace
the group Prometheus measures its host in, and counts the hosts only one side knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from exporter.attribution.hosts import host_key
from exporter.attribution.split import handovers
from exporter.attribution.timelines import Timelines, build_timelines, owner_of
from exporter.model import UNATTRIBUTED, HostUsage, WorkspaceBatch, WorkspaceInfo

NO_GROUP = ("", "")  # a workspace on a host Prometheus does not measure


class Measured(NamedTuple):
    """Prometheus' answer: every host's window usage, and what the join needs of it."""

    usage: Sequence[HostUsage]
    groups: dict[str, tuple[str, str]]  # host -> (cloud_project_name, machine_name)
    unparseable: int  # instances that are not a host name (kept as their own host)


class Owned(NamedTuple):
    """MongoDB's answer: the workspaces, each host's timeline, and those alive at the end."""

    batch: WorkspaceBatch
    timelines: Timelines
    hosts: frozenset[str]  # every host a workspace of the window was on
    by_tag_state: dict[tuple[str, str], int]  # alive at the end
    alive: list[tuple[str, str, str, str]]  # (id, host, user, state) of those alive at the end


def measured(usage: Sequence[HostUsage]) -> Measured:
    """Each host's group, and how many instances are not host names."""
    # A host in several groups (relabelled in the window) gets the group of its last row
    # in sorted order, whatever the answer's order: the same at every scrape.
    last: dict[str, HostUsage] = {}
    for u in usage:
        held = last.get(u.host)
        if held is None or u > held:
            last[u.host] = u
    groups = {host: (u.cloud_project_name, u.machine_name) for host, u in last.items()}
    # Adapters keep an instance they cannot parse as its own host, so that its usage
    # still counts (as unattributed); it is counted as such here.
    unparseable = sum(1 for u in usage if u.host == u.instance and host_key(u.instance) is None)
    return Measured(usage, groups, unparseable)


def owned(batch: WorkspaceBatch, start: float, end: float) -> Owned:
    """Each host's timeline over [start, end), and the workspaces alive at ``end``."""
    by_tag_state: dict[tuple[str, str], int] = {}
    alive: list[tuple[str, str, str, str]] = []
    for w in batch.workspaces:
        if w.created <= end and (w.deleted is None or w.deleted > end):
            by_tag_state[w.tag, w.state] = by_tag_state.get((w.tag, w.state), 0) + 1
            alive.append((w.workspace_id, w.host, owner_of(w) or UNATTRIBUTED, w.state))
    return Owned(
        batch,
        build_timelines(batch.workspaces, start, end),
        frozenset(w.host for w in batch.workspaces),
        by_tag_state,
        alive,
    )


def workspace_info(o: Owned, m: Measured) -> tuple[WorkspaceInfo, ...]:
    """The alive workspaces with the group Prometheus measures their host in.

    Two workspaces whose ids differ only in type, on one host for one user, are one
    series: their labels are the same.
    """
    rows = (WorkspaceInfo(*a, *m.groups.get(a[1], NO_GROUP)) for a in o.alive)
    return tuple(dict.fromkeys(rows))


def unmatched(o: Owned, m: Measured) -> dict[str, int]:
    """Hosts MongoDB knows that Prometheus does not measure, and the reverse."""
    return {
        "mongodb": len(o.hosts - m.groups.keys()),
        "prometheus": len(m.groups.keys() - o.timelines.by_host.keys()),
        "unparseable_instance": m.unparseable,
    }


def joined(
    o: Owned | None, m: Measured | None, with_info: bool = True
) -> tuple[tuple[WorkspaceInfo, ...], dict[str, int]]:
    """:func:`workspace_info` (if asked for) and :func:`unmatched`; nothing without both
    answers, as each workspace's group is Prometheus': without it a series would be wrong."""
    if o is None or m is None:
        return (), {}
    return (workspace_info(o, m) if with_info else ()), unmatched(o, m)


def of_owners(owners: Owned | None) -> dict[str, Any]:
    """The snapshot's fields read from MongoDB's answer alone (none without it)."""
    if owners is None:
        return {"workspaces": None, "skipped": {}, "conflicted_hosts": 0}
    return {
        "workspaces": owners.by_tag_state,
        "skipped": {("workspaces", r): n for r, n in owners.batch.skipped.items()},
        "conflicted_hosts": len(owners.timelines.conflicted_hosts),
    }


def split_hosts(measured: Measured | None, owners: Owned | None) -> dict[str, list[float]]:
    """The moments each host changed hands in the window (none without both answers)."""
    if measured is None or owners is None:
        return {}
    return handovers(measured.usage, owners.timelines)
