"""Who owned a host when: each host's timeline over a window, from MongoDB's workspaces.

The rule, in the words the README uses:

* A workspace gives its host to its owner, unless it is a READY pool workspace (or
  has no owner): those own nothing.
* The owner's tenure runs from ``acquired_time`` (else ``created_time``) until
  ``deleted_time``, or for ever while the workspace is alive.
* Moments no workspace owns are ``unattributed``: reported, never dropped.
* Two claims on one host at once: the one whose tenure began last wins for the
  overlap (it is the newer claim; the older record is usually a deletion not yet
  written), ties broken by the larger workspace id. Such hosts are counted as
  ownership conflicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

from exporter.model import UNATTRIBUTED, Workspace


class Tenure(NamedTuple):
    """One piece of a host's timeline within the window: [start, end) belongs to ``user``."""

    start: float
    end: float
    user: str


@dataclass(frozen=True)
class Timelines:
    """Each host's tenures over a window, in time order and covering it; and the hosts
    where claims overlapped. A host no workspace claimed in the window has none."""

    by_host: Mapping[str, tuple[Tenure, ...]]
    conflicted_hosts: frozenset[str]


def owner_of(ws: Workspace) -> str | None:
    """The user a workspace gives its host to; None for a READY pool workspace or no owner."""
    return ws.owner if ws.state != "READY" else None


def owned_from(ws: Workspace) -> float:
    """When the owner's tenure starts: the acquisition time if known, else creation."""
    if ws.acquired is not None and ws.acquired >= ws.created:
        return ws.acquired
    return ws.created


class _Claim(NamedTuple):
    """A workspace's tenure on its host. Claims order by what wins an overlap: the
    later tenure start, then the larger workspace id (then its type's name)."""

    since: float
    workspace_id: str
    id_type: str
    start: float  # the tenure, clipped to the window
    end: float
    user: str


def build_timelines(workspaces: Iterable[Workspace], start: float, end: float) -> Timelines:
    """Each host's ownership over [start, end), from the workspaces alive in the window."""
    claims: dict[str, list[_Claim]] = {}
    for ws in workspaces:
        user, since = owner_of(ws), owned_from(ws)
        lo = max(since, start)
        hi = end if ws.deleted is None else min(ws.deleted, end)
        if user is not None and hi > lo:
            claim = _Claim(since, ws.workspace_id, ws.id_type, lo, hi, user)
            claims.setdefault(ws.host, []).append(claim)
    by_host: dict[str, tuple[Tenure, ...]] = {}
    conflicted: set[str] = set()
    for host, held in claims.items():
        by_host[host], overlapped = _timeline(held, start, end)
        if overlapped:
            conflicted.add(host)
    return Timelines(by_host, frozenset(conflicted))


def _timeline(
    claims: Sequence[_Claim], start: float, end: float
) -> tuple[tuple[Tenure, ...], bool]:
    """One host's tenures from its claims, and whether any two claims overlapped."""
    cuts = {start, end}
    for c in claims:
        cuts.update((c.start, c.end))
    pieces: list[Tenure] = []
    overlapped = False
    for a, b in pairwise(sorted(cuts)):
        live = [c for c in claims if c.start <= a and c.end >= b]
        overlapped = overlapped or len(live) > 1
        user = max(live).user if live else UNATTRIBUTED
        if pieces and pieces[-1].user == user:
            pieces[-1] = Tenure(pieces[-1].start, b, user)
        else:
            pieces.append(Tenure(a, b, user))
    return tuple(pieces), overlapped
