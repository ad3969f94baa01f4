"""Serve ``/metrics`` until SIGTERM or SIGINT: the exporter itself, run without a subcommand."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from prometheus_client.registry import CollectorRegistry

from exporter import __version__
from exporter.collectors import AdaCarbonCollector
from exporter.config import Config
from exporter.refresh import Refresh
from exporter.web.basic_auth import BasicAuth
from exporter.web.config import WebConfig
from exporter.web.server import make_app, make_http_server

log = logging.getLogger("exporter")


def run(config: Config, listen: str, engine: Refresh, description: str, web: WebConfig) -> int:
    """Serve until stopped; 0 after a signal, 1 if the address cannot be listened on."""
    registry = CollectorRegistry()
    registry.register(
        AdaCarbonCollector(engine.snapshot, config.min_refresh_interval_seconds, config.budgets)
    )
    auth = BasicAuth(web.users) if web.users else None
    try:
        server = make_http_server(listen, make_app(registry, description, auth), web.tls)
    except (OSError, ValueError) as exc:
        print(f"ada-carbon-exporter: cannot listen on {listen}: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        # `make` passes its SIGTERM on, so a second signal can come while the first is
        # handled, or while Python exits: it is ignored. Nothing is logged here, where a
        # signal could land inside a log call.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
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
    finally:
        server.server_close()
    log.info("shutting down")
    return 0
