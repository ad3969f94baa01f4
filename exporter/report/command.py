"""``ada-carbon-exporter report``: the command line, from arguments to rendered text.

Parses the period, gathers usage (:mod:`exporter.report.gather`), sums it by the
chosen key (:mod:`exporter.report.compute`) and renders it
(:mod:`exporter.report.render`). Every failure is one :class:`ReportError` line.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timezone

from exporter.attribution.experiments import Experiment, Matcher
from exporter.config import Config, check_url
from exporter.equivalencies import most_relatable
from exporter.model import SourceError
from exporter.report import ReportError, compute, gather
from exporter.report.render import FORMATS, render

DESCRIPTION = """\
Energy and carbon of Ada workspaces over a period, by facility, cloud project,
group, user, experiment or PI: busy and idle CPU time and energy (kWh), carbon,
the effective grid intensity (grams / kWh), each row's share, and everyday
equivalents of the total.

Reads the exporter's own series from Prometheus, one sample per window
(ada_carbon_window_seconds), so windows never overlap. Where those series are
absent for the period, usage is computed from raw node_cpu_seconds_total and
MongoDB, window by window, as backfill does, and the output says so.
"""


def parse_when(text: str, flag: str) -> float:
    """Unix seconds of ``now``, unix seconds, a UTC date (2026-01-31) or RFC 3339 text."""
    t = text.strip()
    if t == "now":
        return datetime.now(timezone.utc).timestamp()
    try:
        seconds = float(t)
        if math.isfinite(seconds):
            return seconds
    except ValueError:
        pass
    try:
        if len(t) == 10:
            day = date.fromisoformat(t)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
        parsed = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(
            f"{flag}: not a date or time: {text!r} (give 2026-01-31, 2026-01-31T12:00:00Z, "
            "unix seconds or now)",
            2,
        ) from None
    if parsed.tzinfo is None:
        raise ReportError(f"{flag}: give a time zone (e.g. Z): {text!r}", 2)
    return parsed.timestamp()


def period(start_text: str, end_text: str) -> tuple[float, float]:
    start, end = parse_when(start_text, "--from"), parse_when(end_text, "--to")
    if end <= start:
        raise ReportError(f"--to ({end_text}) must be after --from ({start_text})", 2)
    return start, end


def build(config: Config, args: argparse.Namespace) -> compute.Report:
    """The report ``args`` ask for (ReportError when it cannot be made)."""
    start, end = period(args.start, args.end)
    if args.prometheus_url:
        try:
            url = check_url(args.prometheus_url)
        except ValueError as exc:
            raise ReportError(f"--prometheus-url: {exc}", 2) from None
        config = replace(config, prometheus=replace(config.prometheus, url=url))
    experiments: list[Experiment] = []
    notes: list[str] = []
    if args.by in ("experiment", "pi"):
        experiments, notes = gather.load_experiments(config, start, end)
    cuts = [t for e in experiments for t in (e.start, e.end) if t is not None]
    try:
        got = gather.gather(config, start, end, args.source, cuts)
    except SourceError as exc:
        raise ReportError(str(exc)) from exc
    unassigned = None
    if args.by in ("experiment", "pi"):
        matcher = Matcher(experiments, config.experiments.instruments)
        groups, unassigned = compute.by_experiment(got.intervals, experiments, matcher, args.by)
        if matcher.unmapped_instruments:
            notes.append(
                "instruments with no machine types in experiments.instruments (their experiments "
                f"get nothing): {', '.join(matcher.unmapped_instruments)}"
            )
    else:
        groups = compute.by_labels(got.intervals, args.by)
    expected, present = got.windows
    if expected == 0:
        raise ReportError(
            f"the period holds no whole window of {got.window_seconds:g} s: widen --from/--to",
            2,
        )
    if present == 0:
        raise ReportError(
            f"none of the {expected} windows of this period is in {got.origin}: backfill "
            "them, or use --source raw (windows must end on whole multiples of the window)"
        )
    result = compute.table(groups, args.by, args.top, unassigned)
    if result.total.busy_seconds + result.total.idle_seconds == 0:
        notes.append("no CPU usage found in this period")
    return compute.Report(
        start=start,
        end=end,
        by=args.by,
        source=got.source,
        origin=got.origin,
        window_seconds=got.window_seconds,
        windows_expected=got.windows[0],
        windows_present=got.windows[1],
        table=result,
        equivalents=tuple(most_relatable(compute.grams(result.total))),
        reason=got.reason,
        notes=(*got.notes, *notes),
    )


def run(args: argparse.Namespace, config: Config) -> str:
    """The rendered report for parsed ``args``; ReportError when it cannot be made."""
    return render(build(config, args), args.format)


def _top(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The ``report`` subcommand and its flags."""
    p = sub.add_parser(
        "report",
        help="energy and carbon over a period, by facility, project, group, user, experiment or PI",
        description=DESCRIPTION,
        epilog="examples:\n"
        "  ada-carbon-exporter report --from 2026-01-01 --to 2026-02-01 --by group --top 10\n"
        "  ada-carbon-exporter report --from 2026-01-01 --to 2026-02-01 --by user --format csv\n"
        "  ada-carbon-exporter report --from 2026-01-01 --to now --by experiment --format json\n"
        "\nA period (FROM, TO] counts the windows ending after FROM up to TO. Exit status: 0 "
        "done, 1 an upstream failed, 2 bad arguments.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(p)
    when = "a UTC date (2026-01-31), RFC 3339 (2026-01-31T12:00:00Z), unix seconds or now"
    p.add_argument("--from", dest="start", required=True, metavar="DATE", help=f"start: {when}")
    p.add_argument("--to", dest="end", required=True, metavar="DATE", help="end, the same forms")
    p.add_argument(
        "--by",
        choices=tuple(compute.KEYS),
        default="group",
        help="one row per facility, cloud project, group (project and machine type, the "
        "default), user, experiment or PI (principal investigator)",
    )
    p.add_argument(
        "--top",
        type=_top,
        default=10,
        metavar="N",
        help="rows to show, biggest emitters first; the rest are summed as 'other' "
        "(default 10; 0 shows all)",
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    p.add_argument(
        "--prometheus-url",
        metavar="URL",
        help="Prometheus to query (default: prometheus.url of the config, or $PROMETHEUS_URL)",
    )
    p.add_argument(
        "--source",
        choices=gather.SOURCES,
        default="auto",
        help="auto (default): the exporter's series if Prometheus has any for the period, "
        "else raw data; exporter: fail without them; raw: always recompute from raw data",
    )
