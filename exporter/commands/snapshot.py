"""``ada-carbon-exporter snapshot``: one past window, printed as a scrape would serve it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from exporter.collectors import AdaCarbonCollector
from exporter.commands import TIME_FORMS, add_tz, time_flag
from exporter.refresh import Refresh


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The ``snapshot`` subcommand and its flags."""
    p = sub.add_parser(
        "snapshot",
        help="print the exposition for the window ending at a given time",
        description="Compute one window exactly as a scrape would, ending at --at, "
        "and print it in the Prometheus text format.",
        allow_abbrev=False,
    )
    common(p)
    p.add_argument(
        "--at",
        required=True,
        metavar="TIME",
        help=f"end of the window: {TIME_FORMS} (now: less prometheus.query_offset, as a scrape)",
    )
    add_tz(p)


def run(engine: Refresh, args: argparse.Namespace) -> int:
    """Print the window ending at ``--at``; exit 1 if a source failed for it."""
    # "now" is the window a scrape would serve now: ending query_offset ago.
    at = None if args.at.strip() == "now" else time_flag("--at", args.at, args.tz)
    snap = engine.snapshot(at)
    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(lambda: snap, budgets=engine.config.budgets))
    sys.stdout.write(generate_latest(registry).decode())
    # Printed either way (source_up says what failed), but a script must notice.
    return 0 if all(s.up for s in snap.sources.values()) else 1
