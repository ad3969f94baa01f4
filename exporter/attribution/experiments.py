"""Experiments (MongoDB ``groups`` of type experiment) and the rule that gives them usage.

The rule, in the words the README uses:

* A member's usage counts for an experiment when it ran on a machine type
  (``machine_name``) that ``experiments.instruments`` maps the experiment's
  instrument to, and, when the record has dates, between them.
* Dates are read from ``parameters.start_date`` / ``parameters.end_date``, else
  top-level ``start_time`` / ``end_time``: BSON dates or ISO 8601 text. A date
  without a time is a whole UTC day, so an end date is included. A missing date
  leaves that side open.
* Usage that matches several experiments at once is split equally between them,
  so a sum over experiments (or PIs) never counts any usage twice.

Pure: documents in, fractions out. The query is
:meth:`exporter.sources.mongodb.MongoOwnership.experiments`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

NO_EXPERIMENT = "(no experiment)"


@dataclass(frozen=True)
class Experiment:
    """A validated experiment record. ``start``/``end`` are unix seconds, None when open."""

    name: str
    members: frozenset[str]
    instrument: str
    pi: str = ""
    start: float | None = None
    end: float | None = None

    def active(self, t0: float, t1: float) -> bool:
        """True when the experiment's dates cover all of [t0, t1)."""
        return (self.start is None or self.start <= t0) and (self.end is None or t1 <= self.end)


@dataclass(frozen=True)
class ExperimentBatch:
    experiments: tuple[Experiment, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)  # reason -> documents


def _when(value: object, is_end: bool) -> float | None:
    """Unix seconds of a BSON date or ISO 8601 text; a bare date is its whole UTC day."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if not isinstance(value, str):
        raise ValueError(value)
    text = value.strip()
    if len(text) == 10:  # YYYY-MM-DD
        day = date.fromisoformat(text) + timedelta(days=1 if is_end else 0)
        return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _date(doc: Mapping[str, Any], params: Mapping[str, Any], side: str) -> float | None:
    value = params.get(f"{side}_date")
    if value is None:
        value = doc.get(f"{side}_time")
    return None if value is None else _when(value, is_end=side == "end")


def _check(doc: Any) -> Experiment | str:
    """An Experiment, or the reason the document cannot be used."""
    if not isinstance(doc, Mapping):
        return "not_a_document"
    name: Any = doc.get("name")
    members: Any = doc.get("members")
    params: Any = doc.get("parameters")
    fault = _fault(name, members, params)
    if fault is not None:
        return fault
    try:
        start, end = _date(doc, params, "start"), _date(doc, params, "end")
    except ValueError:
        return "bad_date"
    if start is not None and end is not None and end <= start:
        return "end_before_start"
    return Experiment(
        name.strip(),
        frozenset(m.strip() for m in members if m.strip()),
        params["instrument"].strip(),
        (params.get("pi") or "").strip(),
        start,
        end,
    )


def _fault(name: object, members: object, params: object) -> str | None:
    """Why a record's name, members or parameters cannot be used; None if they can."""
    if not _text(name):
        return "bad_name"
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        return "bad_members"
    if not isinstance(params, Mapping):
        return "bad_parameters"
    if not _text(params.get("instrument")):
        return "no_instrument"
    pi = params.get("pi")
    if pi is None:
        return None
    if not isinstance(pi, str):
        return "bad_pi"
    # A report by PI would print it: no e-mail address becomes a label or a report's key.
    return "email_pi" if "@" in pi else None


def _text(value: object) -> bool:
    """True for a string with more in it than whitespace."""
    return isinstance(value, str) and bool(value.strip())


def parse_experiments(docs: Iterable[Any]) -> ExperimentBatch:
    """Validate raw ``groups`` documents of type experiment; count the ones skipped by reason.

    A name seen twice is kept once (the first) and counted as ``duplicate``.
    """
    kept: dict[str, Experiment] = {}
    skipped: Counter[str] = Counter()
    for doc in docs:
        result = _check(doc)
        if isinstance(result, str):
            skipped[result] += 1
        elif result.name in kept:
            skipped["duplicate"] += 1
        else:
            kept[result.name] = result
    return ExperimentBatch(tuple(kept.values()), dict(skipped))


class Matcher:
    """The rule, prepared once: which experiments a piece of usage belongs to, and how much."""

    def __init__(
        self, experiments: Iterable[Experiment], instruments: Mapping[str, Sequence[str]]
    ) -> None:
        machines = {k.casefold(): tuple(v) for k, v in instruments.items()}
        self._candidates: dict[tuple[str, str], list[Experiment]] = defaultdict(list)
        unmapped: set[str] = set()
        for e in experiments:
            mapped = machines.get(e.instrument.casefold())
            if not mapped:
                unmapped.add(e.instrument)
            for user in e.members:
                for machine in set(mapped or ()):
                    self._candidates[(user, machine)].append(e)
        self.unmapped_instruments = tuple(sorted(unmapped))

    def fractions(self, user: str, machine: str, start: float, end: float) -> dict[str, float]:
        """Each experiment's share of ``user``'s usage on ``machine`` over [start, end).

        Usage is taken as steady over the interval: a part of it inside an
        experiment's dates counts in proportion to its length, and a part several
        experiments match is divided equally. The shares sum to at most 1.
        """
        candidates = self._candidates.get((user, machine))
        if not candidates or end <= start:
            return {}
        shares: dict[str, float] = defaultdict(float)
        for a, b in pairwise(_cuts(candidates, start, end)):
            live = [e for e in candidates if e.active(a, b)]
            for e in live:
                shares[e.name] += (b - a) / (end - start) / len(live)
        return dict(shares)


def _cuts(experiments: Iterable[Experiment], start: float, end: float) -> list[float]:
    """[start, end] and the experiments' dates between, in order."""
    dates = (t for e in experiments for t in (e.start, e.end) if t is not None)
    return sorted({start, end, *(t for t in dates if start < t < end)})
