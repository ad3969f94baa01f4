"""``ada-carbon-exporter report``: the command line, from arguments to rendered text.

Parses the period, gathers usage (:mod:`.gather`), sums it by the chosen key
(:mod:`.compute`) and renders it (:mod:`.render`). Every failure is one
:class:`~exporter.commands.CommandError` line.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import replace

from exporter.attribution.experiments import NO_EXPERIMENT, Experiment, Matcher
from exporter.commands import TIME_FORMS, CommandError, add_tz
from exporter.commands.report import compute, gather, periods
from exporter.commands.report.render import FORMATS, render
from exporter.config import Config, check_url
from exporter.equivalencies import most_relatable
from exporter.model import UNATTRIBUTED, SourceError, Usage

DESCRIPTION = """\
Energy and carbon of Ada workspaces over a period, by facility, cloud project,
group, user, experiment, PI or workspace: busy and idle CPU time and energy (kWh),
carbon, the effective grid intensity (grams / kWh), each row's share, and everyday
equivalents of the total.

Reads the exporter's own series from Prometheus, one sample per window
(ada_carbon_window_seconds), so windows never overlap. Where those series are
absent for the period, usage is computed from raw node_cpu_seconds_total and
MongoDB, window by window, as backfill does, and the output says so. Reports by
workspace are always computed so (the exporter's series are per user).
"""
PERIOD_RULE = """\
The period rule: a period (FROM, TO] counts the windows ending after FROM up to
and including TO; windows end on whole multiples of the window (1h: on the hour,
UTC). The header shows the time those windows cover, and the period typed when
it differs; a period in which no window ends is refused (exit 2). Dates are
midnight in --tz. --every cuts the period at the calendar days, weeks (from
Monday) or months of --tz, 23- and 25-hour days included, and each row counts
the windows ending in its part by the same rule: the rows add up to the total,
and each equals a report over just its period.\
"""
# Why a report by workspace is computed from raw data, as its output says.
BY_WORKSPACE = "reports by workspace split each user's usage between workspaces from raw data"


def build(config: Config, args: argparse.Namespace) -> compute.Report:
    """The report ``args`` ask for (CommandError when it cannot be made)."""
    start, end = periods.period(args.start, args.end, args.tz)
    by = _by(args)
    if args.prometheus_url:
        config = _with_prometheus(config, args.prometheus_url)
    spans = periods.calendar(start, end, args.tz, args.every) if args.every else []
    experiments, notes = _experiments(config, by, start, end)
    try:
        got = _gather(config, start, end, args.source, by, _cuts(experiments, spans))
    except SourceError as exc:
        raise CommandError(str(exc)) from exc
    counted = periods.counted(start, end, got.window_seconds)
    _check_present(got)
    if spans:
        result = compute.table(periods.by_period(got.intervals, spans, got.window_seconds), by, 0)
    else:
        result = _table(config, got, by, args.top, experiments, notes)
    _check_finite(result)
    if result.total.busy_seconds + result.total.idle_seconds == 0:
        notes.append("no CPU usage found in this period")
    embodied = _embodied(config, got, notes)
    return compute.Report(
        start=counted[0],
        end=counted[1],
        by=by,
        source=got.source,
        origin=got.origin,
        window_seconds=got.window_seconds,
        windows_expected=got.windows[0],
        windows_present=got.windows[1],
        table=result,
        equivalents=tuple(most_relatable(compute.grams(result.total))),
        reason=got.reason,
        notes=(*got.notes, *notes),
        embodied=embodied,
        method=got.method,
        tz=args.tz,
        asked=None if counted == (start, end) else (start, end),
    )


def _table(
    config: Config,
    got: gather.Gathered,
    by: str,
    top: int,
    experiments: list[Experiment],
    notes: list[str],
) -> compute.Table:
    """The rows by a key of --by: the top N, the rest summed, and what no key took."""
    unassigned, rest = None, NO_EXPERIMENT
    if by in ("experiment", "pi"):
        groups, unassigned = _by_experiment(config, got, experiments, by, notes)
    elif by == "workspace":
        groups, unassigned = compute.by_workspace(got.intervals)
        rest = UNATTRIBUTED
    else:
        groups = compute.by_labels(got.intervals, by)
    return compute.table(groups, by, top, unassigned, rest)


def _experiments(
    config: Config, by: str, start: float, end: float
) -> tuple[list[Experiment], list[str]]:
    """The experiments a report by experiment or PI shares usage between, and notes on them."""
    if by in ("experiment", "pi"):
        return gather.load_experiments(config, start, end)
    return [], []


def _cuts(experiments: list[Experiment], spans: list[tuple[str, float, float]]) -> list[float]:
    """Where query pieces are cut: where experiments start and end, and the calendar's bounds."""
    dates = [t for e in experiments for t in (e.start, e.end) if t is not None]
    return [*dates, *(b for _, _, b in spans)]


def _by(args: argparse.Namespace) -> str:
    """What a row is: a calendar period of --every, or a key of --by (default: group)."""
    if args.every and args.by:
        raise CommandError(
            "--every and --by: give one (--every gives one row per calendar period, "
            "--by one row per facility, project, group, user, ...)",
            2,
        )
    return str(args.every or args.by or "group")


def _gather(
    config: Config, start: float, end: float, source: str, by: str, cuts: list[float]
) -> gather.Gathered:
    """The period's usage; by workspace, computed from raw data with the split by workspace."""
    if by != "workspace":
        return gather.gather(config, start, end, source, cuts)
    if source == "exporter":
        raise CommandError(f"--source exporter: {BY_WORKSPACE}: use --source raw or auto", 2)
    return gather.from_raw(replace(config, workspace_usage=True), start, end, BY_WORKSPACE)


def _embodied(config: Config, got: gather.Gathered, notes: list[str]) -> bool:
    """Whether the report shows embodied emissions: when a model is configured."""
    if config.embodied and got.source != "raw":
        notes.append(
            "embodied emissions as the exporter served them: windows served without a "
            "model count none (--source raw computes them with today's models)"
        )
    return bool(config.embodied)


def _check_present(got: gather.Gathered) -> None:
    """Refuse a period none of whose windows the source has."""
    expected, present = got.windows
    if present == 0:
        raise CommandError(
            f"none of the {expected} windows of this period is in {got.origin}: backfill "
            "them, or use --source raw (windows must end on whole multiples of the window)"
        )


def _check_finite(table: compute.Table) -> None:
    """Refuse a table with a number that is not finite: finite values can sum past 1e308."""
    rows = [*table.rows, *(r for r in (table.other, table.unassigned) if r is not None)]
    for usage in [table.total, *(row.usage for row in rows)]:
        numbers = [*usage, *compute.kwh(usage), compute.intensity(usage) or 0.0]
        if not all(map(math.isfinite, numbers)):
            raise CommandError(
                "a total of this period is not a finite number: the usage read is too large "
                "to add up (values near 1e308)"
            )


def _with_prometheus(config: Config, url: str) -> Config:
    try:
        checked = check_url(url)
    except ValueError as exc:
        raise CommandError(f"--prometheus-url: {exc}", 2) from None
    return replace(config, prometheus=replace(config.prometheus, url=checked))


def _by_experiment(
    config: Config, got: gather.Gathered, experiments: list[Experiment], by: str, notes: list[str]
) -> tuple[dict[tuple[str, ...], Usage], Usage]:
    """Usage per experiment or PI, and what no experiment matched; notes what was unmapped."""
    matcher = Matcher(experiments, config.experiments.instruments)
    groups, unassigned = compute.by_experiment(got.intervals, experiments, matcher, by)
    if matcher.unmapped_instruments:
        notes.append(
            "instruments with no machine types in experiments.instruments (their experiments "
            f"get nothing): {', '.join(matcher.unmapped_instruments)}"
        )
    return groups, unassigned


def run(args: argparse.Namespace, config: Config) -> str:
    """The rendered report for parsed ``args``; CommandError when it cannot be made."""
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
        help="energy and carbon over a period, by facility, project, group, user, experiment, "
        "PI or workspace",
        description=DESCRIPTION,
        epilog="examples:\n"
        "  ada-carbon-exporter report --from 2026-01-01 --to 2026-02-01 --by group --top 10\n"
        "  ada-carbon-exporter report --from 2026-01-01 --to 2026-02-01 --by user --format csv\n"
        "  ada-carbon-exporter report --from 2026-01-01 --to now --by experiment --format json\n"
        "  ada-carbon-exporter report --from 2026-01-01 --to 2026-01-08 --by workspace --top 0\n"
        "  ada-carbon-exporter report --from 2026-10-01 --to 2026-11-01 --tz Europe/London "
        "--every day\n"
        f"\n{PERIOD_RULE}\n\nExit status: 0 done, 1 an upstream failed, 2 bad arguments.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    common(p)
    p.add_argument(
        "--from", dest="start", required=True, metavar="DATE", help=f"start: {TIME_FORMS}"
    )
    p.add_argument("--to", dest="end", required=True, metavar="DATE", help="end, the same forms")
    add_tz(p)
    p.add_argument(
        "--by",
        choices=tuple(compute.KEYS),
        default=None,
        help="one row per facility, cloud project, group (project and machine type, the "
        "default), user, experiment, PI (principal investigator) or workspace (computed from "
        "raw data; time nobody held a host is one 'unattributed' row)",
    )
    p.add_argument(
        "--every",
        choices=periods.EVERY,
        default=None,
        help="instead of --by, one row per calendar day, week or month of --tz, in order, "
        "with the hours it counts (--top does not apply)",
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
        "else raw data; exporter: fail without them (and with --demo, which has no "
        "Prometheus); raw: always recompute from raw data",
    )
