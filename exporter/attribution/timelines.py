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
from dataclasses import dataclass, field
from itertools import pairwise
from typing import NamedTuple

from exporter.model import UNATTRIBUTED, Workspace


class Tenure(NamedTuple):
    """One piece of a host's timeline within the window: [start, end) belongs to ``user``."""

    start: float
    end: float
    user: str


class Holding(NamedTuple):
    """[start, end) of a host held by one workspace: its owner's tenure, piece by piece.

    A tenure is one or more holdings: a user may hold a host through two workspaces.
    """

    start: float
    end: float
    user: str
    workspace_id: str


@dataclass(frozen=True)
class Timelines:
    """Each host's tenures over a window, in time order and covering it; and the hosts
    where claims overlapped. A host no workspace claimed in the window has none."""

    by_host: Mapping[str, tuple[Tenure, ...]]
    conflicted_hosts: frozenset[str]
    # The same time by workspace: each tenure's holdings (nobody's time holds none).
    holdings: Mapping[str, tuple[Holding, ...]] = field(default_factory=dict)


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


_NOBODY = _Claim(0.0, "", "", 0.0, 0.0, UNATTRIBUTED)  # who holds what no claim covers


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
    holdings: dict[str, tuple[Holding, ...]] = {}
    conflicted: set[str] = set()
    for host, held in claims.items():
        pieces, overlapped = _timeline(held, start, end)
        by_host[host] = _tenures(pieces)
        holdings[host] = tuple(p for p in pieces if p.workspace_id)
        if overlapped:
            conflicted.add(host)
    return Timelines(by_host, frozenset(conflicted), holdings)


def _timeline(claims: Sequence[_Claim], start: float, end: float) -> tuple[list[Holding], bool]:
    """One host's holdings from its claims (nobody's with workspace id ""), and whether
    any two claims overlapped."""
    cuts = {start, end}
    for c in claims:
        cuts.update((c.start, c.end))
    pieces: list[Holding] = []
    overlapped = False
    for a, b in pairwise(sorted(cuts)):
        live = [c for c in claims if c.start <= a and c.end >= b]
        overlapped = overlapped or len(live) > 1
        win = max(live) if live else _NOBODY
        if pieces and pieces[-1][2:] == (win.user, win.workspace_id):
            pieces[-1] = Holding(pieces[-1].start, b, win.user, win.workspace_id)
        else:
            pieces.append(Holding(a, b, win.user, win.workspace_id))
    return pieces, overlapped


def _tenures(pieces: Sequence[Holding]) -> tuple[Tenure, ...]:
    """The holdings merged by user: a user's back-to-back workspaces are one tenure."""
    out: list[Tenure] = []
    for p in pieces:
        if out and out[-1].user == p.user:
            out[-1] = Tenure(out[-1].start, p.end, p.user)
        else:
            out.append(Tenure(p.start, p.end, p.user))
    return tuple(out)
