"""Where a report's usage comes from: the exporter's series, else raw data window by window.

With ``--source auto`` (the default), the exporter's series are read back from
Prometheus when it holds any for the period (see :mod:`exporter.commands.report.fetch`);
otherwise every window of the period is computed from raw ``node_cpu_seconds_total``
and MongoDB by the engine, the code path of ``backfill``, and the report says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from exporter.attribution.experiments import Experiment
from exporter.commands import CommandError, Progress, window_ends
from exporter.commands.report import compute
from exporter.commands.report.compute import Interval
from exporter.commands.report.fetch import PrometheusQueries
from exporter.config import Config, mask_url
from exporter.methodology import Method, intensity_text, method_of
from exporter.model import SourceError
from exporter.pricing import PowerModel

LONGEST_QUERY = 31 * 86400.0  # bounds the samples one query loads (query.max-samples)
QUERY_TIMEOUT = 120.0  # seconds; a report is not bound by a scrape's budget
SOURCES = ("auto", "exporter", "raw")


@dataclass(frozen=True)
class Gathered:
    """Usage over the period, and where it came from."""

    intervals: list[Interval]
    source: str
    origin: str
    window_seconds: float
    windows: tuple[int, int]  # (expected, present)
    reason: str = ""
    notes: tuple[str, ...] = ()
    method: Method = field(default_factory=Method)


def from_exporter(
    reader: PrometheusQueries, start: float, end: float, window: float, cuts: Sequence[float]
) -> Gathered:
    """The exporter's series summed over the period, queried in pieces cut at ``cuts``."""
    pieces = compute.pieces(start, end, window, cuts, LONGEST_QUERY)
    progress = Progress("report", "queries", len(pieces))
    intervals = []
    for k, piece in enumerate(pieces, 1):
        intervals.append(Interval(*compute.covered(piece, window), reader.usage(*piece, window)))
        progress(k)
    expected = len(window_ends(start, end, window))
    present = reader.windows_present(start, end, window)
    method = reader.method(start, end, window)
    return Gathered(intervals, "exporter", reader.url, window, (expected, present), method=method)


def from_raw(config: Config, start: float, end: float, reason: str) -> Gathered:
    """Every window of the period computed by the engine, as ``backfill`` does."""
    from exporter.sources.build import build_refresh  # imports the clients lazily

    window = config.window_seconds
    ends = window_ends(start, end, window)
    progress = Progress("report", "windows", len(ends))
    intensity: Counter[str] = Counter()
    unpriced: set[str] = set()  # machine types with no embodied model
    models: set[tuple[str, PowerModel]] = set()
    region = config.carbon_intensity.region.label
    intervals = []
    engine = build_refresh(config)
    try:
        history = engine.history([datetime.fromtimestamp(t, timezone.utc) for t in ends])
        for k, snap in enumerate(history, 1):
            t = snap.end
            if snap.usage is None:
                down = "; ".join(f"{s}: {st.error}" for s, st in snap.sources.items() if not st.up)
                when = datetime.fromtimestamp(t, timezone.utc).isoformat()
                progress.clear()
                raise CommandError(f"cannot compute the window ending {when}: {down}")
            span = (snap.end - snap.window_seconds, snap.end)
            intervals.append(Interval(*span, snap.usage, snap.workspace_usage or {}))
            intensity[snap.intensity.source] += 1
            unpriced.update(snap.embodied_unconfigured)
            models.update(snap.power_models.items())
            region = snap.intensity.region
            progress(k)
    finally:
        engine.close()
    origin = "the built-in demo" if "prometheus" in config.demo_sources else config.prometheus.url
    used = ", ".join(f"{s} for {n} windows" for s, n in sorted(intensity.items()))
    notes = (*((f"grid intensity: {used}",) if used else ()), *_unpriced(config, unpriced))
    method = method_of(models, intensity_text(region, intensity))
    return Gathered(
        intervals, "raw", mask_url(origin), window, (len(ends), len(ends)), reason, notes, method
    )


def _unpriced(config: Config, machines: set[str]) -> tuple[str, ...]:
    """A note naming the machine types with no embodied model, when some have one."""
    if not config.embodied or not machines:
        return ()
    return (f"no embodied model, so no embodied emissions, for: {', '.join(sorted(machines))}",)


def gather(
    config: Config, start: float, end: float, source: str, cuts: Sequence[float]
) -> Gathered:
    """From the exporter's series when Prometheus has them (``auto``), else from raw data."""
    if source == "raw":
        return from_raw(config, start, end, "of --source raw")
    if "prometheus" in config.demo_sources:
        if source == "exporter":
            raise CommandError(
                "--source exporter: the demo has no Prometheus, so none of the exporter's "
                "series: use --source raw or auto",
                2,
            )
        return from_raw(config, start, end, "the demo stores no series")
    from exporter.sources.prometheus.client import http_client

    reader = PrometheusQueries(http_client(config.prometheus), config.prometheus.url, QUERY_TIMEOUT)
    span = reader.window_seconds(start, end)
    if span is None:
        absent = "the exporter's series (ada_carbon_*) are absent from Prometheus for this period"
        if source == "exporter":
            raise CommandError(f"{absent}: backfill them, or use --source raw")
        return from_raw(config, start, end, absent)
    if span[0] != span[1]:
        raise CommandError(
            f"ada_carbon_window_seconds changed from {span[0]:g}s to {span[1]:g}s in this period: "
            "report on the parts before and after the change separately"
        )
    return from_exporter(reader, start, end, span[1], cuts)


def load_experiments(
    config: Config, start: float, end: float
) -> tuple[list[Experiment], list[str]]:
    """The experiments overlapping the period, and notes on what was skipped or unmapped."""
    if "mongodb" in config.demo_sources:
        raise CommandError("reports by experiment read MongoDB's groups, which the demo has not", 2)
    from exporter.sources.build import mongo_ownership

    try:
        batch = mongo_ownership(config).experiments()
    except SourceError as exc:
        raise CommandError(f"cannot read experiments from MongoDB: {exc}") from exc
    found = [
        e
        for e in batch.experiments
        if (e.start is None or e.start < end) and (e.end is None or e.end > start)
    ]
    notes = [
        "an experiment gets its members' usage on the machine types experiments.instruments "
        "maps its instrument to, within its dates; usage matching several is split equally"
    ]
    if batch.skipped:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(batch.skipped.items()))
        notes.append(f"{sum(batch.skipped.values())} experiment records skipped: {reasons}")
    return found, notes
