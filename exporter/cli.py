"""Command line: run the exporter, check a config, print or backfill windows, calculate, report."""

from __future__ import annotations

import argparse
import ctypes
import gc
import logging
import os
import signal
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from prometheus_client.registry import CollectorRegistry

from exporter import __version__, calculate
from exporter.collector import AdaCarbonCollector
from exporter.config import Config, ConfigError, load, parse_duration, with_demo
from exporter.exposition import encode
from exporter.healthcheck import DEFAULT_LISTEN, LISTEN_ENV, listen_address
from exporter.report import ReportError
from exporter.report import command as report_command
from exporter.webconfig import WebConfig, load_web_config

if TYPE_CHECKING:
    from exporter.model import Snapshot

DEFAULT_CONFIG = "exporter.yaml"
log = logging.getLogger("exporter")

DESCRIPTION = """\
Prometheus exporter for the STFC Ada platform: how much energy and carbon each
user, machine type and facility used over a trailing window. On each scrape it
reads CPU-seconds from Prometheus (node_cpu_seconds_total), workspace ownership
from MongoDB and UK grid carbon intensity from the Carbon Intensity API, then
serves gauges on /metrics.
"""
EPILOG = """\
examples:
  ada-carbon-exporter --demo                      built-in simulated fleet, no upstreams needed
  ada-carbon-exporter --config.file=exporter.yaml --web.listen-address=:9877
  ada-carbon-exporter --config.check              validate the config and exit
  ada-carbon-exporter snapshot --at 2026-01-31T12:00:00Z   one past window, printed
  ada-carbon-exporter backfill --from 2025-03-01T01:00:00Z --to 2025-04-01T00:00:00Z -o m.om
  ada-carbon-exporter calculate --busy-seconds 1000 --idle-seconds 5000 --intensity 185
  ada-carbon-exporter report --from 2026-01-01 --to 2026-02-01 --by group

environment: PROMETHEUS_URL, MONGO_URI, MONGO_DATABASE override the config;
USE_FAKE_PROMETHEUS, USE_FAKE_MONGODB, USE_FAKE_CARBON_INTENSITY=true replace one
source by the demo; PROMETHEUS_BEARER_TOKEN, PROMETHEUS_PASSWORD, MONGO_PASSWORD
carry secrets; WEB_LISTEN_ADDRESS is the default of --web.listen-address, and where
the container's health check asks.
"""


def _common(parser: argparse.ArgumentParser, defaults: bool) -> None:
    # Subcommands take the same flags; argparse.SUPPRESS keeps a flag given before
    # the subcommand from being reset by the subparser's default.
    d = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
    parser.add_argument(
        "--config.file",
        dest="config_file",
        metavar="FILE",
        default=d(None),
        help=f"YAML configuration (default: {DEFAULT_CONFIG} if it exists, else built-in defaults)",
    )
    parser.add_argument(
        "--log.level",
        dest="log_level",
        default=d("info"),
        choices=["debug", "info", "warn", "error"],
        help="log verbosity (default: info)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        default=d(False),
        help="replace Prometheus, MongoDB and the intensity API by a simulated Ada fleet",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ada-carbon-exporter",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, defaults=True)
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        default=listen_address(),
        metavar="ADDR",
        help=f"address to serve /metrics on (default: ${LISTEN_ENV} if set, else {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="FILE",
        help="TLS and basic auth for every path, in the Prometheus exporter-toolkit format "
        "(tls_server_config, basic_auth_users with bcrypt hashes); checked at start",
    )
    parser.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="check the configuration, print the effective sources and exit (non-zero if invalid)",
    )
    parser.add_argument("--version", action="version", version=f"ada-carbon-exporter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    snap = sub.add_parser(
        "snapshot",
        help="print the exposition for the window ending at a given time",
        description="Compute one window exactly as a scrape would, ending at --at, "
        "and print it in the Prometheus text format.",
    )
    _common(snap, defaults=False)
    snap.add_argument(
        "--at",
        required=True,
        type=parse_time,
        metavar="TIME",
        help="end of the window, RFC 3339 (e.g. 2026-01-31T12:00:00Z) or unix seconds",
    )
    fill = sub.add_parser(
        "backfill",
        help="write past windows as OpenMetrics for promtool tsdb create-blocks-from openmetrics",
        description="Compute the windows ending at --from, --from+--step, ... --to, exactly as "
        "scrapes would have (grid intensity from each window's own half hours), and write them "
        "as timestamped OpenMetrics. Load with: promtool tsdb create-blocks-from openmetrics "
        "FILE DATA_DIR, then move the blocks into Prometheus' data directory.",
    )
    _common(fill, defaults=False)
    fill.add_argument(
        "--from",
        dest="start",
        required=True,
        type=parse_time,
        metavar="TIME",
        help="end of the first window, RFC 3339 or unix seconds",
    )
    fill.add_argument(
        "--to",
        dest="end",
        required=True,
        type=parse_time,
        metavar="TIME",
        help="end of the last window (included)",
    )
    fill.add_argument(
        "--step",
        default=None,
        type=parse_step,
        metavar="DURATION",
        help="time between windows (default: the configured window, 1h unless "
        "changed, so that windows neither overlap nor leave gaps)",
    )
    fill.add_argument(
        "--output",
        "-o",
        default="-",
        metavar="FILE",
        help="where to write (default: standard output)",
    )
    calculate.add_parser(sub, lambda p: _common(p, defaults=False))
    report_command.add_parser(sub, lambda p: _common(p, defaults=False))
    return parser


def parse_time(value: str) -> datetime:
    """An aware UTC datetime from RFC 3339 text or unix seconds."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    try:
        if seconds is not None:
            return datetime.fromtimestamp(seconds, timezone.utc)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise argparse.ArgumentTypeError(f"give a time zone (e.g. Z): {value!r}")
        return parsed.astimezone(timezone.utc)
    except (OverflowError, OSError):
        raise argparse.ArgumentTypeError(f"out of range: {value!r}") from None
    except ValueError:
        if seconds is not None:  # nan, or a year out of range
            raise argparse.ArgumentTypeError(f"out of range: {value!r}") from None
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {value!r}") from None


def parse_step(value: str) -> timedelta:
    """A positive duration such as 1h or 900s."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value!r}")
    return timedelta(seconds=seconds)


def load_config(args: argparse.Namespace) -> Config:
    path = args.config_file
    if path is None and Path(DEFAULT_CONFIG).exists():
        path = DEFAULT_CONFIG
    config = load(path)
    return with_demo(config) if args.demo else config


def tune_gc() -> None:
    """Make Python's cyclic garbage collector walk the whole heap far less often.

    A scrape of a large fleet builds hundreds of thousands of short-lived, acyclic
    objects (decoded JSON, documents, samples). With the default thresholds each
    burst sets off full collections that walk all of them and free nothing: a
    third of the exporter's own time at 10,000 hosts. Reference counting still
    frees everything at once; the rare cycles are still collected, less eagerly.
    """
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, 1000)


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas, as ``MALLOC_ARENA_MAX=2`` would; True if it did.

    glibc gives each thread that allocates an arena of its own, up to 8 per core,
    and memory freed in one is not reused by the others. The source threads decode
    large answers side by side (at 10,000 hosts: 8 MB of JSON a scrape), so peak RSS
    there was 246-254 MB with glibc's default and 234 MB with 2 arenas, at no cost in
    time. Call it before any thread starts. A ``MALLOC_ARENA_MAX`` in the environment
    is left to glibc; on other C libraries this does nothing.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # TypeError: Windows has no CDLL(None)
        return False
    m_arena_max = -8  # glibc's malloc.h
    return bool(mallopt(ctypes.c_int(m_arena_max), ctypes.c_int(arenas)))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_gc()
    limit_malloc_arenas()
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper().replace("WARN", "WARNING")),
        format="%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
    )
    # httpx logs every request at INFO, URL included (with any credentials written in it).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = load_config(args)
        web = load_web_config(getattr(args, "web_config_file", None))
    except ConfigError as exc:
        print(f"ada-carbon-exporter: {exc}", file=sys.stderr)
        return 2
    from exporter.sources.build import build_refresh, describe_sources  # imports the clients lazily

    if args.config_check:
        print(f"configuration OK: {describe_sources(config)}; web: {web.describe()}")
        return 0
    if args.command == "calculate":
        sys.stdout.write(calculate.run(args, config))
        return 0
    if args.command == "report":
        try:
            sys.stdout.write(report_command.run(args, config))
        except ReportError as exc:
            print(f"ada-carbon-exporter report: {exc}", file=sys.stderr)
            return exc.code
        return 0
    engine = build_refresh(config)
    try:
        if args.command == "snapshot":
            snaps: list[Snapshot] = []

            def refresh() -> Snapshot:
                snaps.append(engine.snapshot(args.at))
                return snaps[-1]

            registry = CollectorRegistry()
            registry.register(AdaCarbonCollector(refresh))
            sys.stdout.write(encode(registry, None)[0].decode())
            # Printed either way (source_up says what failed), but a script must notice.
            return 0 if all(s.up for snap in snaps for s in snap.sources.values()) else 1
        if args.command == "backfill":
            return run_backfill(engine, args)
        return serve(config, args.listen, engine, describe_sources(config), web)
    finally:
        engine.close()


def _check_backfill(args: argparse.Namespace, window: timedelta) -> None:
    """Refuse what would waste the run or write windows nobody can use (ValueError)."""
    if args.end > datetime.now(timezone.utc):
        raise ValueError(f"--to {args.end.isoformat()} is in the future: no data there yet")
    if args.output != "-":
        try:  # opened now, so a month of windows is not computed for nothing
            with open(args.output, "ab"):
                pass
        except OSError as exc:
            raise ValueError(f"cannot write --output {args.output}: {exc.strerror}") from None
    if args.start.timestamp() % window.total_seconds():
        print(
            f"ada-carbon-exporter backfill: --from {args.start.isoformat()} is not a whole "
            f"multiple of the window ({window}): report and the dashboards read windows "
            "ending on those, and will not see these",
            file=sys.stderr,
        )


def run_backfill(engine: object, args: argparse.Namespace) -> int:
    """Write the backfill; exit 1 if any window lacked usage (an upstream failed for it)."""
    from collections.abc import Iterator

    from exporter.backfill import backfill, window_ends
    from exporter.refresh import Refresh

    assert isinstance(engine, Refresh)
    window = timedelta(seconds=engine.config.window_seconds)
    step = args.step or window
    if step != window:
        how = (
            "overlap, so summing them counts some usage twice"
            if step < window
            else "leave gaps, so summing them misses some usage"
        )
        print(
            f"ada-carbon-exporter backfill: --step {step} is not the window ({window}): "
            f"the windows {how}",
            file=sys.stderr,
        )
    try:
        _check_backfill(args, window)
        ends = window_ends(args.start, args.end, step)
    except ValueError as exc:
        print(f"ada-carbon-exporter backfill: {exc}", file=sys.stderr)
        return 2
    incomplete: list[str] = []

    def checked(snapshots: Iterator[Snapshot]) -> Iterator[Snapshot]:
        for snap in snapshots:
            if snap.usage is None:
                down = [s for s, st in snap.sources.items() if not st.up]
                end = datetime.fromtimestamp(snap.end, timezone.utc).isoformat()
                incomplete.append(f"{end} ({', '.join(down)} failed)")
            yield snap

    def progress(done: int) -> None:
        if sys.stderr.isatty():
            print(f"\rbackfill: {done}/{len(ends)} windows", end="", file=sys.stderr)

    text = backfill(checked(engine.history(ends)), progress)
    if args.output == "-":
        sys.stdout.write(text.decode())
    else:
        Path(args.output).write_bytes(text)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for line in incomplete:
        log.warning("no usage written for the window ending %s", line)
    log.info("backfill: %d windows, %d without usage", len(ends), len(incomplete))
    return 1 if incomplete else 0


def serve(
    config: Config, listen: str, engine: object, description: str, web: WebConfig | None = None
) -> int:
    from exporter.basic_auth import BasicAuth
    from exporter.refresh import Refresh
    from exporter.web import make_app, make_http_server

    assert isinstance(engine, Refresh)
    web = web or WebConfig()
    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(engine.snapshot, config.min_refresh_interval_seconds))
    allows = BasicAuth(web.users).allows if web.users else None
    try:
        server = make_http_server(listen, make_app(registry, description, allows), web.tls)
    except (OSError, ValueError) as exc:
        print(f"ada-carbon-exporter: cannot listen on {listen}: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    host, port = server.server_address[:2]
    log.info(
        "ada-carbon-exporter %s listening on %s://%s:%s/metrics (%s; window %gs; %s)",
        __version__,
        "https" if web.tls else "http",
        host,
        port,
        web.describe(),
        config.window_seconds,
        description,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("shutting down")
    finally:
        server.server_close()
    return 0
