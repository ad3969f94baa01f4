"""The look at the handovers: its PromQL, and its answer read into *patches* laid over
the steps.

The steps (:func:`.parse.tiles`) are rates over two steps (2 minutes), so each
is an average over its neighbours' time too: at a handover where the usage
changes, up to half a minute of one owner's usage lands on the other. The look
(:func:`handover_look`) reads each host's rates around each of its handovers at
the scrape interval S (``prometheus.scrape_interval``, 15 s) instead: a rate over
two scrapes, every scrape interval, each becoming its tile of width S as the steps'
rates do theirs. A *patch*, the run of those tiles around one handover, replaces
the steps where it lies (a step partly under it keeps the part outside, pro rata),
so the split sees the usage at the handover to within a scrape interval. The window
total is still the one that is shared out: the patches, like the steps, only say how.

A patch with a point missing (a fleet scraped less often than every S, a scrape
gap, a host gone) is left out: the steps stand there, as they did before the look.
Where S is not below the step, the look would see nothing finer than the steps and
is not asked (:func:`wanted`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from exporter.config import PrometheusConfig
from exporter.model import UsageStep
from exporter.sources.prometheus.parse import CLASSES, Key, number, unusable
from exporter.sources.prometheus.promql import with_label
from exporter.sources.prometheus.queries import EXACT_TIMES, MACHINE, PROJECT, class_rates, ms

AT = "ada_carbon_handover"  # the label of a look at the handovers: where it is centred (ms)
# Handovers within one such span of the clock share a selector. The shorter, the fewer
# points each reads around itself; the longer, the fewer clauses. With 288 handovers on
# 48 hosts (Prometheus' query stats, a shared machine), 60 s and 120 s cost least of 15,
# 60, 120, 300 and 600 s (0.13-0.25 s); 60 s reads fewer points per handover.
GATHER_SECONDS = 60.0
Patch = list[UsageStep]


def wanted(step: float, scrape: float) -> bool:
    """Whether a look at the scrape interval ``scrape`` sees finer than ``step``."""
    return scrape < step


def look_points(step: float, scrape: float) -> range:
    """The look's points around its centre c, in scrape intervals: c + j * ``scrape``.

    For every handover in [c, c + GATHER_SECONDS), its tiles cover the steps whose
    rate saw it (1.5 steps either side), so that no step smeared across it is left."""
    before = math.ceil(1.5 * step / scrape - 1.5)
    after = math.ceil((GATHER_SECONDS + 1.5 * step) / scrape + 0.5)
    return range(-before, after + 1)


def look_centre_ms(handover: float) -> int:
    """The centre of the look at a handover: the GATHER_SECONDS lattice point before it,
    so that handovers close in time share one selector."""
    gather = ms(GATHER_SECONDS)
    return ms(handover) // gather * gather


def handover_look(
    c: PrometheusConfig,
    busy: Sequence[str],
    idle: Sequence[str],
    handovers: Mapping[str, Sequence[float]],
    end: float,
    step: float,
) -> dict[str, str]:
    """The range query's form of the look at the handovers: one request for them all.

    Around each handover, the host's busy and idle rates over two scrape intervals,
    every scrape interval, from 1.5 steps before it to 1.5 steps after. Each
    handover is brought to the query's time axis by an offset (the range runs
    around ``end``, each point at ``end + j`` reading the data at ``centre + j``),
    and labelled ``{AT}`` with its centre, so one range query reads every handover
    however they fall (or a few, each under :data:`.batches.QUERY_BYTES`). Handovers
    in one GATHER_SECONDS of the clock share a selector (their hosts in one regex):
    the query has at most one clause per minute of the window, whatever the fleet's
    size.
    """
    scrape = c.scrape_interval_seconds
    fine_ms = ms(scrape)
    hosts: dict[int, set[str]] = {}
    for instance, times in handovers.items():
        for t in times:
            hosts.setdefault(look_centre_ms(t), set()).add(instance)
    end_ms = ms(end)
    clauses = [
        _look(c, busy, idle, sorted(names), end_ms - centre, centre)
        for centre, names in sorted(hosts.items())
    ]
    points = look_points(step, scrape)
    return {
        "query": _balanced_or(clauses),
        "start": f"{(end_ms + points[0] * fine_ms) / 1000:.3f}",
        "end": f"{(end_ms + points[-1] * fine_ms) / 1000:.3f}",
        "step": f"{scrape:g}",
        **EXACT_TIMES,  # else, on VictoriaMetrics, every patch could be left out
    }


def _look(
    c: PrometheusConfig,
    busy: Sequence[str],
    idle: Sequence[str],
    instances: Sequence[str],
    offset_ms: int,
    centre_ms: int,
) -> str:
    """One clause of the look: these hosts' rates, ``offset_ms`` back, labelled with the centre.

    Each class summed and labelled within the clause: mapping modes to classes once over
    the union instead cost Prometheus 60 % more (0.19 s against 0.12 s, 269 handovers)."""
    span = f"{2 * ms(c.scrape_interval_seconds)}ms"
    rates = class_rates(c, busy, idle, instances, span, f"{offset_ms}ms")
    return with_label(rates, AT, str(centre_ms))


def _balanced_or(clauses: Sequence[str]) -> str:
    """``a or b or ...`` nested as a balanced tree: a chain would cost Prometheus time
    quadratic in the number of clauses (each ``or`` hashes its whole left side)."""
    if len(clauses) == 1:
        return clauses[0]
    half = len(clauses) // 2
    return f"({_balanced_or(clauses[:half])}) or ({_balanced_or(clauses[half:])})"


def patches(
    result: Any, end: float, points: Sequence[int], scrape: float, host_label: str = "instance"
) -> dict[Key, list[Patch]]:
    """Each host and group's complete patches, from the look's answer (a matrix).

    ``points`` are the look's points around each centre (:func:`look_points`), ``scrape``
    seconds apart; a patch holds the tiles of those at or before ``end``, all or none.
    """
    rates = _rates(result, ms(end), host_label)
    fine_ms = ms(scrape)
    out: dict[Key, list[Patch]] = {}
    for (key, centre), by_time in sorted(rates.items()):
        due = [centre + j * fine_ms for j in points if centre + j * fine_ms <= ms(end)]
        if not due or any(len(by_time.get(t, ())) != len(CLASSES) for t in due):
            continue
        patch = []
        for t in due:
            start = (t - 1.5 * fine_ms) / 1000  # the tile of a rate over two intervals
            busy, idle = by_time[t][0], by_time[t][1]
            patch.append(UsageStep(start, start + scrape, busy * scrape, idle * scrape))
        out.setdefault(key, []).append(patch)
    return out


def _rates(
    result: Any, end_ms: int, host_label: str
) -> dict[tuple[Key, int], dict[int, dict[int, float]]]:
    """(host and group, centre) -> data time (ms) -> class column -> rate."""
    acc: dict[tuple[Key, int], dict[int, dict[int, float]]] = {}
    samples = usable = 0
    for item in result or ():
        metric = item.get("metric")
        if not isinstance(metric, dict):
            continue
        column, centre = CLASSES.get(str(metric.get("class"))), _int(metric.get(AT))
        instance = metric.get(host_label)
        if column is None or centre is None or not isinstance(instance, str):
            continue
        key = (instance, str(metric.get(PROJECT, "")), str(metric.get(MACHINE, "")))
        values = item.get("values") or ()
        samples += len(values)
        # The point at end + j reads the data at centre + j.
        usable += _add(acc.setdefault((key, centre), {}), column, values, centre - end_ms)
    if samples and not usable:
        raise unusable(samples, "look at the handovers")
    return acc


def _add(by_time: dict[int, dict[int, float]], column: int, values: Any, shift_ms: int) -> int:
    """Add a series' usable rates to ``by_time``, each at its point's time + ``shift_ms``."""
    usable = 0
    for t, raw in values:
        rate = number(raw)
        if rate is not None:
            usable += 1
            at_time = by_time.setdefault(ms(float(t)) + shift_ms, {})
            at_time[column] = at_time.get(column, 0.0) + rate
    return usable


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def overlay(steps: Sequence[UsageStep], patch: Sequence[UsageStep]) -> list[UsageStep]:
    """``steps`` with ``patch`` laid over them: each step keeps, pro rata, only its parts
    outside the patch's span, and the patch's tiles are added."""
    lo, hi = patch[0].start, patch[-1].end
    out = []
    for s in steps:
        width = s.end - s.start
        if width <= 0:
            continue
        for a, b in ((s.start, min(s.end, lo)), (max(s.start, hi), s.end)):
            if b > a:
                part = (b - a) / width
                out.append(UsageStep(a, b, s.busy_seconds * part, s.idle_seconds * part))
    return [*out, *patch]


def patched(
    steps: Mapping[Key, Sequence[UsageStep]], looks: Mapping[Key, Sequence[Patch]]
) -> dict[Key, list[UsageStep]]:
    """Every host's steps with its patches laid over them, in turn (a later patch over an
    earlier one where two handovers are close). A host without steps gets none: a
    patch alone would share the whole window as the few minutes around it."""
    out = {key: list(s) for key, s in steps.items()}
    for key, patch_list in looks.items():
        if out.get(key):
            for patch in patch_list:
                out[key] = overlay(out[key], patch)
    return out
