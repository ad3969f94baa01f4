"""Queries of bounded length: the hosts that changed hands, named in a bounded number of
requests of bounded size, whatever the fleet.

The steps and the look at the handovers name their hosts in a regex, about 24 bytes a
host (49 on the raw counters, which name them twice), and an engine may refuse a long
query: VictoriaMetrics answers HTTP 422 past 16 KiB (``-search.maxQueryLen=16384``),
whether the query comes in a URL or a POSTed form. So the hosts are packed into runs
whose query is at most :data:`QUERY_BYTES`, at most :data:`MAX_REQUESTS` runs for the
steps and as many for the look. Hosts beyond that (over about 2,600 hosts changing
hands in one window on the raw counters, 5,200 with the recording rules) get no
steps: the refresh splits them by how long each owner held them, logs it, and counts
them in ``ada_carbon_split_hosts_without_steps``.
"""

from __future__ import annotations

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
    QUERY_BYTES, at most MAX_REQUESTS of them, each as long as fits; and the items left
    out. A query grows with its run, so the longest run that fits is found by halving."""
    runs: list[tuple[Sequence[T], str]] = []
    left: list[T] = []
    i = 0
    while i < len(items) and len(runs) < MAX_REQUESTS:
        fits, over = i, len(items) + 1  # items[i:fits] fits (empty so far), items[i:over] not
        while over - fits > 1:
            mid = (fits + over) // 2
            fits, over = (mid, over) if size(build(items[i:mid])) <= QUERY_BYTES else (fits, mid)
        if fits == i:  # one item's query alone is too long (a host name of kilobytes)
            left.append(items[i])
            i += 1
            continue
        runs.append((items[i:fits], build(items[i:fits])))
        i = fits
    return runs, [*left, *items[i:]]
