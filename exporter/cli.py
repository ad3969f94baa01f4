"""Command line: run the exporter, check a config, or run a subcommand of
:mod:`exporter.commands` (snapshot, backfill, calculate, report)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from exporter import __version__
from exporter.commands import CommandError, backfill, calculate, snapshot
from exporter.commands.report import command as report
from exporter.config import Config, ConfigError, load, scrub, scrub_logs, with_demo
from exporter.web.config import WebConfig, load_web_config
from exporter.web.healthcheck import DEFAULT_LISTEN, LISTEN_ENV, listen_address

DEFAULT_CONFIG = "exporter.yaml"

DESCRIPTION = """\
Prometheus exporter for the STFC Ada platform: how much energy and carbon each
user, machine type and facility used over a trailing window. On each scrape it
reads CPU-seconds from Prometheus (node_cpu_seconds_total), workspace ownership
from MongoDB and UK grid carbon intensity from the Carbon Intensity API, then
serves gauges on /metrics.
"""
EPILOG = """\
examples (--demo: the built-in simulated fleet, no upstreams needed):
  ada-carbon-exporter --demo
  ada-carbon-exporter --config.file=exporter.yaml --web.listen-address=:9877
  ada-carbon-exporter --config.check              validate the config and exit
  ada-carbon-exporter --demo snapshot --at 2026-01-31T12:00:00Z    one past window, printed
  ada-carbon-exporter --demo backfill --from 2026-01-01 --to 2026-01-08 -o w.om
  ada-carbon-exporter --demo calculate --busy-seconds 1000 --idle-seconds 5000 --intensity 185
  ada-carbon-exporter --demo report --from 2026-01-01 --to 2026-01-08 --by group

environment: PROMETHEUS_URL, MONGO_URI, MONGO_DATABASE override the config;
USE_FAKE_PROMETHEUS, USE_FAKE_MONGODB, USE_FAKE_CARBON_INTENSITY=true replace one
source by the demo; PROMETHEUS_BEARER_TOKEN, PROMETHEUS_PASSWORD, MONGO_PASSWORD
carry secrets; WEB_LISTEN_ADDRESS is the default of --web.listen-address, and where
the container's health check asks.
"""


def _common(parser: argparse.ArgumentParser, defaults: bool = False) -> None:
    # Subcommands take the same flags; argparse.SUPPRESS keeps a flag given before
    # the subcommand from being reset by the subparser's default.
    def d(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

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
    # allow_abbrev=False everywhere: a mistyped flag (--web.listen=:9999) is refused,
    # as Prometheus' own flags are, not taken for the flag it begins.
    parser = argparse.ArgumentParser(
        prog="ada-carbon-exporter",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
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
    for command in (snapshot, backfill, calculate, report):
        command.add_parser(sub, _common)
    return parser


def load_config(args: argparse.Namespace) -> Config:
    path = args.config_file
    if path is None and Path(DEFAULT_CONFIG).exists():
        path = DEFAULT_CONFIG
    config = load(path)
    return with_demo(config) if args.demo else config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper().replace("WARN", "WARNING")),
        format="%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
    )
    # httpx logs every request at INFO, URL included (with any credentials written in it).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = load_config(args)
        urls = [u for u in [getattr(args, "prometheus_url", None)] if u]  # report's
        scrub_logs(config, *urls)  # before any client can raise a secret into a log line
        web = load_web_config(args.web_config_file)
    except ConfigError as exc:
        print(f"ada-carbon-exporter: {exc}", file=sys.stderr)
        return 2
    if args.config_check:
        from exporter.sources.build import describe_sources

        print(f"configuration OK: {describe_sources(config)}; web: {web.describe()}")
        return 0
    try:
        return run(args, config, web)
    except CommandError as exc:  # its text may quote an upstream's error, so scrubbed too
        print(
            f"ada-carbon-exporter {args.command}: {scrub(config, str(exc), *urls)}", file=sys.stderr
        )
        return exc.code


def run(args: argparse.Namespace, config: Config, web: WebConfig) -> int:
    """Run the subcommand ``args`` name, or serve /metrics without one."""
    if args.command == "calculate":
        sys.stdout.write(calculate.run(args, config))
        return 0
    if args.command == "report":
        sys.stdout.write(report.run(args, config))
        return 0
    from exporter.commands import serve
    from exporter.sources.build import build_refresh, describe_sources  # the clients lazily

    engine = build_refresh(config)
    try:
        if args.command == "snapshot":
            return snapshot.run(engine, args)
        if args.command == "backfill":
            return backfill.run(engine, args)
        return serve.run(config, args.listen, engine, describe_sources(config), web)
    finally:
        engine.close()
