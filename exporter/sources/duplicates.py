"""Count a host scraped by several jobs once, from its window totals per job.

When two scrape jobs scrape one node_exporter, each of its series exists twice,
differing in ``job`` (and perhaps other target labels), and summing them counts
the host twice. Taking the largest per job is no answer either: a renamed job
also leaves two series, one up to the rename and one after it, which add up.
An instant query cannot see when each series had samples, so the raw window
query sums ``increase()`` per host, group *and job*, and the idle query adds the
jobs that scraped a host at only one end of the window: 1 at its start (the job
stopped inside it), 2 at its end (it started) (:func:`scrape_flags`). Every
other job is taken as scraped at both ends, which is almost all of them, so the
answer grows only by the hosts whose jobs changed. From these,
:func:`counted_once` takes

- the largest of the jobs scraped at both ends, if any: each of them saw the
  whole window (the others were duplicates that started or stopped inside it);
- otherwise, the largest of the jobs that stopped plus the largest of those that
  started: the parts of the window before and after a rename, each counted once.

The flags come from the series of one idle mode (one per CPU: a node_exporter
exports every mode for every CPU), by two instant lookups that cost Prometheus
less than the busy query it runs beside. A job whose last
scrape at either end failed (marked stale) is only taken as stopped there, which
is harmless while another job saw the whole window. Rarer cases still come out
short, as a job scraped at neither end is taken as scraped at both: a job renamed
twice in one window, or renamed and failing its scrape at the window's end (then
only the part after the rename counts). A host with one job (the usual case) is
its one row, unchanged: ``increase()`` still handles each series on its own,
counter resets included.
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter.promql import with_label

JOB = "job"
SCRAPED = "scraped"  # the class of the flag rows in the idle answer
STOPPED, STARTED, _WHOLE = 1, 2, 3
FLAGS = {1.0: STOPPED, 2.0: STARTED}  # a flag row's value; any other is no flag


def scrape_flags(series: str, by: str, span: str) -> str:
    """Per ``by`` (host, group and job) whose ``series`` were scraped at one end of the
    window only: 1 at its start (``span`` before the query's time), 2 at its end;
    labelled ``class="scraped"``."""
    at_start = with_label(f"group by ({by}) ({series} offset {span})", "at", "start")
    flags = f"sum by ({by}) (2 * group by ({by}) ({series}) or {at_start}) != {_WHOLE}"
    return with_label(flags, "class", SCRAPED)


def counted_once(jobs: Mapping[str, list[float]], flags: Mapping[str, int]) -> tuple[float, float]:
    """A host's busy and idle CPU-seconds from its rows per job, each part of the
    window counted once (see the module's docstring)."""
    largest: dict[int, list[float]] = {}
    for job, (busy, idle) in jobs.items():
        flag = flags.get(job, _WHOLE)
        part = largest.get(flag)
        if part is None:
            largest[flag] = [busy, idle]
        else:
            part[0] = max(part[0], busy)
            part[1] = max(part[1], idle)
    whole = largest.get(_WHOLE)
    if whole is not None:
        return whole[0], whole[1]
    stopped, started = (largest.get(flag, (0.0, 0.0)) for flag in (STOPPED, STARTED))
    return stopped[0] + started[0], stopped[1] + started[1]
