"""``ada-carbon-exporter backfill``: past windows as timestamped OpenMetrics for
``promtool tsdb create-blocks-from openmetrics``.

Each window is computed by :meth:`Refresh.snapshot`, the code path of a scrape
and of ``snapshot --at``; its samples are stamped with the window's end. Only
the families that describe the platform are written (usage, energy, emissions,
grid intensity, workspaces), and the equivalency constants that dashboards divide
emissions by; the exporter's own health families describe a refresh, not history,
and are left out.

A window without usage (an upstream failed for it) is reported as it fails. When
every upstream failed for a window, or :data:`STOP_AFTER` windows in a row had no
usage, the upstreams are down, not one window's data: the command stops there
rather than wait out every window's timeouts, and writes nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from exporter.collectors import families
from exporter.commands import (
    TIME_FORMS,
    CommandError,
    Progress,
    add_tz,
    time_flag,
    window_ends,
)
from exporter.config.values import duration
from exporter.model import Snapshot
from exporter.refresh import Refresh

log = logging.getLogger("exporter")
STOP_AFTER = 3  # windows in a row without usage before the upstreams count as down
HISTORY_FAMILIES = frozenset(
    {
        "ada_carbon_cpu_seconds",
        "ada_carbon_energy_joules",
        "ada_carbon_emissions_grams",
        "ada_carbon_window_seconds",
        "ada_carbon_grid_intensity_gco2_per_kwh",
        "ada_carbon_grid_intensity_window_mean_gco2_per_kwh",
        "ada_carbon_grid_intensity_source",
        "ada_carbon_grid_intensity_actual_ratio",
        "ada_carbon_workspaces",
        "ada_carbon_equivalency_grams",  # read at a panel's times, backfilled ones too
        "ada_carbon_embodied_grams",
        "ada_carbon_power_watts",
        "ada_carbon_emission_rate_grams_per_second",
        "ada_carbon_power_model_info",
    }
)


class _History(Collector):
    """One family per name, holding the samples of every snapshot with their timestamps."""

    def __init__(self, snapshots: Iterable[Snapshot]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for snap in self._snapshots:
            for family in families(snap):
                if family.name not in HISTORY_FAMILIES:
                    continue
                target = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                target.samples += [
                    Sample(s.name, s.labels, s.value, snap.end) for s in family.samples
                ]
        yield from merged.values()


def backfill(snapshots: Iterable[Snapshot]) -> bytes:
    """OpenMetrics text (ending in ``# EOF``) for these snapshots, stamped with their ends.

    ``snapshots`` is usually ``Refresh.history(ends)``, consumed one window at a time.
    """
    # prometheus_client's OpenMetrics encoder is untyped; it returns bytes.
    text: bytes = generate_latest(_History(snapshots))  # type: ignore[no-untyped-call]
    return text


def checked(
    snapshots: Iterable[Snapshot], progress: Progress, failed: list[str]
) -> Iterator[Snapshot]:
    """The snapshots; each window without usage is logged as it fails and added to ``failed``.

    Raises CommandError when the upstreams are down (see the module's docstring).
    """
    in_a_row = 0
    for done, snap in enumerate(snapshots, 1):
        in_a_row = 0 if snap.usage is not None else in_a_row + 1
        if snap.usage is None:
            down = [s for s, st in snap.sources.items() if not st.up]
            end = datetime.fromtimestamp(snap.end, timezone.utc).isoformat()
            failed.append(end)
            progress.clear()
            log.warning(
                "no usage written for the window ending %s (%s failed)", end, ", ".join(down)
            )
            if len(down) == len(snap.sources) or in_a_row == STOP_AFTER:
                every = len(down) == len(snap.sources)
                why = "every upstream failed" if every else f"{in_a_row} windows in a row failed"
                raise CommandError(
                    f"stopped at the window ending {end}: {why} ({', '.join(down)} down); "
                    "nothing written"
                )
        yield snap
        progress(done)


def _check(args: argparse.Namespace, start: datetime, end: datetime, window: timedelta) -> None:
    """Refuse what would waste the run or write windows nobody can use; warn of the rest."""
    step = args.step or window
    if step != window:
        how = (
            "overlap, so summing them counts some usage twice"
            if step < window
            else "leave gaps, so summing them misses some usage"
        )
        _warn(f"--step {step} is not the window ({window}): the windows {how}")
    if end <= start:
        raise CommandError(f"--to ({args.end}) must be after --from ({args.start})", 2)
    if end > datetime.now(timezone.utc):
        raise CommandError(f"--to {end.isoformat()} is in the future: no data there yet", 2)
    if args.output != "-":
        try:  # opened now, so a month of windows is not computed for nothing
            with open(args.output, "ab"):
                pass
        except OSError as exc:
            raise CommandError(f"cannot write --output {args.output}: {exc.strerror}", 2) from None


def _warn(text: str) -> None:
    print(f"ada-carbon-exporter backfill: {text}", file=sys.stderr)


def ends(args: argparse.Namespace, window: timedelta) -> list[datetime]:
    """The ends of the windows to write: the multiples of --step in (--from, --to], as report
    counts them; CommandError when the arguments are unusable."""
    start = time_flag("--from", args.start, args.tz)
    end = time_flag("--to", args.end, args.tz)
    _check(args, start, end, window)
    step = (args.step or window).total_seconds()
    out = window_ends(start.timestamp(), end.timestamp(), step)
    if not out:
        raise CommandError(
            f"no window ends in ({start.isoformat()}, {end.isoformat()}]: windows end on whole "
            f"multiples of --step ({timedelta(seconds=step)}); widen --from/--to",
            2,
        )
    return [datetime.fromtimestamp(t, timezone.utc) for t in out]


def run(engine: Refresh, args: argparse.Namespace) -> int:
    """Write the backfill; exit 1 if any window lacked usage (an upstream failed for it)."""
    todo = ends(args, timedelta(seconds=engine.config.window_seconds))
    failed: list[str] = []
    text = backfill(
        checked(engine.history(todo), Progress("backfill", "windows", len(todo)), failed)
    )
    if args.output == "-":
        sys.stdout.write(text.decode())
    else:
        Path(args.output).write_bytes(text)
    log.info("backfill: %d windows, %d without usage", len(todo), len(failed))
    return 1 if failed else 0


_STEP = duration(1, 31 * 86400)  # as a window may be, at most; longer overflows a date


def _step(value: str) -> timedelta:
    """A duration such as 1h or 900s, from 1s to 31d."""
    try:
        return timedelta(seconds=_STEP(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The ``backfill`` subcommand and its flags."""
    p = sub.add_parser(
        "backfill",
        help="write past windows as OpenMetrics for promtool tsdb create-blocks-from openmetrics",
        description="Compute the windows ending in (--from, --to], on whole multiples of "
        "--step (as report counts them: --from 2026-01-01 --to 2026-01-02 is the 24 hours of "
        "that day), exactly as scrapes would have (grid intensity from each window's own half "
        "hours), and write them "
        "as timestamped OpenMetrics. Load with: promtool tsdb create-blocks-from openmetrics "
        "FILE DATA_DIR, then move the blocks into Prometheus' data directory. A window an "
        f"upstream failed for is reported as it fails; when every upstream failed, or {STOP_AFTER} "
        "windows in a row, the command stops with exit status 1 and writes nothing.",
        allow_abbrev=False,
    )
    common(p)
    p.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="TIME",
        help=f"start of the period, not included: {TIME_FORMS}",
    )
    p.add_argument(
        "--to",
        dest="end",
        required=True,
        metavar="TIME",
        help="end of the period, included, the same forms",
    )
    p.add_argument(
        "--step",
        default=None,
        type=_step,
        metavar="DURATION",
        help="time between windows (default: the configured window, 1h unless "
        "changed, so that windows neither overlap nor leave gaps)",
    )
    p.add_argument(
        "--output",
        "-o",
        default="-",
        metavar="FILE",
        help="where to write (default: standard output)",
    )
    add_tz(p)
