"""Each source's answer, digested in that source's thread as soon as it arrives.

A refresh waits for Prometheus and MongoDB side by side, and whichever answers
first would otherwise sit idle until the other does. What can be worked out from
one answer alone is worked out here, in the thread that fetched it: the join
after the last answer (attribution, workspace info, unmatched hosts) then only
looks things up. At 10,000 hosts that join is what a scrape adds to the wait.
"""

from __future__ import annotations

import itertools
import operator
from typing import NamedTuple

from exporter.attribution import TimelineBuilder, Timelines
from exporter.hosts import host_key
from exporter.model import UNATTRIBUTED, HostUsage, Workspace, WorkspaceBatch, WorkspaceInfo

NO_GROUP = ("", "")  # a workspace on a host Prometheus does not measure


class Measured(NamedTuple):
    """Prometheus' answer: every host's window usage, and what the join needs of it."""

    usage: list[HostUsage]
    groups: dict[str, tuple[str, str]]  # host -> (cloud_project_name, machine_name)
    unparseable: int  # instances that are not a host name (kept as their own host)


class Owned(NamedTuple):
    """MongoDB's answer: the workspaces, each host's timeline, and those alive at the end."""

    batch: WorkspaceBatch
    timelines: Timelines
    hosts: frozenset[str]  # every host a workspace of the window was on
    by_tag_state: dict[tuple[str, str], int]  # alive at the end
    alive: list[tuple[str, str, str, str]]  # (id, host, user, state) of those alive at the end


def measured(usage: list[HostUsage]) -> Measured:
    """Each host's group, and how many instances are not host names: in C, at 10,000 rows."""
    hosts = list(map(operator.itemgetter(1), usage))
    instances = list(map(operator.itemgetter(0), usage))
    # Adapters keep an instance they cannot parse as its own host, so that its usage
    # still counts (as unattributed); it is counted as such here. Only an instance that
    # is its own host can be one.
    own = itertools.compress(instances, map(operator.eq, hosts, instances))
    groups = dict(zip(hosts, map(operator.itemgetter(2, 3), usage), strict=True))
    if len(groups) < len(usage):  # a host in several groups (relabelled in the window):
        for u in sorted(usage):  # the last in sorted order, whatever the answer's order
            groups[u.host] = (u.cloud_project_name, u.machine_name)
    return Measured(usage, groups, sum(1 for i in own if host_key(i) is None))


def owned(batch: WorkspaceBatch, start: float, end: float) -> Owned:
    """MongoDB's answer digested at once (see :class:`OwnedBuilder` to do it as it arrives)."""
    builder = OwnedBuilder(start, end)
    for w in batch.workspaces:
        builder.add(w)
    return builder.owned(batch)


class OwnedBuilder:
    """MongoDB's answer digested one workspace at a time, while the rest is on its way.

    Give :meth:`add` as the ``each`` of ``OwnershipSource.workspaces``: at 10,000 hosts
    the answer comes in about a hundred batches, and this work then fits between them.
    """

    def __init__(self, start: float, end: float) -> None:
        self.end = end
        self._timelines = TimelineBuilder(start, end)
        self._hosts: set[str] = set()
        self._by_tag_state: dict[tuple[str, str], int] = {}
        self._alive: list[tuple[str, str, str, str]] = []
        self._added = 0

    def add(self, w: Workspace) -> None:
        self._added += 1
        self._hosts.add(w.host)
        self._timelines.add(w)
        if w.alive_at(self.end):
            key = (w.tag, w.state)
            self._by_tag_state[key] = self._by_tag_state.get(key, 0) + 1
            user = w.owner if w.claimed and w.owner else UNATTRIBUTED
            self._alive.append((w.workspace_id, w.host, user, w.state))

    def owned(self, batch: WorkspaceBatch) -> Owned:
        """The digest of ``batch``, whose every workspace was added (in its order)."""
        if self._added != len(batch.workspaces):  # a source that did not call ``each``
            raise RuntimeError(f"{self._added} workspaces added of {len(batch.workspaces)}")
        return Owned(
            batch,
            self._timelines.timelines(),
            frozenset(self._hosts),
            self._by_tag_state,
            self._alive,
        )


def workspace_info(o: Owned, m: Measured) -> tuple[WorkspaceInfo, ...]:
    """The alive workspaces with the group Prometheus measures their host in."""
    alive = o.alive
    groups = map(m.groups.get, map(operator.itemgetter(1), alive), itertools.repeat(NO_GROUP))
    rows = map(operator.add, alive, groups)  # (id, host, user, state) + (project, machine)
    return tuple(map(tuple.__new__, itertools.repeat(WorkspaceInfo), rows))  # in C


def unmatched(o: Owned, m: Measured) -> dict[str, int]:
    """Hosts MongoDB knows that Prometheus does not measure, and the reverse."""
    return {
        "mongodb": len(o.hosts - m.groups.keys()),
        "prometheus": len(m.groups.keys() - o.timelines.by_host.keys()),
        "unparseable_instance": m.unparseable,
    }
