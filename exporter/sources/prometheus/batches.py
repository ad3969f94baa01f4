"""Queries of bounded length: the hosts that changed hands, named in a bounded number of
requests of bounded size, whatever the fleet.

The steps and the look at the handovers name their hosts in a regex, about 24 bytes a
host (49 on the raw counters, which name them twice), and an engine may refuse a long
query: VictoriaMetrics answers HTTP 422 past 16 KiB (``-search.maxQueryLen=16384``),
whether the query comes in a URL or a POSTed form. So the hosts are packed into runs
whose query is at most :data:`QUERY_BYTES`, at most :data:`MAX_REQUESTS` runs for the
steps and as many for the look. Hosts beyond that (over about 2,600 hosts changing
hands in one window on the raw counters, 5,000 with the recording rules) get no
steps: the refresh splits them by how long each owner held them, logs it, and counts
them in ``ada_carbon_split_hosts_without_steps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

# Below VictoriaMetrics' default -search.maxQueryLen (16,384 bytes of query text).
QUERY_BYTES = 16_000
# Requests for the steps, and as many for the look, per scrape: with the two window
# totals, at most 2 + 2 * MAX_REQUESTS requests to Prometheus a scrape.
MAX_REQUESTS = 8


def size(query: str) -> int:
    """A query's length as an engine counts it: bytes of UTF-8."""
    return len(query.encode())


def packed(
    items: Sequence[T], build: Callable[[Sequence[T]], str]
) -> tuple[list[tuple[Sequence[T], str]], list[T]]:
    """Runs of ``items`` in order, each with its query ``build(run)`` of at most
    QUERY_BYTES, at most MAX_REQUESTS of them; and the items left out."""
    if not items:
        return [], []
    # As many even runs as the whole query needs, each halved again while too long.
    parts = math.ceil(size(build(items)) / QUERY_BYTES)
    runs: list[tuple[Sequence[T], str]] = []
    left: list[T] = []
    for k in range(parts):
        _fit(items[k * len(items) // parts : (k + 1) * len(items) // parts], build, runs, left)
    for run, _ in runs[MAX_REQUESTS:]:
        left.extend(run)
    return runs[:MAX_REQUESTS], left


def _fit(
    run: Sequence[T],
    build: Callable[[Sequence[T]], str],
    runs: list[tuple[Sequence[T], str]],
    left: list[T],
) -> None:
    """Append ``run`` with its query, halved until each half's query fits; an item whose
    query alone is too long (a host name of kilobytes) is left out."""
    if not run:
        return
    query = build(run)
    if size(query) <= QUERY_BYTES:
        runs.append((run, query))
    elif len(run) == 1:
        left.extend(run)
    else:
        half = len(run) // 2
        _fit(run[:half], build, runs, left)
        _fit(run[half:], build, runs, left)
